//! Which execution providers a session runs on: none beyond ONNX Runtime's
//! CPU provider for `cpu`, CUDA (after TensorRT when asked) for `cuda:N`.

use ort::session::builder::SessionBuilder;
use sluice_core::{BackendError, Device};

use crate::options::OnnxOptions;

#[cfg(feature = "cuda")]
pub fn with_device(
    builder: SessionBuilder,
    device: Device,
    options: &OnnxOptions,
) -> Result<SessionBuilder, BackendError> {
    use ort::ep::{self, ExecutionProvider};

    let Device::Cuda(ordinal) = device else {
        return Ok(builder);
    };
    // The driver's own answer first: "no driver" or "device 3 of 1" says more
    // than the provider's registration failure would.
    sluice_kernels::check_cuda_device(ordinal).map_err(|e| BackendError::Load(format!("cuda:{ordinal}: {e}")))?;
    let id = i32::try_from(ordinal).map_err(|_| BackendError::Config(format!("bad CUDA ordinal {ordinal}")))?;
    let mut cuda = ep::CUDA::default().with_device_id(id).with_cuda_graph(options.cuda_graph);
    if let Some(limit) = options.gpu_mem_limit {
        cuda = cuda.with_memory_limit(limit);
    }
    if let Some(tf32) = options.tf32 {
        cuda = cuda.with_tf32(tf32);
    }
    // `error_on_failure`: a GPU model on a host whose driver or CUDA libraries
    // are missing fails its load with ONNX Runtime's reason, instead of
    // silently running on the CPU.
    let mut providers = Vec::new();
    if options.tensorrt {
        let mut trt = ep::TensorRT::default().with_device_id(id).with_fp16(options.tensorrt_fp16);
        if let Some(dir) = &options.tensorrt_engine_cache {
            trt = trt.with_engine_cache(true).with_engine_cache_path(dir);
        }
        if !ep::TensorRT::is_available().unwrap_or(false) {
            return Err(BackendError::Load(format!(
                "tensorrt = true, but this ONNX Runtime has no TensorRT provider (cuda:{ordinal})"
            )));
        }
        providers.push(trt.build().error_on_failure());
    }
    providers.push(cuda.build().error_on_failure());
    builder.with_execution_providers(providers).map_err(|e| {
        BackendError::Load(format!(
            "cannot use CUDA device {ordinal}: {e} (GPU models need ORT_DYLIB_PATH to point at the onnxruntime-gpu \
                 library)"
        ))
    })
}

#[cfg(not(feature = "cuda"))]
pub fn with_device(builder: SessionBuilder, device: Device, _: &OnnxOptions) -> Result<SessionBuilder, BackendError> {
    match device {
        Device::Cpu => Ok(builder),
        Device::Cuda(_) => Err(BackendError::Config(format!("device {device} needs a build with `--features cuda`"))),
    }
}
