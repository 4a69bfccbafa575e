//! The model lifecycle: what is loaded at start-up, polling the registry,
//! the repository API (index, load, unload) and the swaps they all end in.
//! It shares the model table with `Inference`, which only reads it.

mod control;
pub mod gpu_devices;
pub mod gpu_memory;
pub mod local_registry;
pub mod registry;
pub mod registry_health;
mod repository_api;
mod swap;
pub mod uploads;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use control::{ControlMode, IndexEntry, IndexState};

use crate::error::InferError;
use crate::metrics::Metrics;
use crate::model::VersionPolicy;
use crate::model::load_override::LoadOverride;
use crate::serving::handle::{Loaders, ModelDefaults};
use crate::serving::model_table::{ModelState, ModelTable};
use control::Control;
use gpu_memory::GpuMemory;
use registry::ModelRegistry;
use registry_health::ObservedRegistry;
use swap::Retry;

/// Longest wait between whole polls while the registry is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait between start-up attempts: readiness waits on them.
const MAX_STARTUP_BACKOFF: Duration = Duration::from_secs(5);

pub struct Lifecycle {
    table: Arc<ModelTable>,
    loaders: Loaders,
    metrics: Arc<Metrics>,
    registry: Arc<ObservedRegistry>,
    mode: ControlMode,
    control: Control,
    model_defaults: ModelDefaults,
    gpu_memory: Arc<GpuMemory>,
}

impl Lifecycle {
    pub fn new(
        table: Arc<ModelTable>,
        loaders: Loaders,
        metrics: Arc<Metrics>,
        registry: Arc<dyn ModelRegistry>,
        mode: ControlMode,
    ) -> Self {
        let registry = Arc::new(ObservedRegistry::new(registry, &metrics));
        Lifecycle {
            table,
            loaders,
            metrics,
            registry,
            mode,
            control: Control::default(),
            model_defaults: ModelDefaults::default(),
            gpu_memory: GpuMemory::unregistered(None),
        }
    }

    /// GPU memory accounting, with its `--gpu-memory-budget`.
    pub fn with_gpu_memory(mut self, gpu_memory: Arc<GpuMemory>) -> Self {
        self.gpu_memory = gpu_memory;
        self
    }

    /// Server-wide defaults for what model.toml leaves unset.
    pub fn with_model_defaults(mut self, defaults: ModelDefaults) -> Self {
        self.model_defaults = defaults;
        self
    }

    /// Serves exactly `version` of `name` (`--model-version`), as a load
    /// request's version-policy override would; set before `start`.
    pub fn pin_version(&self, name: &str, version: u64) {
        let pin = LoadOverride { version_policy: Some(VersionPolicy::Specific(vec![version])), ..Default::default() };
        self.control.set_load_override(name, Some(pin));
    }

    /// Start-up: loads every model the registry holds (`none`, `poll`) or
    /// those named (`explicit`). A model whose registry cannot be reached is
    /// retried in the background with backoff; readiness waits for it.
    pub async fn start(self: &Arc<Self>, named: &[String]) {
        let names = match self.mode {
            ControlMode::Explicit => named.to_vec(),
            ControlMode::None | ControlMode::Poll => self.list_with_retry().await,
        };
        for name in &names {
            self.table.publish(name, |entry| entry.gates_readiness = true);
        }
        for name in names {
            match self.sync_model(&name, Retry::OnlyChanged).await {
                Err(InferError::Unavailable(_)) => {
                    let this = self.clone();
                    tokio::spawn(async move { this.retry_until_reachable(&name).await });
                }
                Err(e) => {
                    if let InferError::NotFound(why) = &e {
                        self.table.publish(&name, |entry| entry.state = ModelState::Failed(why.clone()));
                    }
                    tracing::error!(model = %name, error = %e, "model failed to load at start-up");
                }
                Ok(()) => {}
            }
        }
        self.table.finish_startup();
        if self.mode == ControlMode::Poll {
            tracing::info!(registry = %self.registry.location(), "polling the model registry for changes");
        }
    }

    async fn list_with_retry(&self) -> Vec<String> {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.registry.list().await {
                Ok(names) => {
                    if names.is_empty() {
                        tracing::warn!(registry = %self.registry.location(), "the model registry holds no model");
                    }
                    return names;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot list the model registry");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_STARTUP_BACKOFF);
                }
            }
        }
    }

    async fn retry_until_reachable(&self, name: &str) {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::time::sleep(backoff).await;
            match self.sync_model(name, Retry::OnlyChanged).await {
                Err(InferError::Unavailable(_)) => backoff = (backoff * 2).min(MAX_STARTUP_BACKOFF),
                _ => return,
            }
        }
    }

    /// Poll mode: every `every`, applies new, changed and removed versions and
    /// models. While the registry is unreachable the loaded versions keep
    /// serving, and instead of whole polls one cheap probe per interval
    /// watches for its return; the first probe answered resumes polling at
    /// once. A registry that answers probes but fails polls (a partial
    /// outage) gets whole polls backing off, doubling up to a minute.
    pub async fn poll(self: Arc<Self>, every: Duration) {
        let mut backoff = every;
        let mut next_poll = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            if self.registry.is_down() && self.registry.probe().await.is_err() {
                continue;
            }
            if Instant::now() < next_poll {
                continue;
            }
            backoff = match self.poll_once().await {
                Ok(()) => every,
                Err(why) => {
                    let next = (backoff * 2).clamp(every, MAX_BACKOFF.max(every));
                    tracing::warn!(
                        error = %why,
                        next_poll_ms = next.as_millis() as u64,
                        "model registry poll failed; probing it every poll interval meanwhile"
                    );
                    next
                }
            };
            next_poll = Instant::now() + backoff;
        }
    }

    async fn poll_once(&self) -> Result<(), InferError> {
        let listed = self.registry.list().await.map_err(|e| InferError::Unavailable(e.to_string()))?;
        let mut outage = None;
        for name in &listed {
            if let Err(e @ InferError::Unavailable(_)) = self.sync_model(name, Retry::OnlyChanged).await {
                outage = Some(e);
            }
        }
        for gone in self.table.names().into_iter().filter(|n| !listed.contains(n)) {
            tracing::info!(model = %gone, "model removed from the registry; unloading it");
            self.unload_model(&gone, false).await;
        }
        outage.map_or(Ok(()), Err)
    }
}
