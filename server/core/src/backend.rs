//! The contract between the scheduler and a model runtime (ONNX Runtime,
//! candle, ...). Backends live in their own crates; the core only sees this.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::datatype::DataType;
use crate::error::BackendError;
use crate::model_config::ModelConfig;
use crate::tensor::Tensor;

/// Where a model instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("unknown device '{other}' (expected cpu, cuda or cuda:N)")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Name, type and shape of one model input or output. `-1` marks a dynamic
/// dimension; with batching on, the first dimension is the batch.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    #[serde(alias = "dims")]
    pub shape: Vec<i64>,
}

/// What a backend knows about the model it loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetadata {
    /// Platform string reported to clients, e.g. `onnxruntime_onnx`.
    pub platform: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Inputs of one model call, in the order of `ModelMetadata::inputs`.
#[derive(Debug, Clone)]
pub struct Batch {
    pub inputs: Vec<Tensor>,
}

/// Every output of one model call, in the order of `ModelMetadata::outputs`.
#[derive(Debug, Clone)]
pub struct BatchOutput {
    pub outputs: Vec<Tensor>,
}

/// A loaded model instance. One instance is owned by one OS thread, so
/// `infer` may take `&mut self` (as `ort::Session::run` does).
pub trait Backend: Send + 'static {
    fn metadata(&self) -> &ModelMetadata;
    /// A hard limit of the runtime itself, if it has one.
    fn max_batch_size(&self) -> Option<usize> {
        None
    }
    /// One warm-up call on the sample batch `[warmup]` in model.toml
    /// describes, so the first real request does not pay for lazy
    /// initialisation. Backends may do more.
    fn warmup(&mut self, batch: Batch) -> Result<(), BackendError> {
        self.infer(batch).map(|_| ())
    }
    fn infer(&mut self, batch: Batch) -> Result<BatchOutput, BackendError>;
}

/// Which runtime a model uses, as named in `model.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Onnx,
    Candle,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Onnx => "onnx",
            BackendKind::Candle => "candle",
        })
    }
}

/// Everything a loader needs to build one instance of one model version.
pub struct LoadRequest<'a> {
    pub model: &'a str,
    pub version: u64,
    /// The version directory, holding the model file(s).
    pub dir: &'a Path,
    pub config: &'a ModelConfig,
    pub device: Device,
}

/// Builds backend instances for one `BackendKind`. Registered by the app,
/// which is the only crate that knows the concrete runtimes.
pub trait BackendLoader: Send + Sync {
    fn kind(&self) -> BackendKind;
    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn Backend>, BackendError>;
}
