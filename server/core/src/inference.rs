//! The facade both transports call: health, metadata, inference, loading.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tracing::Instrument;

use crate::backend::TensorSpec;
use crate::control::{Control, ControlMode};
use crate::error::InferError;
use crate::metrics::{Metrics, Protocol, UNKNOWN_MODEL};
use crate::model::{Loaders, ModelDefaults, ModelHandle};
use crate::registry::ModelRegistry;
use crate::registry_health::ObservedRegistry;
use crate::request::{InferRequest, InferResponse};
use crate::stats::StatsSnapshot;
use crate::validate::{Limits, check_inputs, select_outputs};

/// Where a configured model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Loading,
    Ready,
    Failed(String),
    /// Unloaded through the repository API: not served, not awaited.
    Unloaded,
}

#[derive(Clone)]
pub(crate) struct ModelEntry {
    pub(crate) state: ModelState,
    pub(crate) versions: BTreeMap<u64, Arc<ModelHandle>>,
    /// Whether readiness waits for this model: models configured at start-up
    /// and any model once it has served. A model added later whose first load
    /// fails is reported, but does not take a serving pod out of its Service.
    pub(crate) gates_readiness: bool,
}

impl ModelEntry {
    fn loading() -> Self {
        ModelEntry { state: ModelState::Loading, versions: BTreeMap::new(), gates_readiness: false }
    }
}

type ModelTable = HashMap<String, ModelEntry>;

/// Model metadata as the protocol reports it.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub versions: Vec<u64>,
    pub platform: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Server metadata as the protocol reports it.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub extensions: &'static [&'static str],
}

pub const SERVER_INFO: ServerInfo = ServerInfo {
    name: "sluice",
    version: env!("CARGO_PKG_VERSION"),
    extensions: &["binary_tensor_data", "model_configuration", "model_repository", "sampling", "statistics"],
};

pub struct Inference {
    table: ArcSwap<ModelTable>,
    pub(crate) loaders: Loaders,
    limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    startup_done: AtomicBool,
    /// Set at SIGTERM: not ready, still serving.
    draining: AtomicBool,
    pub(crate) registry: Arc<ObservedRegistry>,
    pub(crate) mode: ControlMode,
    pub(crate) control: Control,
    pub(crate) model_defaults: ModelDefaults,
}

impl Inference {
    pub fn new(
        loaders: Loaders,
        limits: Limits,
        metrics: Arc<Metrics>,
        registry: Arc<dyn ModelRegistry>,
        mode: ControlMode,
    ) -> Self {
        let registry = Arc::new(ObservedRegistry::new(registry, &metrics));
        Inference {
            table: ArcSwap::from_pointee(ModelTable::new()),
            loaders,
            limits,
            metrics,
            startup_done: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            registry,
            mode,
            control: Control::default(),
            model_defaults: ModelDefaults::default(),
        }
    }

    /// Server-wide defaults for what model.toml leaves unset.
    pub fn with_model_defaults(mut self, defaults: ModelDefaults) -> Self {
        self.model_defaults = defaults;
        self
    }

    pub fn control_mode(&self) -> ControlMode {
        self.mode
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn server_info(&self) -> &'static ServerInfo {
        &SERVER_INFO
    }

    /// The process is up; independent of models.
    pub fn live(&self) -> bool {
        true
    }

    /// Every configured model has loaded and warmed up, and the server is
    /// not shutting down.
    pub fn ready(&self) -> bool {
        !self.draining.load(Ordering::Acquire)
            && self.startup_done.load(Ordering::Acquire)
            && self
                .table
                .load()
                .values()
                .all(|e| !e.gates_readiness || e.state == ModelState::Unloaded || !e.versions.is_empty())
    }

    /// From now on readiness is false (a SIGTERM arrived): load balancers
    /// stop sending requests while those already routed are still served.
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn model_state(&self, name: &str) -> Option<ModelState> {
        self.table.load().get(name).map(|e| e.state.clone())
    }

    /// Whether the model (or that version of it) is loaded and warmed up.
    pub fn model_ready(&self, name: &str, version: Option<u64>) -> Result<bool, InferError> {
        let table = self.table.load();
        let entry = table.get(name).ok_or_else(|| unknown_model(name, &table))?;
        Ok(match version {
            Some(v) => entry.versions.contains_key(&v),
            None => !entry.versions.is_empty(),
        })
    }

