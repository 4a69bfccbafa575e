//! A loaded model version, and how one gets loaded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::LoadError;
use crate::lifecycle::gpu_memory::GpuCharge;
use crate::metrics::VersionMetrics;
use crate::metrics::loaded_series::LoadedKey;
use crate::model::backend::{Backend, BackendKind, BackendLoader, Batch, Device, LoadRequest, ModelMetadata};
use crate::model::config::ModelConfig;
use crate::model::repository::verify_artifacts;
use crate::model::warmup::warmup_batch;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::serving::classification::Labels;

/// One servable model version: its metadata and its request queue.
pub struct ModelHandle {
    pub name: String,
    pub version: u64,
    pub metadata: ModelMetadata,
    /// Class labels for the classification extension.
    pub labels: Labels,
    /// The configuration it serves with: model.toml, load overrides and the
    /// server's defaults applied.
    pub config: ModelConfig,
    /// The configuration as listed (before server defaults), to tell
    /// whether the registry changed it.
    pub listed_config: ModelConfig,
    pub scheduler: Scheduler,
    pub metrics: Arc<VersionMetrics>,
    /// What it serves, sampled for drift detection (`[sampling]`, `--sample-rate`).
    pub sampler: crate::serving::sampling::Sampler,
    /// The registry's fingerprint of the files this version was loaded from.
    pub fingerprint: String,
    /// Its `model_loaded` series (the role aside, which follows the server's).
    pub loaded_key: Option<LoadedKey>,
    /// The device memory its instances took (none on CPU).
    pub gpu_charge: GpuCharge,
}

impl ModelHandle {
    pub fn backend(&self) -> BackendKind {
        self.config.backend
    }

    pub fn device(&self) -> Device {
        self.config.instances.device
    }

    /// Every device its instances run on, as one label: `cuda:0,cuda:1`.
    pub fn devices_label(&self) -> String {
        self.config.instances.label()
    }
}

/// The backend loaders compiled into this binary, by kind.
#[derive(Clone, Default)]
pub struct Loaders(HashMap<BackendKind, Arc<dyn BackendLoader>>);

impl Loaders {
    pub fn with(mut self, loader: Arc<dyn BackendLoader>) -> Self {
        self.0.insert(loader.kind(), loader);
        self
    }

    pub fn get(&self, kind: BackendKind) -> Option<&Arc<dyn BackendLoader>> {
        self.0.get(&kind)
    }
}

/// Server-wide settings for what model.toml leaves unset (KServe-style
/// deployments set them through MAX_BATCH_SIZE and WORKERS).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelDefaults {
    pub max_batch_size: Option<usize>,
    pub instance_count: Option<usize>,
    /// `--sample-rate` and `--sample-buffer-rows`, for models whose model.toml leaves them unset.
    pub sample_rate: f64,
    pub sample_buffer_rows: usize,
}

/// What loading a version produced: its tensors, its instances and the
/// configuration they serve with.
pub struct LoadedInstances {
    pub metadata: ModelMetadata,
    pub labels: Labels,
    pub instances: Vec<Box<dyn Backend>>,
    pub config: ModelConfig,
}

