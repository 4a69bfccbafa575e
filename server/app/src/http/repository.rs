//! REST side of the model-repository extension: `POST /v2/repository/index`,
//! `POST /v2/repository/models/{m}/load` and `.../unload`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sluice_core::InferError;
use sluice_core::model::load_override::LoadOverride;

use super::HttpState;
use super::error::ApiError;
use crate::admin::authorize;

/// Repository requests other than load are small JSON documents.
const MAX_BODY: usize = 1 << 20;

type AppState = State<Arc<HttpState>>;

pub async fn index(State(state): AppState, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    check_token(&state, &headers)?;
    let body = read_json(body, MAX_BODY).await?;
    let ready = match body.get("ready") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(ready)) => *ready,
        Some(other) => return Err(InferError::invalid(format!("'ready' must be a boolean, not {other}")).into()),
    };
    let rows: Vec<Value> = state
        .lifecycle
        .repository_index(ready)
        .await
        .into_iter()
        .map(|row| {
            let mut entry = json!({ "name": row.name, "state": row.state.as_str() });
            if let Some(version) = row.version {
                entry["version"] = json!(version.to_string());
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
    // Model files may ride along (base64), so the inference body limit applies.
    let body = read_json(body, state.max_request_bytes).await?;
    let parameters = match body.get("parameters") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(parameters)) => parameters.clone(),
        Some(other) => return Err(InferError::invalid(format!("'parameters' must be an object, not {other}")).into()),
    };
    let mut overrides = None;
    let mut files = Vec::new();
    for (key, value) in parameters {
        match (key.as_str(), value) {
            ("config", Value::String(config)) => overrides = Some(LoadOverride::parse(&config)?),
            ("config", other) => {
                return Err(InferError::invalid(format!("'config' must be a JSON string, not {other}")).into());
            }
            (key, Value::String(encoded)) if key.starts_with("file:") => {
                let content = BASE64.decode(encoded.as_bytes()).map_err(|e| {
                    InferError::invalid(format!("parameter '{key}' must be base64-encoded file content: {e}"))
                })?;
                files.push((key["file:".len()..].to_owned(), content.into()));
            }
            (key, _) if key.starts_with("file:") => {
                return Err(InferError::invalid(format!("parameter '{key}' must be a base64 string")).into());
            }
            _ => {}
        }
    }
    state.lifecycle.load(&model, overrides, files).await?;
    Ok(empty_ok())
}

pub async fn unload(
    State(state): AppState,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    read_json(body, MAX_BODY).await?;
    state.lifecycle.unload(&model).await?;
    Ok(empty_ok())
}

fn check_token(state: &HttpState, headers: &HeaderMap) -> Result<(), InferError> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    authorize(state.admin_token.as_deref(), given)
}

/// The optional JSON object body (an empty body is `{}`).
async fn read_json(body: Body, limit: usize) -> Result<Value, InferError> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| InferError::PayloadTooLarge(format!("this repository request is limited to {limit} bytes")))?;
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
