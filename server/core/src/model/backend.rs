//! The contract between the scheduler and a model runtime (ONNX Runtime,
//! candle, ...). Backends live in their own crates; the core only sees this.

use std::path::Path;

use crate::error::BackendError;
use crate::model::config::ModelConfig;
// What model.toml names, re-exported where backends have always found it.
pub use crate::model::spec::{BackendKind, Device, TensorSpec};
use crate::tensor::Tensor;

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

/// A loaded model instance. One thread at a time uses an instance (its
/// instance thread, or a request on the scheduler's idle fast path, behind
/// a lock), so `infer` may take `&mut self` (as `ort::Session::run` does).
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
