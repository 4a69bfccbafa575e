//! The metrics named in DESIGN.md (their names and labels are an interface:
//! rollout analyses query them). Registered on a registry the caller gives.

pub mod loaded_series;
mod series_owners;
pub mod stats;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::error::InferError;
use crate::metrics::stats::{ComputeTimes, ModelStats};
use loaded_series::{LoadedKey, LoadedSeries};
use series_owners::SeriesOwners;

/// Latency buckets from 50 us to 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// Which transport a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rest = 0,
    Grpc = 1,
    /// KServe's v1 data plane (`:predict`) on the REST port.
    V1 = 2,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rest => "rest",
            Protocol::Grpc => "grpc",
            Protocol::V1 => "v1",
        }
    }
}

/// The rollout role (`stable` / `canary`) observations are labelled with.
/// Swappable at run time: Argo Rollouts relabels pods in place.
#[derive(Debug, Clone)]
pub struct Role(Arc<ArcSwap<String>>);

impl Role {
    pub fn new(role: impl Into<String>) -> Self {
        Role(Arc::new(ArcSwap::from_pointee(role.into())))
    }

    pub fn get(&self) -> Arc<String> {
        self.0.load_full()
    }

    /// A cheap borrow of the current role, for comparisons on hot paths.
    pub fn peek(&self) -> arc_swap::Guard<Arc<String>> {
        self.0.load()
    }

    pub fn set(&self, role: impl Into<String>) {
        self.0.store(Arc::new(role.into()));
    }
}

impl Default for Role {
    fn default() -> Self {
        Role::new("stable")
    }
}

/// Label used for requests naming a model that does not exist, so that
/// arbitrary client input cannot create unbounded label values.
pub const UNKNOWN_MODEL: &str = "_unknown";

pub struct Metrics {
    pub role: Role,
    /// Off only to measure what the metrics cost (`--disable-metrics`).
    pub enabled: bool,
    pub inference_duration: HistogramVec,
    pub requests_total: IntCounterVec,
    pub errors_total: IntCounterVec,
    pub queue_duration: HistogramVec,
    pub compute_duration: HistogramVec,
    pub batch_size: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub loaded: IntGaugeVec,
    pub load_duration: HistogramVec,
    pub swaps_total: IntCounterVec,
    pub registry_up: IntGaugeVec,
    pub registry_errors: IntCounterVec,
    /// Loaded copies per `(model, version)` series: a version reloaded in
    /// place shares them with its predecessor.
    version_owners: SeriesOwners,
    loaded_series: LoadedSeries,
}

fn histogram(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
}

impl Metrics {
    /// Creates every metric and registers it on `metrics_registry`.
    pub fn register(metrics_registry: &Registry, role: Role) -> prometheus::Result<Arc<Self>> {
        Self::register_with(metrics_registry, role, true)
    }