/// Verifies, loads and warms up every instance of one version, with the
/// server's defaults for what model.toml leaves unset. A default batch size
/// applies only to a model that can batch (a dynamic first dimension on
/// every tensor); model.toml and load overrides always win. Blocking: call
/// it from a blocking thread.
pub fn load_instances(
    loaders: &Loaders,
    name: &str,
    version: u64,
    dir: &Path,
    listed: &ModelConfig,
    defaults: ModelDefaults,
) -> Result<LoadedInstances, LoadError> {
    verify_artifacts(dir).map_err(LoadError::Verify)?;
    let mut config = listed.clone();
    config.sampling.rate = Some(config.sampling.rate.unwrap_or(defaults.sample_rate));
    let default_rows =
        if defaults.sample_buffer_rows > 0 { defaults.sample_buffer_rows } else { crate::defaults::SAMPLE_BUFFER_ROWS };
    config.sampling.buffer_rows = Some(config.sampling.buffer_rows.unwrap_or(default_rows));
    if let (true, Some(count)) = (config.defaulted.instance_count, defaults.instance_count) {
        config.instances.count = count.max(1);
    }
    let loader = loaders
        .get(config.backend)
        .ok_or_else(|| LoadError::Config(format!("this build of sluice has no '{}' backend", config.backend)))?;
    let placements = config.instances.placements();
    let mut instances: Vec<Box<dyn Backend>> = Vec::with_capacity(placements.len());
    for device in placements {
        let request = LoadRequest { model: name, version, dir, config: &config, device };
        let instance = loader.load(&request)?;
        if instances.is_empty() {
            // The first instance tells whether the model can batch at all.
            if let (true, Some(max)) = (config.defaulted.max_batch_size, defaults.max_batch_size) {
                let meta = instance.metadata();
                if meta.inputs.iter().chain(&meta.outputs).all(|s| s.shape.first() == Some(&-1)) {
                    config.max_batch_size = max.min(instance.max_batch_size().unwrap_or(usize::MAX));
                }
            }
        }
        instances.push(instance);
    }
    for instance in &mut instances {
        warm_up(instance.as_mut(), &config, dir)?;
    }
    let metadata = instances
        .first()
        .map(|b| b.metadata().clone())
        .ok_or_else(|| LoadError::Config("no instance configured".into()))?;
    check_batching(&config, &metadata, instances.first().and_then(|b| b.max_batch_size()))
        .map_err(LoadError::Config)?;
    let labels = Labels::load(&config.labels, &metadata.outputs, dir).map_err(LoadError::Config)?;
    Ok(LoadedInstances { metadata, labels, instances, config })
}

/// Runs `[warmup]`'s calls on one instance; a failure names every input's
/// sample, so the fix (another `bytes_value`, a file) is plain.
fn warm_up(backend: &mut dyn Backend, config: &ModelConfig, dir: &Path) -> Result<(), LoadError> {
    let metadata = backend.metadata().clone();
    let batched = config.max_batch_size > 0;
    let Some(sample) = warmup_batch(&config.warmup, &metadata.inputs, batched, dir).map_err(LoadError::Config)? else {
        return Ok(());
    };
    for _ in 0..config.warmup.count {
        backend.warmup(Batch { inputs: sample.inputs.clone() }).map_err(|e| {
            LoadError::Warmup(format!(
                "warm-up failed on inputs {}: {e} (configure the samples in [warmup] of model.toml, or set \
                 warmup.enabled = false)",
                sample.described
            ))
        })?;
    }
    Ok(())
}

fn check_batching(config: &ModelConfig, metadata: &ModelMetadata, runtime_max: Option<usize>) -> Result<(), String> {
    if config.max_batch_size == 0 {
        return Ok(());
    }
    if let Some(limit) = runtime_max.filter(|&limit| config.max_batch_size > limit) {
        return Err(format!("max_batch_size {} exceeds the backend's limit of {limit}", config.max_batch_size));
    }
    for spec in metadata.inputs.iter().chain(&metadata.outputs) {
        if spec.shape.first() != Some(&-1) {
            return Err(format!(
                "max_batch_size > 0 needs a dynamic first dimension, but '{}' has shape {:?}; set max_batch_size = 0",
                spec.name, spec.shape
            ));
        }
    }
    Ok(())
}

/// What a loaded version is made of, before its queue starts.
pub struct LoadedVersion {
    pub name: String,
    pub version: u64,
    pub fingerprint: String,
    pub config: ModelConfig,
    pub listed_config: ModelConfig,
    pub metadata: ModelMetadata,
    pub labels: Labels,
    pub instances: Vec<Box<dyn Backend>>,
    pub gpu_charge: GpuCharge,
}

/// Starts the queue of a loaded version (needs a tokio runtime).
pub fn start_handle(loaded: LoadedVersion, metrics: Arc<VersionMetrics>) -> Result<ModelHandle, LoadError> {
    let LoadedVersion { name, version, fingerprint, config, listed_config, metadata, labels, instances, gpu_charge } =
        loaded;
    let scheduler =
        Scheduler::start(&format!("{name}:{version}"), instances, SchedulerConfig::from(&config), metrics.clone())
            .map_err(|e| LoadError::Start(e.to_string()))?;
    let sampler = crate::serving::sampling::Sampler::new(
        config.sampling.rate.unwrap_or(0.0),
        config.sampling.buffer_rows.unwrap_or(crate::defaults::SAMPLE_BUFFER_ROWS),
    );
    Ok(ModelHandle {
        name,
        version,
        metadata,
        labels,
        sampler,
        config,
        listed_config,
        scheduler,
        metrics,
        fingerprint,
        loaded_key: None,
        gpu_charge,
    })
}
