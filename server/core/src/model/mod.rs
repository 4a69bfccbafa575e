//! What a model version is before it serves: the `Backend` contract
//! runtimes implement, tensor specs, model.toml and load-request overrides,
//! warm-up, and the version's files on disk.

pub mod backend;
pub mod config;
pub mod instances;
pub mod load_override;
pub mod repository;
pub mod spec;
pub mod warmup;

pub use backend::{Backend, BackendLoader, Batch, BatchOutput, LoadRequest, ModelMetadata};
pub use config::{ModelConfig, VersionPolicy};
pub use spec::{BackendKind, Device, TensorSpec};