    /// Runs `f` on the input specs of the version a request would reach,
    /// without copying them (for transports that decode by the model's inputs).
    pub fn with_input_specs<R>(
        &self,
        name: &str,
        version: Option<u64>,
        f: impl FnOnce(&[TensorSpec]) -> R,
    ) -> Result<R, InferError> {
        let handle = self.resolve(name, version)?;
        Ok(f(&handle.metadata.inputs))
    }

    /// The names of the models this server knows (loaded, loading or failed).
    pub fn model_names_served(&self) -> Vec<String> {
        let mut names = self.model_names();
        names.sort();
        names
    }

    pub fn model_metadata(&self, name: &str, version: Option<u64>) -> Result<ModelInfo, InferError> {
        let handle = self.resolve(name, version)?;
        let versions = match version {
            Some(v) => vec![v],
            None => self.table.load().get(name).map(|e| e.versions.keys().copied().collect()).unwrap_or_default(),
        };
        Ok(ModelInfo {
            name: handle.name.clone(),
            versions,
            platform: handle.metadata.platform.clone(),
            inputs: handle.metadata.inputs.clone(),
            outputs: handle.metadata.outputs.clone(),
        })
    }

    /// The model version a request addresses: the one named, else the newest.
    pub(crate) fn resolve(&self, name: &str, version: Option<u64>) -> Result<Arc<ModelHandle>, InferError> {
        let table = self.table.load();
        let entry = table.get(name).ok_or_else(|| unknown_model(name, &table))?;
        let found = match version {
            Some(v) => entry.versions.get(&v),
            None => entry.versions.values().next_back(),
        };
        if let Some(handle) = found {
            return Ok(handle.clone());
        }
        let loaded: Vec<String> = entry.versions.keys().map(u64::to_string).collect();
        Err(match (version, &entry.state) {
            (Some(v), _) if !loaded.is_empty() => {
                InferError::NotFound(format!("model '{name}' has no version {v} (loaded: {})", loaded.join(", ")))
            }
            (_, ModelState::Loading) => InferError::Unavailable(format!("model '{name}' is still loading")),
            (_, ModelState::Failed(why)) => InferError::Unavailable(format!("model '{name}' failed to load: {why}")),
            (_, ModelState::Unloaded) => InferError::NotFound(format!("model '{name}' is unloaded")),
            (Some(v), ModelState::Ready) => InferError::NotFound(format!("model '{name}' has no version {v}")),
            (None, ModelState::Ready) => InferError::Unavailable(format!("model '{name}' has no loaded version")),
        })
    }

