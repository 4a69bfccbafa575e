//! Transport-neutral inference requests and responses.

use std::collections::BTreeMap;

use crate::tensor::Tensor;

/// A request or tensor parameter value (the protocol's `InferParameter`).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
}

pub type Parameters = BTreeMap<String, ParamValue>;

/// An output the client asked for, with its parameters (e.g. `binary_data`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedOutput {
    pub name: String,
    pub parameters: Parameters,
}

#[derive(Debug, Clone)]
pub struct InferRequest {
    pub model_name: String,
    /// `None` means the newest loaded version.
    pub model_version: Option<u64>,
    pub id: Option<String>,
    pub parameters: Parameters,
    pub inputs: Vec<Tensor>,
    /// Empty means every output of the model.
    pub outputs: Vec<RequestedOutput>,
}

#[derive(Debug, Clone)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: u64,
    pub id: Option<String>,
    /// In the order requested, or the model's order when none were named.
    pub outputs: Vec<Tensor>,
}

/// Parses a protocol version string: empty means "newest".
pub fn parse_version(text: &str) -> Result<Option<u64>, crate::InferError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .ok()
        .filter(|&v| v > 0)
        .map(Some)
        .ok_or_else(|| crate::InferError::invalid(format!("model version '{text}' is not a positive integer")))
}
