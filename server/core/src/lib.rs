//! sluice-core: tensors, the model contract, the dynamic batching scheduler,
//! the model lifecycle and the request side (`Inference`).
//!
//! No transport (axum, tonic) and no runtime (ort, candle) lives here: the app
//! wires those in, so the core can be tested and benchmarked on its own.
//!
//! - `tensor`: tensors, datatypes and element codecs.
//! - `model`: the `Backend` contract, tensor specs, model.toml, load
//!   overrides, warm-up and a version's on-disk layout.
//! - `scheduler`: per-version queues, dynamic batching, instance threads.
//! - `lifecycle`: registries, control modes, the repository API and swaps.
//! - `serving`: loaded versions and the model table, request validation,
//!   sampling and the infer call both transports make.
//! - `metrics`: Prometheus series and Triton-style statistics.

pub mod defaults;
pub mod error;
pub mod lifecycle;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod scheduler;
pub mod secret_file;
pub mod serving;
pub mod tensor;

pub use error::{BackendError, HttpStatus, InferError, LoadError};
pub use lifecycle::local_registry::LocalRegistry;
pub use lifecycle::registry::{ModelListing, ModelRegistry, RegistryError};
pub use lifecycle::{ControlMode, IndexEntry, IndexState, Lifecycle};
pub use model::{
    Backend, BackendKind, BackendLoader, Batch, BatchOutput, Device, LoadRequest, ModelConfig, ModelMetadata,
    TensorSpec, VersionPolicy,
};
pub use serving::handle::{Loaders, ModelDefaults};
pub use serving::inference::{InferCall, Inference};
pub use serving::info::{ModelInfo, ServerInfo};
pub use serving::model_table::{ModelState, ModelTable};
pub use serving::request::{InferRequest, InferResponse, ParamValue, Parameters, RequestedOutput};
pub use serving::validate::Limits;
pub use tensor::Tensor;
pub use tensor::datatype::DataType;
