//! `model.toml`: how one model of the repository is served.
//!
//! ```toml
//! backend = "onnx"            # or "candle"
//! max_batch_size = 64         # 0 turns batching off
//! version_policy = { latest = 1 }   # or "all", or { specific = [1, 3] }
//!
//! [batching]
//! max_queue_delay_us = 100
//! max_queue_size = 1024
//!
//! [instances]
//! count = 1
//! device = "cpu"              # or "cuda:0"; see instances.rs for `devices`
//!
//! [[inputs]]                  # optional for ONNX (read from the file)
//! name = "features"
//! datatype = "FP32"
//! shape = [-1, 30]            # full shape; -1 = dynamic, first dim = batch
//!
//! [labels]                    # optional: class labels for `classification: k`
//! probabilities = "labels.txt"   # one per line, in the version or model directory
//!
//! [warmup]                    # see warmup.rs: off, zero/random, files, BYTES values
//! bytes_value = "0"
//! ```
//! Backend-specific sections (`[onnx]`, `[candle]`) are passed through to the
//! backend, which parses them into its own types.

use std::path::Path;

pub use crate::model::instances::InstancesConfig;
use crate::model::spec::{BackendKind, TensorSpec};
use crate::model::warmup::WarmupConfig;

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub backend: BackendKind,
    #[serde(default)]
    pub max_batch_size: usize,
    #[serde(default)]
    pub version_policy: VersionPolicy,
    #[serde(default)]
    pub batching: BatchingConfig,
    #[serde(default)]
    pub instances: InstancesConfig,
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
    /// Class labels per output (output name → file beside the model), for
    /// the classification extension.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub warmup: WarmupConfig,
    #[serde(default)]
    pub sampling: SamplingConfig,
    #[serde(default)]
    pub onnx: toml::Table,
    #[serde(default)]
    pub candle: toml::Table,
    /// Which settings model.toml leaves to the server's defaults
    /// (`--default-max-batch-size`, `--default-instances`).
    #[serde(skip)]
    pub defaulted: Defaulted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defaulted {
    pub max_batch_size: bool,
    pub instance_count: bool,
}

/// Which versions of a model are served (Triton's meanings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionPolicy {
    /// The N highest versions.
    Latest(usize),
    /// Every version present.
    All,
    /// Exactly these versions (those present).
    Specific(Vec<u64>),
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest(1)
    }
}

impl VersionPolicy {
    /// Picks the versions to serve from those available, highest first.
    pub fn select(&self, available: &[u64]) -> Vec<u64> {
        let mut sorted = available.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        match self {
            VersionPolicy::Latest(n) => sorted.into_iter().take(*n).collect(),
            VersionPolicy::All => sorted,
            VersionPolicy::Specific(wanted) => sorted.into_iter().filter(|v| wanted.contains(v)).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchingConfig {
    /// How long the oldest queued request may wait for others to join it.
    pub max_queue_delay_us: u64,
    /// Batch sizes to dispatch as soon as they can be formed.
    pub preferred_batch_sizes: Vec<usize>,
    /// Requests waiting beyond this are refused at once (429).
    pub max_queue_size: usize,
    /// Queue deadline for requests that set none (0 = none); a request can
    /// set its own with the `timeout` parameter (us) or a gRPC deadline.
    pub default_timeout_us: u64,
    /// When nothing else is queued or running and the model's calls average
    /// at most this, a request runs on the thread that received it instead
    /// of being handed to an instance thread: fewer wake-ups at low load.
    /// 0 turns it off; applies only with `max_queue_delay_us = 0`.
    pub inline_max_compute_us: u64,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        BatchingConfig {
            max_queue_delay_us: 0,
            preferred_batch_sizes: Vec::new(),
            max_queue_size: 1024,
            default_timeout_us: 0,
            inline_max_compute_us: 100,
        }
    }
}

/// `model.toml` could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid {path}: {message}")]
    Invalid { path: String, message: String },
}

impl ModelConfig {
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let invalid = |e: toml::de::Error| ConfigError::Invalid { path: path.to_owned(), message: e.to_string() };
        let table: toml::Table = toml::from_str(text).map_err(invalid)?;
        let mut config: ModelConfig = table.clone().try_into().map_err(invalid)?;
        let instances = table.get("instances").and_then(toml::Value::as_table);
        config.defaulted = Defaulted {
            max_batch_size: !table.contains_key("max_batch_size"),
            instance_count: instances.is_none_or(|t| !t.contains_key("count") && !t.contains_key("instance_count")),
        };
        config.check().map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Self::from_toml(&text, &shown)
    }

