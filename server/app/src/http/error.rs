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
    match error {
        InferError::InvalidInput(_) => StatusCode::BAD_REQUEST,
        InferError::NotFound(_) => StatusCode::NOT_FOUND,
        InferError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        InferError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        InferError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
        InferError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        InferError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        InferError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
    }
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