    /// As `register`; with `enabled` false, request and batch observations
    /// are skipped (the statistics extension still counts).
    pub fn register_with(metrics_registry: &Registry, role: Role, enabled: bool) -> prometheus::Result<Arc<Self>> {
        let loaded = IntGaugeVec::new(
            Opts::new("model_loaded", "1 while a model version is loaded."),
            &["model", "version", "role", "backend", "device"],
        )?;
        let m = Metrics {
            role,
            enabled: true,
            inference_duration: histogram(
                "model_inference_duration_seconds",
                "End-to-end inference latency inside the server, from decoded request to response.",
                LATENCY_BUCKETS,
                &["model", "version", "role", "protocol"],
            )?,
            requests_total: IntCounterVec::new(
                Opts::new("model_inference_requests_total", "Inference requests by outcome (HTTP-style status code)."),
                &["model", "version", "role", "protocol", "code"],
            )?,
            errors_total: IntCounterVec::new(
                Opts::new("model_inference_errors_total", "Failed inference requests by reason."),
                &["model", "version", "role", "reason"],
            )?,
            queue_duration: histogram(
                "model_queue_duration_seconds",
                "Time a request waited in the batching queue.",
                LATENCY_BUCKETS,
                &["model", "version", "role"],
            )?,
            compute_duration: histogram(
                "model_compute_duration_seconds",
                "Time one batch spent in the backend.",
                LATENCY_BUCKETS,
                &["model", "version", "role"],
            )?,
            batch_size: histogram("model_batch_size", "Rows per model call.", BATCH_BUCKETS, &["model", "version"])?,
            queue_depth: IntGaugeVec::new(
                Opts::new("model_queue_depth", "Requests queued and not yet running."),
                &["model", "version"],
            )?,
            loaded: loaded.clone(),
            load_duration: histogram(
                "model_load_duration_seconds",
                "Time to load and warm up a model version.",
                LATENCY_BUCKETS,
                &["model", "backend"],
            )?,
            swaps_total: IntCounterVec::new(
                Opts::new("model_swaps_total", "Model version loads and swaps by result."),
                &["model", "result"],
            )?,
            registry_up: IntGaugeVec::new(
                Opts::new("model_registry_up", "1 unless the model registry's last answer was an outage."),
                &["source"],
            )?,
            registry_errors: IntCounterVec::new(
                Opts::new("model_registry_errors_total", "Calls to the model registry that found it unreachable."),
                &["source"],
            )?,
            version_owners: SeriesOwners::default(),
            loaded_series: LoadedSeries::new(loaded),
        };
        let m = Metrics { enabled, ..m };
        metrics_registry.register(Box::new(m.inference_duration.clone()))?;
        metrics_registry.register(Box::new(m.requests_total.clone()))?;
        metrics_registry.register(Box::new(m.errors_total.clone()))?;
        metrics_registry.register(Box::new(m.queue_duration.clone()))?;
        metrics_registry.register(Box::new(m.compute_duration.clone()))?;
        metrics_registry.register(Box::new(m.batch_size.clone()))?;
        metrics_registry.register(Box::new(m.queue_depth.clone()))?;
        metrics_registry.register(Box::new(m.loaded.clone()))?;
        metrics_registry.register(Box::new(m.load_duration.clone()))?;
        metrics_registry.register(Box::new(m.swaps_total.clone()))?;
        metrics_registry.register(Box::new(m.registry_up.clone()))?;
        metrics_registry.register(Box::new(m.registry_errors.clone()))?;
        Ok(Arc::new(m))
    }

    /// Marks a loaded copy in `model_loaded`, under the current role.
    pub fn mark_loaded(&self, key: LoadedKey) {
        self.loaded_series.loaded(key, &self.role);
    }

    /// Clears `model_loaded` once no loaded copy of `key` is left.
    pub fn mark_unloaded(&self, key: &LoadedKey) {
        self.loaded_series.unloaded(key);
    }

    /// The rollout role changed (a promotion relabels the pod): later
    /// requests are counted under it, and `model_loaded` moves to it.
    pub fn set_role(&self, role: impl Into<String>) {
        self.role.set(role);
        self.loaded_series.relabel(&self.role.get());
    }

    /// Metrics on a private registry, for tests and tools.
    pub fn unregistered() -> Arc<Self> {
        Metrics::register(&Registry::new(), Role::default()).expect("fresh registry accepts every metric")
    }

    /// One finished inference request, successful or not.
    pub fn observe_request(
        &self,
        model: &str,
        version: &str,
        protocol: Protocol,
        elapsed: Duration,
        outcome: Result<(), &InferError>,
    ) {
        if !self.enabled {
            return;
        }
        let role = self.role.get();
        let code = match outcome {
            Ok(()) => "200",
            Err(e) => e.http_status().label,
        };
        self.requests_total.with_label_values(&[model, version, role.as_str(), protocol.as_str(), code]).inc();
        match outcome {
            Ok(()) => self
                .inference_duration
                .with_label_values(&[model, version, role.as_str(), protocol.as_str()])
                .observe(elapsed.as_secs_f64()),
            Err(e) => self.errors_total.with_label_values(&[model, version, role.as_str(), e.reason()]).inc(),
        }
    }
}

/// One model version's series for one role, each resolved on first use
/// and then kept: looking a series up by label values on every request cost
/// more than observing. Created lazily, because a histogram series that
/// exists but never observed makes `histogram_quantile` return NaN, which
/// would fail a rollout analysis reading `result[0]`.
struct RoleSeries {
    role: Arc<String>,
    queue: OnceLock<Histogram>,
    compute: OnceLock<Histogram>,
    /// By protocol (REST, gRPC, v1): latency and successful requests.
    requests: [OnceLock<(Histogram, IntCounter)>; 3],
}

impl RoleSeries {
    fn new(role: Arc<String>) -> Self {
        RoleSeries { role, queue: OnceLock::new(), compute: OnceLock::new(), requests: Default::default() }
    }
}

