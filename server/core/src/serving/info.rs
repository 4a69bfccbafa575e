//! What the protocol's metadata endpoints report about the server and a model.

use crate::model::TensorSpec;

/// Model metadata as the protocol reports it.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub versions: Vec<u64>,
    pub platform: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Server metadata as the protocol reports it.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub extensions: &'static [&'static str],
}

pub const SERVER_INFO: ServerInfo = ServerInfo {
    name: "sluice",
    version: env!("CARGO_PKG_VERSION"),
    extensions: &[
        "binary_tensor_data",
        "classification",
        "model_configuration",
        "model_repository",
        "sampling",
        "statistics",
    ],
};
