//! The request side both transports call: health, metadata, statistics and
//! the infer call itself. It reads the model table; `Lifecycle` changes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::classification;
use super::info::{ModelInfo, SERVER_INFO, ServerInfo};
use super::model_table::{ModelState, ModelTable, unknown_model};
use super::request::RequestedOutput;
use super::request::{InferRequest, InferResponse, parse_version};
use super::sample_rows::SampledRows;
use super::validate::{Limits, check_inputs, select_outputs};
use crate::error::InferError;
use crate::metrics::stats::StatsSnapshot;
use crate::metrics::{Metrics, Protocol, UNKNOWN_MODEL};
use crate::model::TensorSpec;
use crate::scheduler::Arrival;
use crate::serving::config_view::ModelConfigView;
use crate::serving::handle::ModelHandle;
use crate::tensor::Tensor;

pub struct Inference {
    table: Arc<ModelTable>,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// Set at SIGTERM: not ready, still serving.
    draining: AtomicBool,
}

/// One infer request as a transport received it: timed from its first byte,
/// with the model and version as the client addressed them.
pub struct InferCall {
    started: Instant,
    protocol: Protocol,
    model: String,
    version: Result<Option<u64>, InferError>,
}

impl InferCall {
    /// The version addressed, parsed (`""` is the newest).
    pub fn version(&self) -> Result<Option<u64>, InferError> {
        self.version.clone()
    }

    pub fn model(&self) -> &str {
        &self.model
    }
}

impl Inference {
    pub fn new(table: Arc<ModelTable>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        Inference { table, limits, metrics, draining: AtomicBool::new(false) }
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
        !self.draining.load(Ordering::Acquire) && self.table.all_loaded()
    }

    /// From now on readiness is false (a SIGTERM arrived): load balancers
    /// stop sending requests while those already routed are still served.
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::Release);
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
        let mut names = self.table.names();
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

    /// The configuration of the version a request would reach (`version`, or
    /// the newest loaded one).
    pub fn model_config(&self, name: &str, version: Option<u64>) -> Result<ModelConfigView, InferError> {
        Ok(ModelConfigView::of(self.resolve(name, version)?.as_ref()))
    }

    /// Starts one infer call: the clock runs from here, so what the
    /// transport spends decoding counts in the request's latency.
    pub fn begin(&self, protocol: Protocol, model: &str, version: &str) -> InferCall {
        InferCall { started: Instant::now(), protocol, model: model.to_owned(), version: parse_version(version) }
    }

    /// Runs a call with what the transport decoded, or records why it could
    /// not decode it: `infer` or `refuse`.
    pub async fn finish(
        &self,
        call: InferCall,
        decoded: Result<InferRequest, InferError>,
    ) -> Result<InferResponse, InferError> {
        match decoded {
            Ok(request) => self.infer(call, request).await,
            Err(e) => Err(self.refuse(call, e)),
        }
    }

    /// Records a call whose request could not be decoded; returns the error.
    pub fn refuse(&self, call: InferCall, error: InferError) -> InferError {
        self.reject(&call.model, call.version.ok().flatten(), call.protocol, call.started.elapsed(), &error);
        error
    }

    /// Runs one decoded request; every outcome lands in the request metrics
    /// once, timed from the call's start.
    pub async fn infer(&self, call: InferCall, request: InferRequest) -> Result<InferResponse, InferError> {
        let (started, protocol) = (call.started, call.protocol);
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
        // gRPC is HTTP/2; REST clients speak HTTP/1 (an h2c REST client
        // is served as well, just without callers leading batches' worth).
        let arrival = if protocol == Protocol::Grpc { Arrival::PerStream } else { Arrival::PerConnection };
        let result = self.run(&handle, request, arrival).instrument(span.clone()).await;
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
    ) -> Result<(SampledRows, f64), InferError> {
        let handle = self.resolve(model, Some(version))?;
        let page = handle.sampler.read(since, limit);
        Ok((SampledRows::from_page(page, since), handle.sampler.rate()))
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

    /// Records a request that failed before it reached a model version.
    fn reject(&self, model: &str, version: Option<u64>, protocol: Protocol, elapsed: Duration, error: &InferError) {
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

    async fn run(
        &self,
        handle: &ModelHandle,
        request: InferRequest,
        arrival: Arrival,
    ) -> Result<InferResponse, InferError> {
        let timeout = request.effective_timeout()?;
        let wanted = select_outputs(&handle.name, &handle.metadata, &request.outputs)?;
        // A classification the output cannot give is refused before compute.
        for (asked, &index) in request.outputs.iter().zip(&wanted) {
            classification::check(&asked.name, &asked.parameters, &handle.metadata.outputs[index])?;
        }
        let checked =
            check_inputs(&handle.name, &handle.metadata, handle.config.max_batch_size, request.inputs, self.limits)?;
        // Tensor clones share their bytes: the sampler copies only what it keeps.
        let sampled = handle.sampler.should_sample().then(|| checked.inputs.clone());
        let outputs = handle.scheduler.submit_as(checked.inputs, checked.rows, timeout, arrival).await?;
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
        let outputs = classify_requested(handle, &request.outputs, outputs)?;
        Ok(InferResponse { model_name: handle.name.clone(), model_version: handle.version, id: request.id, outputs })
    }
}

/// Replaces each output requested with `classification: k` by its top-k
/// classes; `outputs` are in the order of `requested` when it is not empty.
fn classify_requested(
    handle: &ModelHandle,
    requested: &[RequestedOutput],
    mut outputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, InferError> {
    for (asked, output) in requested.iter().zip(outputs.iter_mut()) {
        if let Some(k) = classification::requested_count(&asked.name, &asked.parameters)? {
            let batched = handle.config.max_batch_size > 0;
            *output = classification::classify(output, k, batched, handle.labels.of(&asked.name))?;
        }
    }
    Ok(outputs)
}
