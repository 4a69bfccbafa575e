//! The request side: loaded versions (handles) and the model table requests
//! are routed by, request and response types, input validation, sampling,
//! the configuration a version reports, and the infer call itself.

pub mod classification;
pub mod config_view;
pub mod handle;
pub mod inference;
pub mod info;
pub mod model_table;
pub mod request;
pub mod sample_rows;
pub mod sampling;
pub mod validate;