/// Per-model-version metrics and statistics: what the scheduler, the
/// instance threads and the request path observe into.
pub struct VersionMetrics {
    metrics: Arc<Metrics>,
    stats: Arc<ModelStats>,
    model: String,
    version: String,
    depth: prometheus::IntGauge,
    batch_size: prometheus::Histogram,
    series: ArcSwap<RoleSeries>,
}

impl VersionMetrics {
    pub fn new(metrics: Arc<Metrics>, stats: Arc<ModelStats>, model: &str, version: u64) -> Arc<Self> {
        let version = version.to_string();
        metrics.version_owners.claim(&[model, &version]);
        let depth = metrics.queue_depth.with_label_values(&[model, &version]);
        let batch_size = metrics.batch_size.with_label_values(&[model, &version]);
        let series = ArcSwap::from_pointee(RoleSeries::new(metrics.role.get()));
        Arc::new(VersionMetrics { metrics, stats, model: model.to_owned(), version, depth, batch_size, series })
    }

    pub fn stats(&self) -> &Arc<ModelStats> {
        &self.stats
    }

    /// The series for the current role; re-resolved when the role changes.
    fn series(&self) -> Arc<RoleSeries> {
        let current = self.series.load_full();
        let role = self.metrics.role.peek();
        if Arc::ptr_eq(&current.role, &role) {
            return current;
        }
        let fresh = Arc::new(RoleSeries::new(Arc::clone(&role)));
        self.series.store(fresh.clone());
        fresh
    }

    /// Moves the queue-depth gauge by the same step as the scheduler's own
    /// counter. Steps, not values: two requests queueing at once would
    /// otherwise race to set the gauge and could leave the older value.
    pub fn depth_changed(&self, step: i64) {
        if self.metrics.enabled {
            self.depth.add(step);
        }
    }

    pub fn observe_batch(&self, rows: usize, queue_waits: impl Iterator<Item = Duration>) {
        if !self.metrics.enabled {
            queue_waits.for_each(|wait| self.stats.queue.add(1, wait));
            return;
        }
        self.batch_size.observe(rows as f64);
        let series = self.series();
        let queue = series.queue.get_or_init(|| {
            self.metrics.queue_duration.with_label_values(&[&self.model, &self.version, series.role.as_str()])
        });
        for wait in queue_waits {
            queue.observe(wait.as_secs_f64());
            self.stats.queue.add(1, wait);
        }
    }

    /// One model call of `rows` rows serving `requests` requests: its model
    /// time goes to the compute histogram, and, when it succeeded, all three
    /// phases to the statistics extension.
    pub fn observe_compute(&self, rows: usize, requests: usize, times: ComputeTimes, succeeded: bool) {
        if succeeded {
            self.stats.record_batch(rows, requests, times);
        }
        let elapsed = times.infer;
        if self.metrics.enabled {
            let series = self.series();
            let compute = series.compute.get_or_init(|| {
                self.metrics.compute_duration.with_label_values(&[&self.model, &self.version, series.role.as_str()])
            });
            compute.observe(elapsed.as_secs_f64());
        }
    }

    /// One request this version answered, successfully or not.
    pub fn observe_request(&self, protocol: Protocol, elapsed: Duration, outcome: Result<(), &InferError>) {
        self.stats.record_request(outcome.is_ok(), elapsed);
        match outcome {
            Ok(()) if self.metrics.enabled => {
                let series = self.series();
                let (duration, ok) = series.requests[protocol as usize].get_or_init(|| {
                    let labels = [self.model.as_str(), &self.version, series.role.as_str(), protocol.as_str()];
                    let code = [self.model.as_str(), &self.version, series.role.as_str(), protocol.as_str(), "200"];
                    (
                        self.metrics.inference_duration.with_label_values(&labels),
                        self.metrics.requests_total.with_label_values(&code),
                    )
                });
                duration.observe(elapsed.as_secs_f64());
                ok.inc();
            }
            Ok(()) => {}
            Err(_) => self.metrics.observe_request(&self.model, &self.version, protocol, elapsed, outcome),
        }
    }
}

/// The version's series go when its last user does (the scheduler, its
/// instance threads and the handle all hold it), unless a reloaded copy of
/// the same version still writes them.
impl Drop for VersionMetrics {
    fn drop(&mut self) {
        let labels = [self.model.as_str(), self.version.as_str()];
        if self.metrics.version_owners.release(&labels) {
            let _ = self.metrics.queue_depth.remove_label_values(&labels);
            let _ = self.metrics.batch_size.remove_label_values(&labels);
        }
    }
}
