//! The errors of the core: `InferError` (every request path returns it; its
//! HTTP status is decided here, once, for REST answers and metric labels
//! alike; gRPC maps it to a code in its transport), `LoadError` (why a model
//! version did not load) and `BackendError` (what a runtime reports).

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

    /// The HTTP status this error answers with: REST responses use it, and
    /// so does the `code` label of the request metrics for every transport,
    /// so one query covers REST and gRPC.
    pub fn http_status(&self) -> HttpStatus {
        let (code, label) = match self {
            InferError::InvalidInput(_) => (400, "400"),
            InferError::Unauthenticated(_) => (401, "401"),
            InferError::NotFound(_) => (404, "404"),
            InferError::PayloadTooLarge(_) => (413, "413"),
            InferError::Overloaded(_) => (429, "429"),
            InferError::Backend(_) => (500, "500"),
            InferError::Unavailable(_) => (503, "503"),
            InferError::Timeout(_) => (504, "504"),
        };
        HttpStatus { code, label }
    }
}

/// An HTTP status as a number and as a metric label (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpStatus {
    pub code: u16,
    pub label: &'static str,
}

/// What a model runtime reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The runtime's section of model.toml is invalid, or the model asks for
    /// what this runtime or build cannot do (a device, a datatype).
    #[error("{0}")]
    Config(String),
    /// The model file could not be read, or the runtime rejected it.
    #[error("{0}")]
    Load(String),
    /// A tensor could not cross into or out of the runtime.
    #[error("{0}")]
    Tensor(String),
    /// The runtime failed while running a batch.
    #[error("{0}")]
    Run(String),
}

/// Why one model version did not load. Only `Download` is the registry's
/// fault and retried as is; the others wait for the version to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    /// The registry could not be reached, or the version vanished or changed
    /// while it was downloaded.
    #[error("{0}")]
    Download(String),
    /// The files do not match their sha256 in metadata.json, or the registry
    /// served something that is not a model version.
    #[error("{0}")]
    Verify(String),
    /// model.toml (with its load override) cannot work with this model or
    /// this build: no such backend, batching the model cannot do, bad
    /// `[warmup]` samples.
    #[error("{0}")]
    Config(String),
    /// The runtime could not load the model.
    #[error("{0}")]
    Backend(#[from] BackendError),
    /// The model loaded but failed its warm-up calls.
    #[error("{0}")]
    Warmup(String),
    /// The version's model threads could not be started.
    #[error("cannot start model threads: {0}")]
    Start(String),
    /// Loading would take a GPU past `--gpu-memory-budget`, or its memory
    /// could not be measured to know.
    #[error("{0}")]
    GpuMemory(String),
}

impl LoadError {
    /// A short, stable label for logs: which step failed.
    pub fn stage(&self) -> &'static str {
        match self {
            LoadError::Download(_) => "download",
            LoadError::Verify(_) => "verify",
            LoadError::Config(_) => "config",
            LoadError::Backend(_) => "backend_load",
            LoadError::Warmup(_) => "warmup",
            LoadError::Start(_) => "start",
            LoadError::GpuMemory(_) => "gpu_memory",
        }
    }

    /// Whether trying the same version again may succeed (the registry's
    /// fault, not the version's).
    pub fn is_transient(&self) -> bool {
        matches!(self, LoadError::Download(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_labels_agree() {
        let all = [
            InferError::InvalidInput(String::new()),
            InferError::NotFound(String::new()),
            InferError::Unavailable(String::new()),
            InferError::PayloadTooLarge(String::new()),
            InferError::Overloaded(String::new()),
            InferError::Timeout(String::new()),
            InferError::Backend(String::new()),
            InferError::Unauthenticated(String::new()),
        ];
        for error in all {
            let status = error.http_status();
            assert_eq!(status.label, status.code.to_string(), "{error:?}");
        }
        assert_eq!(InferError::Overloaded(String::new()).http_status().code, 429);
    }

    #[test]
    fn only_downloads_are_retried_as_is() {
        assert!(LoadError::Download("gone".into()).is_transient());
        assert!(!LoadError::Backend(BackendError::Load("bad".into())).is_transient());
        assert_eq!(LoadError::Warmup("x".into()).stage(), "warmup");
    }
}