    /// Runs one request and records it in the request metrics.
    pub async fn infer(&self, request: InferRequest, protocol: Protocol) -> Result<InferResponse, InferError> {
        let started = Instant::now();
        let handle = match self.resolve(&request.model_name, request.model_version) {
            Ok(handle) => handle,
            Err(e) => {
                self.reject(&request.model_name, request.model_version, protocol, started.elapsed(), &e);
                return Err(e);
            }
        };
        // Debug level: free unless --log-level asks for per-request records.
        let span = tracing::debug_span!(
            "infer",
            model = %handle.name,
            version = handle.version,
            role = %self.metrics.role.get(),
            request_id = request.id.as_deref().unwrap_or(""),
            protocol = protocol.as_str(),
        );
        let result = self.run(&handle, request).instrument(span.clone()).await;
        let outcome = result.as_ref().map(|_| ());
        let elapsed = started.elapsed();
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(elapsed_us = elapsed.as_micros() as u64, "inference done"),
            Err(e) => tracing::debug!(reason = e.reason(), error = %e, "inference failed"),
        });
        handle.metrics.observe_request(protocol, elapsed, outcome);
        result
    }

    /// Sampled rows of one served version after `since`, in columns (see
    /// `sampling` and `sample_rows`), with the version's sampling rate.
    pub fn samples(
        &self,
        model: &str,
        version: u64,
        since: u64,
        limit: usize,
    ) -> Result<(crate::sample_rows::SampledRows, f64), InferError> {
        let handle = self.resolve(model, Some(version))?;
        let page = handle.sampler.read(since, limit);
        Ok((crate::sample_rows::SampledRows::from_page(page, since), handle.sampler.rate()))
    }

    /// Triton's statistics: every version of `model` (or of every model),
    /// or just `version`.
    pub fn model_statistics(
        &self,
        model: Option<&str>,
        version: Option<u64>,
    ) -> Result<Vec<StatsSnapshot>, InferError> {
        let table = self.table.load();
        if let Some(name) = model {
            let entry = table.get(name).ok_or_else(|| unknown_model(name, &table))?;
            if let Some(v) = version.filter(|v| !entry.versions.contains_key(v)) {
                return Err(InferError::NotFound(format!("model '{name}' has no loaded version {v}")));
            }
        }
        let mut out: Vec<StatsSnapshot> = table
            .iter()
            .filter(|(name, _)| model.is_none_or(|m| m == name.as_str()))
            .flat_map(|(_, entry)| entry.versions.values())
            .filter(|h| version.is_none_or(|v| v == h.version))
            .map(|h| h.metrics.stats().snapshot(&h.name, h.version))
            .collect();
        out.sort_by(|a, b| (a.name.as_str(), a.version).cmp(&(b.name.as_str(), b.version)));
        Ok(out)
    }

    /// Records a request that failed before reaching `infer` (it could not
    /// be decoded), or failed inside it.
    pub fn reject(&self, model: &str, version: Option<u64>, protocol: Protocol, elapsed: Duration, error: &InferError) {
        // Only names and versions that exist become label values: arbitrary
        // client input must not create unbounded series.
        let table = self.table.load();
        let entry = table.get(model);
        let model = if entry.is_some() { model } else { UNKNOWN_MODEL };
        let version = version
            .filter(|v| entry.is_some_and(|e| e.versions.contains_key(v)))
            .map(|v| v.to_string())
            .unwrap_or_default();
        self.metrics.observe_request(model, &version, protocol, elapsed, Err(error));
    }

    async fn run(&self, handle: &ModelHandle, request: InferRequest) -> Result<InferResponse, InferError> {
        let timeout = request.effective_timeout()?;
        let wanted = select_outputs(&handle.name, &handle.metadata, &request.outputs)?;
        let checked =
            check_inputs(&handle.name, &handle.metadata, handle.config.max_batch_size, request.inputs, self.limits)?;
        // Tensor clones share their bytes: the sampler copies only what it keeps.
        let sampled = handle.sampler.should_sample().then(|| checked.inputs.clone());
        let outputs = handle.scheduler.submit(checked.inputs, checked.rows, timeout).await?;
        if let Some(inputs) = sampled {
            handle.sampler.record(checked.rows, &inputs, &outputs);
        }
        let outputs =
            if wanted.len() == outputs.len() && wanted.iter().enumerate().all(|(i, &w)| i == w) {
                outputs
            } else {
                wanted.iter().map(|&i| outputs.get(i).cloned()).collect::<Option<Vec<_>>>().ok_or_else(|| {
                    InferError::Backend("the model returned fewer outputs than its metadata lists".into())
                })?
            };
        Ok(InferResponse { model_name: handle.name.clone(), model_version: handle.version, id: request.id, outputs })
    }

    /// Replaces one model's entry (or creates it) in one atomic publish.
    pub(crate) fn publish(&self, name: &str, change: impl Fn(&mut ModelEntry)) {
        self.table.rcu(|table| {
            let mut table = (**table).clone();
            change(table.entry(name.to_owned()).or_insert_with(ModelEntry::loading));
            table
        });
    }

    /// Drops a model's entry; returns the versions it was serving.
    pub(crate) fn remove(&self, name: &str) -> Vec<Arc<ModelHandle>> {
        let old = self.table.rcu(|table| {
            let mut table = (**table).clone();
            table.remove(name);
            table
        });
        old.get(name).map(|e| e.versions.values().cloned().collect()).unwrap_or_default()
    }

    pub(crate) fn entry(&self, name: &str) -> Option<ModelEntry> {
        self.table.load().get(name).cloned()
    }

    pub(crate) fn model_names(&self) -> Vec<String> {
        self.table.load().keys().cloned().collect()
    }

    pub(crate) fn finish_startup(&self) {
        self.startup_done.store(true, Ordering::Release);
    }
}

fn unknown_model(name: &str, table: &ModelTable) -> InferError {
    let mut known: Vec<&str> = table.keys().map(String::as_str).collect();
    known.sort_unstable();
    InferError::NotFound(format!("unknown model '{name}' (serving: {})", known.join(", ")))
}
