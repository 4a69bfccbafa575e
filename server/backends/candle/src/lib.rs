//! candle backend: a multi-layer perceptron described in `model.toml`, with
//! weights in `model.safetensors` (PyTorch `nn.Linear` layout: `[out, in]`).
//!
//! ```toml
//! backend = "candle"
//! [[inputs]]
//! name = "features"
//! datatype = "FP32"
//! shape = [-1, 30]
//! [[outputs]]
//! name = "probabilities"
//! datatype = "FP32"
//! shape = [-1, 2]
//! [candle]
//! # optional: standardise the input first, (x - mean) / std (sluice-trainer exports this)
//! scaler = { mean = "scaler.mean", std = "scaler.std" }
//! layers = [
//!   { weight = "fc1.weight", bias = "fc1.bias", activation = "relu" },
//!   { weight = "fc2.weight", bias = "fc2.bias", activation = "softmax" },
//! ]
//! ```

mod mlp;

use candle_core::{DType, Device as CandleDevice, Tensor as CandleTensor};
use sluice_core::model::repository::SAFETENSORS_FILE;
use sluice_core::{
    Backend, BackendError, BackendKind, BackendLoader, Batch, BatchOutput, DataType, Device, LoadRequest,
    ModelMetadata, Tensor,
};

use mlp::{Mlp, MlpSpec};

/// Loads MLPs described in `model.toml` with candle.
#[derive(Debug, Default)]
pub struct CandleLoader;

impl BackendLoader for CandleLoader {
    fn kind(&self) -> BackendKind {
        BackendKind::Candle
    }

    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn Backend>, BackendError> {
        let config = request.config;
        let spec: MlpSpec = config
            .candle
            .clone()
            .try_into()
            .map_err(|e| BackendError::Config(format!("invalid [candle] section in model.toml: {e}")))?;
        let ([input], [output]) = (config.inputs.as_slice(), config.outputs.as_slice()) else {
            return Err(BackendError::Config(
                "a candle MLP needs exactly one [[inputs]] and one [[outputs]] entry in model.toml".into(),
            ));
        };
        let dtype = dtype_of(input.datatype)?;
        if output.datatype != input.datatype {
            return Err(BackendError::Config(format!(
                "input is {} but output is {}; a candle MLP computes in one type",
                input.datatype, output.datatype
            )));
        }
        let device = candle_device(request.device)?;
        let path = request.dir.join(SAFETENSORS_FILE);
        let mlp = Mlp::load(&path, &spec, dtype, &device)?;
        let (in_features, out_features) = mlp.features();
        if input.shape.last() != Some(&(in_features as i64)) || output.shape.last() != Some(&(out_features as i64)) {
            return Err(BackendError::Load(format!(
                "{} maps {in_features} features to {out_features}, but model.toml declares input {:?} and output {:?}",
                path.display(),
                input.shape,
                output.shape
            )));
        }
        Ok(Box::new(CandleBackend {
            mlp,
            device,
            dtype,
            metadata: ModelMetadata {
                platform: "candle".into(),
                inputs: vec![input.clone()],
                outputs: vec![output.clone()],
            },
        }))
    }
}

fn dtype_of(datatype: DataType) -> Result<DType, BackendError> {
    match datatype {
        DataType::Fp32 => Ok(DType::F32),
        DataType::Fp64 => Ok(DType::F64),
        DataType::Fp16 => Ok(DType::F16),
        DataType::Bf16 => Ok(DType::BF16),
        other => Err(BackendError::Config(format!("a candle MLP takes FP32, FP64, FP16 or BF16 input, not {other}"))),
    }
}

fn candle_device(device: Device) -> Result<CandleDevice, BackendError> {
    match device {
        Device::Cpu => Ok(CandleDevice::Cpu),
        #[cfg(feature = "candle-cuda")]
        Device::Cuda(n) => {
            // The driver's own answer first ("device 3 of 1"), as for ONNX models.
            sluice_kernels::check_cuda_device(n).map_err(|e| BackendError::Load(format!("cuda:{n}: {e}")))?;
            CandleDevice::new_cuda(n)
                .map_err(|e| BackendError::Load(format!("cannot open CUDA device {n}: {}", without_backtrace(&e))))
        }
        #[cfg(not(feature = "candle-cuda"))]
        Device::Cuda(_) => {
            Err(BackendError::Config(format!("device {device} needs a build with `--features candle-cuda`")))
        }
    }
}

/// candle's message without the backtrace it attaches when RUST_BACKTRACE
/// is set: a load failure's reason is shown in the repository index.
pub(crate) fn without_backtrace(error: &candle_core::Error) -> String {
    match error {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(inner),
        other => other.to_string(),
    }
}

struct CandleBackend {
    mlp: Mlp,
    device: CandleDevice,
    dtype: DType,
    metadata: ModelMetadata,
}

impl CandleBackend {
    fn run(&self, input: &Tensor) -> candle_core::Result<Vec<u8>> {
        let x = CandleTensor::from_raw_buffer(&input.data, self.dtype, &input.shape, &self.device)?;
        let y = self.mlp.forward(&x)?.flatten_all()?;
        Ok(match self.dtype {
            DType::F64 => y.to_vec1::<f64>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::F16 => y.to_vec1::<half::f16>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::BF16 => y.to_vec1::<half::bf16>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
            _ => y.to_vec1::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
    }
}

impl Backend for CandleBackend {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn infer(&mut self, batch: Batch) -> Result<BatchOutput, BackendError> {
        let input = batch.inputs.first().ok_or_else(|| BackendError::Run("no input tensor in the batch".into()))?;
        let data =
            self.run(input).map_err(|e| BackendError::Run(format!("candle failed: {}", without_backtrace(&e))))?;
        let (_, out_features) = self.mlp.features();
        let mut shape = input.shape.clone();
        if let Some(last) = shape.last_mut() {
            *last = out_features;
        }
        let output = &self.metadata.outputs[0];
        Ok(BatchOutput { outputs: vec![Tensor::new(output.name.clone(), output.datatype, shape, data.into())] })
    }
}
