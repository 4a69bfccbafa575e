//! One handler per REST route.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use sluice_core::metrics::Protocol;
use sluice_core::metrics::stats::{CountedDuration, StatsSnapshot};
use sluice_core::serving::request::parse_version;
use sluice_core::{InferError, InferRequest, Inference, ModelInfo};

use super::compression::{decompress, request_encoding, response_encoding};
use super::config_json::config_json;
use super::decode::{DecodeLimits, decode, decode_raw};
use super::encode::{BinaryChoice, encode};
use super::error::ApiError;
use super::{HttpState, INFERENCE_HEADER_CONTENT_LENGTH};

type AppState = State<Arc<HttpState>>;

pub async fn server_metadata(State(state): AppState) -> Json<serde_json::Value> {
    let info = state.inference.server_info();
    Json(json!({ "name": info.name, "version": info.version, "extensions": info.extensions }))
}

pub async fn live(State(state): AppState) -> Response {
    live_of(State(state.inference.clone())).await
}

pub async fn ready(State(state): AppState) -> Response {
    ready_of(State(state.inference.clone())).await
}

pub async fn live_of(State(inference): State<Arc<Inference>>) -> Response {
    let live = inference.live();
    let status = if live { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "live": live }))).into_response()
}

pub async fn ready_of(State(inference): State<Arc<Inference>>) -> Response {
    let ready = inference.ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready }))).into_response()
}

fn metadata_json(info: ModelInfo) -> Json<serde_json::Value> {
    let tensors = |specs: &[sluice_core::TensorSpec]| {
        specs
            .iter()
            .map(|s| json!({ "name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape }))
            .collect::<Vec<_>>()
    };
    Json(json!({
        "name": info.name,
        "versions": info.versions.iter().map(u64::to_string).collect::<Vec<_>>(),
        "platform": info.platform,
        "inputs": tensors(&info.inputs),
        "outputs": tensors(&info.outputs),
    }))
}

pub async fn model_metadata(
    State(state): AppState,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(metadata_json(state.inference.model_metadata(&model, None)?))
}

pub async fn model_version_metadata(
    State(state): AppState,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let version = parse_version(&version)?;
    Ok(metadata_json(state.inference.model_metadata(&model, version)?))
}

pub async fn model_config(
    State(state): AppState,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(config_json(&state.inference.model_config(&model, None)?)))
}

pub async fn model_version_config(
    State(state): AppState,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let version = parse_version(&version)?;
    Ok(Json(config_json(&state.inference.model_config(&model, version)?)))
}

fn ready_response(state: &HttpState, model: &str, version: Option<u64>) -> Result<Response, ApiError> {
    let ready = state.inference.model_ready(model, version)?;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(json!({ "name": model, "ready": ready }))).into_response())
}

pub async fn model_ready(State(state): AppState, Path(model): Path<String>) -> Result<Response, ApiError> {
    ready_response(&state, &model, None)
}

pub async fn model_version_ready(
    State(state): AppState,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ready_response(&state, &model, parse_version(&version)?)
}

pub async fn infer(
    State(state): AppState,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    run_infer(&state, &model, "", &headers, body).await
}

