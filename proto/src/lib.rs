//! Generated gRPC types for the Open Inference Protocol v2 (package `inference`).
//!
//! Wire compatible with KServe's `grpc_predict_v2.proto` and the matching
//! subset of Triton's `grpc_service.proto`, so unmodified `tritonclient` and
//! `kserve` clients can talk to sluice.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod inference {
    tonic::include_proto!("inference");
}

pub use inference::*;
