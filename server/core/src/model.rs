//! A loaded model version, and how one gets loaded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::backend::{Backend, BackendKind, BackendLoader, Device, LoadRequest, ModelMetadata};
use crate::metrics::VersionMetrics;
use crate::model_config::ModelConfig;
use crate::repository::verify_artifacts;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::warmup::warmup_batch;

/// One servable model version: its metadata and its request queue.
pub struct ModelHandle {
    pub name: String,
    pub version: u64,
    pub metadata: ModelMetadata,
    pub config: ModelConfig,
    pub scheduler: Scheduler,
    pub metrics: Arc<VersionMetrics>,
    /// The registry's fingerprint of the files this version was loaded from.
    pub fingerprint: String,
    /// The `model_loaded` labels set when it was published (the role may
    /// change later), so unloading clears exactly that series.
    pub loaded_labels: Vec<String>,
}

impl ModelHandle {
    pub fn backend(&self) -> BackendKind {
        self.config.backend
    }

    pub fn device(&self) -> Device {
        self.config.instances.device
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

/// Verifies, loads and warms up every instance of one version. Blocking:
/// call it from a blocking thread.
pub fn load_instances(
    loaders: &Loaders,
    name: &str,
    version: u64,
    dir: &Path,
    config: &ModelConfig,
) -> Result<(ModelMetadata, Vec<Box<dyn Backend>>), String> {
    verify_artifacts(dir)?;
    let loader = loaders
        .get(config.backend)
        .ok_or_else(|| format!("this build of sluice has no '{}' backend", config.backend))?;
    let request = LoadRequest { model: name, version, dir, config, device: config.instances.device };
    let mut instances = Vec::with_capacity(config.instances.count);
    for _ in 0..config.instances.count {
        let mut backend = loader.load(&request).map_err(|e| e.0)?;
        warm_up(backend.as_mut(), config, dir)?;
        instances.push(backend);
    }
    let metadata = instances.first().map(|b| b.metadata().clone()).ok_or("no instance configured")?;
    check_batching(config, &metadata, instances.first().and_then(|b| b.max_batch_size()))?;
    Ok((metadata, instances))
}

/// Runs `[warmup]`'s calls on one instance; a failure names every input's
/// sample, so the fix (another `bytes_value`, a file) is plain.
fn warm_up(backend: &mut dyn Backend, config: &ModelConfig, dir: &Path) -> Result<(), String> {
    let metadata = backend.metadata().clone();
    let batched = config.max_batch_size > 0;
    let Some(sample) = warmup_batch(&config.warmup, &metadata, batched, dir)? else { return Ok(()) };
    for _ in 0..config.warmup.count {
        backend.warmup(sample.batch.clone()).map_err(|e| {
            format!(
                "warm-up failed on inputs {}: {e} (configure the samples in [warmup] of model.toml, or set \
                 warmup.enabled = false)",
                sample.described
            )
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
    pub metadata: ModelMetadata,
    pub instances: Vec<Box<dyn Backend>>,
}

/// Starts the queue of a loaded version (needs a tokio runtime).
pub fn start_handle(loaded: LoadedVersion, metrics: Arc<VersionMetrics>) -> Result<ModelHandle, String> {
    let LoadedVersion { name, version, fingerprint, config, metadata, instances } = loaded;
    let scheduler =
        Scheduler::start(&format!("{name}:{version}"), instances, SchedulerConfig::from(&config), metrics.clone())
            .map_err(|e| format!("cannot start model threads: {e}"))?;
    Ok(ModelHandle { name, version, metadata, config, scheduler, metrics, fingerprint, loaded_labels: Vec::new() })
}