    /// The rules model.toml must follow (also applied to load overrides).
    pub fn check(&self) -> Result<(), String> {
        self.sampling.check()?;
        self.instances.check()?;
        if self.batching.max_queue_size == 0 {
            return Err("batching.max_queue_size must be at least 1".into());
        }
        if let Some(&bad) = self.batching.preferred_batch_sizes.iter().find(|&&p| p == 0 || p > self.max_batch_size) {
            return Err(format!(
                "batching.preferred_batch_sizes holds {bad}, outside 1..=max_batch_size ({})",
                self.max_batch_size
            ));
        }
        self.warmup.check(self.max_batch_size)?;
        if let VersionPolicy::Latest(0) = self.version_policy {
            return Err("version_policy latest must be at least 1".into());
        }
        if self.max_batch_size > 0 {
            for spec in self.inputs.iter().chain(&self.outputs) {
                if spec.shape.first().is_none_or(|&d| d != -1) {
                    return Err(format!(
                        "max_batch_size > 0 needs a dynamic first (batch) dimension, but '{}' has shape {:?}",
                        spec.name, spec.shape
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::Device;

    #[test]
    fn parses_a_full_config() {
        let config = ModelConfig::from_toml(
            r#"
            backend = "onnx"
            max_batch_size = 8
            version_policy = { specific = [1, 3] }
            [batching]
            max_queue_delay_us = 50
            preferred_batch_sizes = [4, 8]
            default_timeout_us = 1000
            [instances]
            instance_count = 2
            device = "cuda:1"
            [[inputs]]
            name = "x"
            datatype = "FP32"
            shape = [-1, 4]
            [onnx]
            intra_op_threads = 2
            "#,
            "model.toml",
        )
        .expect("valid");
        assert_eq!(config.backend, BackendKind::Onnx);
        assert_eq!(config.version_policy, VersionPolicy::Specific(vec![1, 3]));
        assert_eq!(config.instances.device, Device::Cuda(1));
        assert_eq!(config.batching.max_queue_size, 1024);
        assert_eq!(config.batching.preferred_batch_sizes, vec![4, 8]);
        assert_eq!(config.instances.count, 2);
        assert!(config.onnx.contains_key("intra_op_threads"));
    }

    #[test]
    fn knows_what_model_toml_leaves_to_the_server() {
        let bare = ModelConfig::from_toml("backend = \"onnx\"", "m").expect("valid");
        assert_eq!(bare.defaulted, Defaulted { max_batch_size: true, instance_count: true });
        let set = ModelConfig::from_toml("backend = \"onnx\"\nmax_batch_size = 0\n[instances]\ncount = 2", "m")
            .expect("valid");
        assert_eq!(set.defaulted, Defaulted { max_batch_size: false, instance_count: false });
    }

    #[test]
    fn version_policies_select_like_triton() {
        let available = [1, 3, 2];
        assert_eq!(VersionPolicy::default().select(&available), vec![3]);
        assert_eq!(VersionPolicy::Latest(2).select(&available), vec![3, 2]);
        assert_eq!(VersionPolicy::All.select(&available), vec![3, 2, 1]);
        assert_eq!(VersionPolicy::Specific(vec![1, 7]).select(&available), vec![1]);
        let all: ModelConfig =
            ModelConfig::from_toml("backend = \"candle\"\nversion_policy = \"all\"", "m").expect("valid");
        assert_eq!(all.version_policy, VersionPolicy::All);
    }

    #[test]
    fn rejects_bad_configs_with_the_reason() {
        let err = ModelConfig::from_toml("backend = \"tensorflow\"", "m.toml").expect_err("bad backend");
        assert!(err.to_string().contains("m.toml"), "{err}");
        let err = ModelConfig::from_toml(
            "backend = \"onnx\"\nmax_batch_size = 4\n[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [4]",
            "m.toml",
        )
        .expect_err("static batch dim");
        assert!(err.to_string().contains("dynamic first"), "{err}");
        let err = ModelConfig::from_toml(
            "backend = \"onnx\"\nmax_batch_size = 4\n[batching]\npreferred_batch_sizes = [8]",
            "m.toml",
        )
        .expect_err("preferred above max");
        assert!(err.to_string().contains("preferred_batch_sizes holds 8"), "{err}");
    }
}

/// `[sampling]` in model.toml; unset fields take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// Share of requests sampled, 0..=1 (0: off).
    pub rate: Option<f64>,
    /// Rows kept per version.
    pub buffer_rows: Option<usize>,
}

impl SamplingConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return Err("[sampling] rate must be between 0 and 1".into());
        }
        if self.buffer_rows == Some(0) {
            return Err("[sampling] buffer_rows must be above 0".into());
        }
        Ok(())
    }
}
