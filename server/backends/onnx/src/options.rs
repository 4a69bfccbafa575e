//! The `[onnx]` section of `model.toml`: ONNX Runtime's threads, and how a
//! GPU instance runs (CUDA's memory arena, TensorRT, CUDA graphs, IO binding).
//!
//! ```toml
//! [onnx]
//! intra_op_threads = 1
//! allow_spinning = false
//! gpu_mem_limit = 2_147_483_648    # bytes; CUDA's arena stops growing here
//! tensorrt = true                  # TensorRT first, CUDA for what it cannot run
//! tensorrt_fp16 = true
//! tensorrt_engine_cache = "/var/cache/sluice/trt"
//! cuda_graph = true                # fixed shapes only (max_batch_size = 0)
//! tf32 = false                     # exact FP32 MatMul/Conv (ONNX Runtime's default: TF32 on)
//! io_binding = true                # default: on for GPU instances, off on CPU
//! ```

use sluice_core::{BackendError, Device, ModelConfig};

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxOptions {
    pub intra_op_threads: Option<usize>,
    pub inter_op_threads: Option<usize>,
    /// Whether ONNX Runtime's pool threads spin waiting for work between
    /// runs. Off by default: spinning buys a few microseconds of latency
    /// with more than one intra-op thread and burns CPU whenever the load
    /// is light (ONNX Runtime's own default is on).
    pub allow_spinning: Option<bool>,
    /// Bind inputs and outputs (see io_binding.rs) instead of passing values.
    pub io_binding: Option<bool>,
    // What follows only means something on a CUDA device.
    /// Bytes ONNX Runtime's CUDA memory arena may grow to.
    pub gpu_mem_limit: Option<usize>,
    /// Register TensorRT before CUDA.
    #[serde(default)]
    pub tensorrt: bool,
    #[serde(default)]
    pub tensorrt_fp16: bool,
    /// Where built TensorRT engines are kept between loads (none: rebuilt each load).
    pub tensorrt_engine_cache: Option<String>,
    /// Capture the model as a CUDA graph and replay it.
    #[serde(default)]
    pub cuda_graph: bool,
    /// TensorFloat-32 for float MatMul and Conv on Ampere and newer: much
    /// faster, but about three decimal digits, so outputs drift from the
    /// CPU's by ~1e-3 relative. Unset: ONNX Runtime's default, which is on.
    pub tf32: Option<bool>,
}

impl OnnxOptions {
    pub fn parse(config: &ModelConfig) -> Result<Self, BackendError> {
        config
            .onnx
            .clone()
            .try_into()
            .map_err(|e| BackendError::Config(format!("invalid [onnx] section in model.toml: {e}")))
    }

    /// Refuses options that cannot apply to this instance, before anything
    /// is loaded, so the mistake is named rather than ignored.
    pub fn check(&self, device: Device, config: &ModelConfig) -> Result<(), BackendError> {
        let bad = |why: String| Err(BackendError::Config(format!("[onnx] {why}")));
        if device == Device::Cpu {
            let gpu_only = [
                ("gpu_mem_limit", self.gpu_mem_limit.is_some()),
                ("tensorrt", self.tensorrt),
                ("tensorrt_fp16", self.tensorrt_fp16),
                ("tensorrt_engine_cache", self.tensorrt_engine_cache.is_some()),
                ("cuda_graph", self.cuda_graph),
                ("tf32", self.tf32.is_some()),
            ];
            if let Some((name, _)) = gpu_only.iter().find(|(_, set)| *set) {
                return bad(format!(
                    "{name} applies to GPU instances; this model runs on cpu (set [instances] device)"
                ));
            }
        }
        if (self.tensorrt_fp16 || self.tensorrt_engine_cache.is_some()) && !self.tensorrt {
            return bad("tensorrt_fp16 and tensorrt_engine_cache need tensorrt = true".into());
        }
        if self.gpu_mem_limit == Some(0) {
            return bad("gpu_mem_limit must be above 0 (leave it out for no limit)".into());
        }
        if self.cuda_graph {
            if config.max_batch_size > 0 {
                return bad(format!(
                    "cuda_graph replays one captured shape, so it needs max_batch_size = 0 (not {})",
                    config.max_batch_size
                ));
            }
            if self.io_binding == Some(false) {
                return bad("cuda_graph needs io_binding (its inputs must stay at one device address)".into());
            }
        }
        Ok(())
    }

    /// Whether this instance binds its inputs and outputs.
    pub fn binds_io(&self, device: Device) -> bool {
        self.io_binding.unwrap_or(device != Device::Cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(onnx: &str, model: &str) -> (OnnxOptions, ModelConfig) {
        let config =
            ModelConfig::from_toml(&format!("backend = \"onnx\"\n{model}\n[onnx]\n{onnx}"), "m").expect("valid");
        (OnnxOptions::parse(&config).expect("parses"), config)
    }

    fn refusal(onnx: &str, model: &str, device: Device) -> String {
        let (options, config) = options(onnx, model);
        match options.check(device, &config) {
            Err(BackendError::Config(why)) => why,
            other => panic!("expected a config error for {onnx:?}, got {other:?}"),
        }
    }

    #[test]
    fn gpu_options_parse_and_apply_to_gpu_instances() {
        let (parsed, config) = options(
            "gpu_mem_limit = 1073741824\ntensorrt = true\ntensorrt_fp16 = true\ntensorrt_engine_cache = \"/tmp/trt\"",
            "max_batch_size = 8",
        );
        assert_eq!(parsed.gpu_mem_limit, Some(1 << 30));
        assert_eq!(parsed.tf32, None, "unset: ONNX Runtime's own default");
        let (exact, _) = options("tf32 = false", "");
        assert_eq!(exact.tf32, Some(false));
        assert!(exact.check(Device::Cuda(0), &config).is_ok());
        assert!(parsed.tensorrt && parsed.tensorrt_fp16);
        assert!(parsed.check(Device::Cuda(0), &config).is_ok());
        assert!(parsed.binds_io(Device::Cuda(0)), "GPU instances bind by default");
        let (cpu, _) = options("intra_op_threads = 1", "");
        assert!(!cpu.binds_io(Device::Cpu), "CPU instances pass values by default");
        let (chosen, _) = options("io_binding = true", "");
        assert!(chosen.binds_io(Device::Cpu));
    }

    #[test]
    fn refuses_options_that_cannot_apply() {
        for option in ["gpu_mem_limit = 1024", "tensorrt = true", "cuda_graph = true", "tf32 = false"] {
            let why = refusal(option, "max_batch_size = 0", Device::Cpu);
            assert!(why.contains("applies to GPU instances"), "{option}: {why}");
        }
        let why = refusal("cuda_graph = true", "max_batch_size = 4", Device::Cuda(0));
        assert!(why.contains("max_batch_size = 0"), "{why}");
        let why = refusal("cuda_graph = true\nio_binding = false", "", Device::Cuda(0));
        assert!(why.contains("needs io_binding"), "{why}");
        let why = refusal("tensorrt_fp16 = true", "", Device::Cuda(0));
        assert!(why.contains("need tensorrt = true"), "{why}");
        let why = refusal("gpu_mem_limit = 0", "", Device::Cuda(1));
        assert!(why.contains("above 0"), "{why}");
        let config = ModelConfig::from_toml("backend = \"onnx\"\n[onnx]\ngpu_mem = 5", "m").expect("toml is valid");
        assert!(matches!(OnnxOptions::parse(&config), Err(BackendError::Config(m)) if m.contains("gpu_mem")));
    }
}
