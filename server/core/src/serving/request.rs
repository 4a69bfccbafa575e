//! Transport-neutral inference requests and responses.

use std::collections::BTreeMap;
use std::time::Duration;

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
    /// A deadline set by the transport (a gRPC deadline); the `timeout`
    /// parameter, in microseconds as in Triton, is read by the core.
    pub timeout: Option<Duration>,
}

impl InferRequest {
    /// The tighter of the transport deadline and the `timeout` parameter.
    pub fn effective_timeout(&self) -> Result<Option<Duration>, crate::InferError> {
        let parameter = match self.parameters.get("timeout") {
            None => None,
            Some(ParamValue::Int(us)) if *us > 0 => Some(Duration::from_micros(*us as u64)),
            Some(ParamValue::Uint(us)) if *us > 0 => Some(Duration::from_micros(*us)),
            Some(other) => {
                return Err(crate::InferError::invalid(format!(
                    "parameter 'timeout' must be a positive integer (microseconds), got {other:?}"
                )));
            }
        };
        Ok(match (parameter, self.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
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
