//! KServe's v1 data plane on the REST port, beside v2: model list and
//! readiness, `:predict` (rows or columns, see v1_codec), `:explain` (501),
//! and the `/v1/health/*` probes. Everything behind the transport (batching,
//! versions, limits, metrics with `protocol="v1"`) is shared with v2.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_core::InferError;
use sluice_core::metrics::Protocol;

use super::HttpState;
use super::compression::{decompress, request_encoding};
use super::error::ApiError;
use super::v1_codec;

type AppState = State<Arc<HttpState>>;

pub async fn list_models(State(state): AppState) -> Json<serde_json::Value> {
    Json(json!({ "models": state.inference.model_names_served() }))
}

/// `GET /v1/models/{m}`: `{"name", "ready"}`, 503 while not ready.
pub async fn model(State(state): AppState, Path(model): Path<String>) -> Result<Response, ApiError> {
    let ready = state.inference.model_ready(&model, None)?;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(json!({ "name": model, "ready": ready }))).into_response())
}

/// `POST /v1/models/{m}:predict` (or `:explain`).
pub async fn action(
    State(state): AppState,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (model, verb) = split_verb(&target)?;
    run(&state, model, "", verb, &headers, body).await
}

/// `POST /v1/models/{m}/versions/{v}:predict` (or `:explain`).
pub async fn version_action(
    State(state): AppState,
    Path((model, target)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (version, verb) = split_verb(&target)?;
    run(&state, &model, version, verb, &headers, body).await
}

fn split_verb(target: &str) -> Result<(&str, &str), InferError> {
    target.rsplit_once(':').ok_or_else(|| {
        InferError::NotFound(format!("no such endpoint: /v1/models/{target} (POST .../{target}:predict)"))
    })
}

async fn run(
    state: &HttpState,
    model: &str,
    version: &str,
    verb: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match verb {
        "predict" => {}
        "explain" => {
            let message = "sluice serves predictions only: :explain needs an explainer, which sluice does not run";
            return Ok((StatusCode::NOT_IMPLEMENTED, Json(json!({ "error": message }))).into_response());
        }
        other => return Err(InferError::NotFound(format!("unknown verb ':{other}' (use :predict)")).into()),
    }
    let call = state.inference.begin(Protocol::V1, model, version);
    let decoded = match call.version() {
        Ok(version) => decode(state, model, version, headers, body).await,
        Err(e) => Err(e),
    };
    let (request, layout) = match decoded {
        Ok(decoded) => decoded,
        Err(e) => return Err(state.inference.refuse(call, e).into()),
    };
    let response = state.inference.infer(call, request).await?;
    let body = v1_codec::encode(&response, layout)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn decode(
    state: &HttpState,
    model: &str,
    version: Option<u64>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(sluice_core::InferRequest, v1_codec::Layout), InferError> {
    let limit = state.max_request_bytes;
    let too_large = || {
        InferError::PayloadTooLarge(format!(
            "the request body exceeds the limit of {limit} bytes (--max-request-bytes)"
        ))
    };
    let encoding = request_encoding(headers)?;
    let mut body = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    if let Some(encoding) = encoding {
        body = decompress(body, encoding, limit).await?;
    }
    let limits = state.decode_limits();
    state
        .inference
        .with_input_specs(model, version, |specs| v1_codec::decode(&body, model.to_owned(), version, specs, limits))?
}
