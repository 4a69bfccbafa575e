//! sluice-core: tensors, the `Backend` contract, the model repository, the
//! dynamic batching scheduler and the `Inference` facade.
//!
//! No transport (axum, tonic) and no runtime (ort, candle) lives here: the app
//! wires those in, so the core can be tested and benchmarked on its own.

pub mod backend;
pub mod config_view;
pub mod control;
pub mod datatype;
pub mod elements;
pub mod error;
pub mod inference;
pub mod load_override;
pub mod local_registry;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod model_config;
pub mod model_spec;
pub mod registry;
pub mod registry_health;
pub mod repository;
pub mod request;
pub mod sample_rows;
pub mod sampling;
pub mod scheduler;
pub mod secret_file;
pub mod stats;
pub mod swap;
pub mod tensor;
pub mod uploads;
pub mod validate;
pub mod warmup;

pub use backend::{
    Backend, BackendKind, BackendLoader, Batch, BatchOutput, Device, LoadRequest, ModelMetadata, TensorSpec,
};
pub use control::{ControlMode, IndexEntry};
pub use datatype::DataType;
pub use error::{BackendError, InferError};
pub use inference::{Inference, ModelInfo, ModelState, ServerInfo};
pub use local_registry::LocalRegistry;
pub use model::{Loaders, ModelDefaults};
pub use model_config::{ModelConfig, VersionPolicy};
pub use registry::{ModelListing, ModelRegistry, RegistryError};
pub use request::{InferRequest, InferResponse, ParamValue, Parameters, RequestedOutput};
pub use tensor::Tensor;
pub use validate::Limits;
