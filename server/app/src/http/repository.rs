//! REST side of the model-repository extension: `POST /v2/repository/index`,
//! `POST /v2/repository/models/{m}/load` and `.../unload`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sluice_core::InferError;
use sluice_core::swap::policy_from_load_config;

use super::HttpState;
use super::error::ApiError;
use crate::admin::authorize;

/// Repository requests are small JSON documents.
const MAX_BODY: usize = 1 << 20;

type AppState = State<Arc<HttpState>>;

pub async fn index(State(state): AppState, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    check_token(&state, &headers)?;
    let body = read_json(body).await?;
    let ready = match body.get("ready") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(ready)) => *ready,
        Some(other) => return Err(InferError::invalid(format!("'ready' must be a boolean, not {other}")).into()),
    };
    let rows: Vec<Value> = state
        .inference
        .repository_index(ready)
        .await
        .into_iter()
        .map(|row| {
            let mut entry = json!({ "name": row.name, "state": row.state });
            if !row.version.is_empty() {
                entry["version"] = json!(row.version);
            }
            if !row.reason.is_empty() {
                entry["reason"] = json!(row.reason);
            }
            entry
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}

pub async fn load(
    State(state): AppState,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    let body = read_json(body).await?;
    let policy = match body.get("parameters").and_then(|p| p.get("config")) {
        None | Some(Value::Null) => None,
        Some(Value::String(config)) => Some(policy_from_load_config(config)?),
        Some(other) => return Err(InferError::invalid(format!("'config' must be a JSON string, not {other}")).into()),
    };
    state.inference.load(&model, policy).await?;
    Ok(empty_ok())
}

pub async fn unload(
    State(state): AppState,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    read_json(body).await?;
    state.inference.unload(&model).await?;
    Ok(empty_ok())
}

fn check_token(state: &HttpState, headers: &HeaderMap) -> Result<(), InferError> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    authorize(state.admin_token.as_deref(), given)
}

/// The optional JSON object body (an empty body is `{}`).
async fn read_json(body: Body) -> Result<Value, InferError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| InferError::PayloadTooLarge(format!("repository requests are limited to {MAX_BODY} bytes")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| InferError::invalid(format!("invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(InferError::invalid("the request body must be a JSON object"));
    }
    Ok(value)
}

fn empty_ok() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}
