//! The model configuration extension: what Triton's `GET /v2/models/{m}/config`
//! and gRPC `ModelConfig` report, derived from model.toml and the loaded
//! model's tensors. Transports render it (JSON, protobuf); this is the one
//! place that decides its content.

use crate::model::config::{BatchingConfig, VersionPolicy};
use crate::model::spec::{BackendKind, Device, TensorSpec};
use crate::model::warmup::WarmupData;
use crate::serving::handle::ModelHandle;
use crate::tensor::datatype::DataType;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfigView {
    pub name: String,
    /// Triton's platform string, e.g. `onnxruntime_onnx`.
    pub platform: String,
    /// Triton's backend name: `onnxruntime` or `candle`.
    pub backend: &'static str,
    pub max_batch_size: usize,
    /// Dims exclude the batch dimension when `max_batch_size > 0`, as Triton's.
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub version_policy: VersionPolicy,
    /// Present when the model batches (`max_batch_size > 0`).
    pub dynamic_batching: Option<BatchingConfig>,
    /// Instances per device (Triton's instance_group count).
    pub instance_count: usize,
    pub device: Device,
    /// The GPUs the instances run on (Triton's instance_group gpus).
    pub gpus: Vec<usize>,
    pub default_model_filename: &'static str,
    pub warmup: Option<WarmupView>,
    /// Output name → its label file (Triton's `label_filename`).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `[warmup]` as Triton's `model_warmup` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupView {
    pub batch_size: usize,
    pub count: usize,
    /// Per input: datatype, dims (without the batch dimension) and data.
    pub inputs: Vec<(String, DataType, Vec<i64>, WarmupSource)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WarmupSource {
    Zero,
    Random,
    File(String),
}

impl ModelConfigView {
    /// The configuration a loaded version serves with.
    pub(crate) fn of(handle: &ModelHandle) -> ModelConfigView {
        let config = &handle.config;
        let batched = config.max_batch_size > 0;
        let without_batch = |specs: &[TensorSpec]| -> Vec<TensorSpec> {
            specs
                .iter()
                .map(|s| TensorSpec {
                    name: s.name.clone(),
                    datatype: s.datatype,
                    shape: if batched { s.shape.iter().skip(1).copied().collect() } else { s.shape.clone() },
                })
                .collect()
        };
        let inputs = without_batch(&handle.metadata.inputs);
        let warmup = config.warmup.enabled.then(|| WarmupView {
            batch_size: if batched { config.warmup.batch_size } else { 1 },
            count: config.warmup.count,
            inputs: inputs
                .iter()
                .map(|spec| {
                    let own = config.warmup.inputs.get(&spec.name);
                    let source = match (own.and_then(|i| i.file.clone()), own.and_then(|i| i.data)) {
                        (Some(file), _) => WarmupSource::File(file),
                        (None, Some(WarmupData::Random)) => WarmupSource::Random,
                        (None, Some(WarmupData::Zero)) => WarmupSource::Zero,
                        (None, None) if config.warmup.data == WarmupData::Random => WarmupSource::Random,
                        (None, None) => WarmupSource::Zero,
                    };
                    let configured = own
                        .and_then(|i| i.shape.clone())
                        .map(|shape| if batched { shape.into_iter().skip(1).collect() } else { shape });
                    let dims = configured.unwrap_or_else(|| spec.shape.iter().map(|&d| d.max(1)).collect());
                    (spec.name.clone(), spec.datatype, dims, source)
                })
                .collect(),
        });
        ModelConfigView {
            name: handle.name.clone(),
            platform: handle.metadata.platform.clone(),
            backend: match config.backend {
                BackendKind::Onnx => "onnxruntime",
                BackendKind::Candle => "candle",
            },
            max_batch_size: config.max_batch_size,
            inputs,
            outputs: without_batch(&handle.metadata.outputs),
            version_policy: config.version_policy.clone(),
            dynamic_batching: batched.then(|| config.batching.clone()),
            instance_count: config.instances.count,
            device: config.instances.device,
            gpus: config.instances.gpus(),
            default_model_filename: match config.backend {
                BackendKind::Onnx => crate::model::repository::ONNX_FILE,
                BackendKind::Candle => crate::model::repository::SAFETENSORS_FILE,
            },
            warmup,
            labels: config.labels.clone(),
        }
    }
}