pub async fn infer_version(
    State(state): AppState,
    Path((model, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    run_infer(&state, &model, &version, &headers, body).await
}

async fn run_infer(
    state: &HttpState,
    model: &str,
    version: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let call = state.inference.begin(Protocol::Rest, model, version);
    let decoded = match call.version() {
        Ok(version) => read_request(state, model.to_owned(), version, headers, body).await,
        Err(e) => Err(e),
    };
    let request = match decoded {
        Ok(request) => request,
        Err(e) => return Err(state.inference.refuse(call, e).into()),
    };
    let choice = BinaryChoice::new(&request.parameters, &request.outputs);
    let response = state.inference.infer(call, request).await?;
    Ok(encode(&response, &choice, response_encoding(headers)))
}

/// Reads the body within the size limit and decodes it.
async fn read_request(
    state: &HttpState,
    model: String,
    version: Option<u64>,
    headers: &HeaderMap,
    body: Body,
) -> Result<InferRequest, InferError> {
    let header_length = header_length(headers)?;
    let encoding = request_encoding(headers)?;
    let limit = state.max_request_bytes;
    let too_large = || {
        InferError::PayloadTooLarge(format!(
            "the request body exceeds the limit of {limit} bytes (--max-request-bytes)"
        ))
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    if let Some(encoding) = encoding {
        body = decompress(body, encoding, limit).await?;
    }
    if header_length == Some(0) {
        let info = state.inference.model_metadata(&model, version)?;
        let Some(input) = info.inputs.first() else {
            return Err(InferError::invalid(format!("model '{model}' has no inputs")));
        };
        let max_elements = state.decode_limits().max_elements;
        return decode_raw(body, input, info.inputs.len(), model, version, max_elements);
    }
    decode(body, header_length, model, version, state.decode_limits())
}

fn statistics_json(snapshots: Vec<StatsSnapshot>) -> Json<serde_json::Value> {
    let duration = |d: CountedDuration| json!({ "count": d.count, "ns": d.ns });
    let stats: Vec<serde_json::Value> = snapshots
        .into_iter()
        .map(|s| {
            json!({
                "name": s.name,
                "version": s.version.to_string(),
                "last_inference": s.last_inference_ms,
                "inference_count": s.inference_count,
                "execution_count": s.execution_count,
                "inference_stats": {
                    "success": duration(s.success),
                    "fail": duration(s.fail),
                    "queue": duration(s.queue),
                    "compute_input": duration(s.compute_input),
                    "compute_infer": duration(s.compute_infer),
                    "compute_output": duration(s.compute_output),
                },
                "batch_stats": s.batches.iter().map(|b| json!({
                    "batch_size": b.batch_size,
                    "compute_input": duration(b.compute_input),
                    "compute_infer": duration(b.compute_infer),
                    "compute_output": duration(b.compute_output),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "model_stats": stats }))
}

pub async fn all_statistics(State(state): AppState) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(statistics_json(state.inference.model_statistics(None, None)?))
}

pub async fn model_statistics(
    State(state): AppState,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(statistics_json(state.inference.model_statistics(Some(&model), None)?))
}

pub async fn model_version_statistics(
    State(state): AppState,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let version = parse_version(&version)?;
    Ok(statistics_json(state.inference.model_statistics(Some(&model), version)?))
}

/// Prometheus text exposition of every registered metric.
/// The OpenAPI 3 document of this REST API (server/app/openapi.json).
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../../openapi.json")).into_response()
}

pub async fn metrics(State(state): AppState) -> Response {
    render_metrics(&state.metrics_registry)
}

pub fn render_metrics(metrics_registry: &prometheus::Registry) -> Response {
    use prometheus::Encoder;
    let encoder = prometheus::TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&metrics_registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, encoder.format_type().to_owned())], body).into_response(),
        Err(e) => ApiError(InferError::Backend(format!("cannot encode metrics: {e}"))).into_response(),
    }
}

fn header_length(headers: &HeaderMap) -> Result<Option<usize>, InferError> {
    headers
        .get(INFERENCE_HEADER_CONTENT_LENGTH)
        .map(|v| {
            v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()).ok_or_else(|| {
                InferError::invalid(format!("Inference-Header-Content-Length {v:?} is not a byte count"))
            })
        })
        .transpose()
}

impl HttpState {
    pub(super) fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits { max_elements: self.inference.limits().max_tensor_elements, max_json_depth: self.max_json_depth }
    }
}

pub async fn no_route(uri: Uri) -> ApiError {
    ApiError(InferError::NotFound(format!("no such endpoint: {}", uri.path())))
}

pub async fn wrong_method(method: Method, uri: Uri) -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": format!("{method} is not allowed on {}", uri.path()) })))
        .into_response()
}
