//! The one mapping from `InferError` to a gRPC status.

use sluice_core::InferError;
use tonic::{Code, Status};

pub fn code_of(error: &InferError) -> Code {
    match error {
        InferError::InvalidInput(_) => Code::InvalidArgument,
        InferError::NotFound(_) => Code::NotFound,
        InferError::Unavailable(_) => Code::Unavailable,
        InferError::PayloadTooLarge(_) => Code::ResourceExhausted,
        InferError::Overloaded(_) => Code::ResourceExhausted,
        InferError::Timeout(_) => Code::DeadlineExceeded,
        InferError::Backend(_) => Code::Internal,
        InferError::Unauthenticated(_) => Code::Unauthenticated,
    }
}

pub fn to_status(error: InferError) -> Status {
    Status::new(code_of(&error), error.to_string())
}
