//! The one error enum every request path returns. Each transport maps it once,
//! exhaustively (HTTP status and gRPC code).

/// Why an inference or metadata call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferError {
    /// The request is malformed or does not match the model.
    #[error("{0}")]
    InvalidInput(String),
    /// No such model, or no such version of it.
    #[error("{0}")]
    NotFound(String),
    /// The model exists but is not loaded and warmed up yet.
    #[error("{0}")]
    Unavailable(String),
    /// The request body or message exceeds the configured size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The queue is full; the client should retry later.
    #[error("{0}")]
    Overloaded(String),
    /// The request's deadline passed before it could run.
    #[error("{0}")]
    Timeout(String),
    /// The backend failed while running the model.
    #[error("{0}")]
    Backend(String),
    /// A protected endpoint (the repository API) was called without the
    /// admin token.
    #[error("{0}")]
    Unauthenticated(String),
}

impl InferError {
    /// A short, stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            InferError::InvalidInput(_) => "invalid_input",
            InferError::NotFound(_) => "not_found",
            InferError::Unavailable(_) => "unavailable",
            InferError::PayloadTooLarge(_) => "too_large",
            InferError::Overloaded(_) => "overloaded",
            InferError::Timeout(_) => "timeout",
            InferError::Backend(_) => "backend",
            InferError::Unauthenticated(_) => "unauthenticated",
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        InferError::InvalidInput(msg.into())
    }
}

/// A backend failed to load, warm up or run a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

impl BackendError {
    pub fn new(msg: impl Into<String>) -> Self {
        BackendError(msg.into())
    }
}
