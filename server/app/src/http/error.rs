//! The one mapping from `InferError` to an HTTP response: a status and
//! `{"error": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sluice_core::InferError;

pub struct ApiError(pub InferError);

impl From<InferError> for ApiError {
    fn from(e: InferError) -> Self {
        ApiError(e)
    }
}

pub fn status_of(error: &InferError) -> StatusCode {
    StatusCode::from_u16(error.http_status().code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let mut response = (status, Json(serde_json::json!({ "error": self.0.to_string() }))).into_response();
        if matches!(self.0, InferError::Overloaded(_)) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// axum answers a request its extractors reject (a malformed path or query
/// string) in plain text; every error of this API is `{"error": "..."}`.
pub async fn json_rejections(response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    let failed = response.status().is_client_error() || response.status().is_server_error();
    if !(plain && failed) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = Json(serde_json::json!({ "error": message })).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}
