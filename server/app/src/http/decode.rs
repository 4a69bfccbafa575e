//! REST request body -> `InferRequest`: v2 JSON, optionally followed by binary
//! tensor data (the `Inference-Header-Content-Length` extension).

use bytes::Bytes;
use serde::Deserialize;
use sluice_core::tensor::{concrete_shape, element_count};
use sluice_core::{DataType, InferError, InferRequest, ParamValue, Parameters, RequestedOutput, Tensor};

use super::json_data::FlatData;

type JsonParams = serde_json::Map<String, serde_json::Value>;

#[derive(Deserialize)]
struct RequestJson {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<JsonParams>,
    inputs: Vec<InputJson>,
    #[serde(default)]
    outputs: Option<Vec<OutputJson>>,
}

#[derive(Deserialize)]
struct InputJson {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<JsonParams>,
    #[serde(default)]
    data: Option<FlatData>,
}

#[derive(Deserialize)]
struct OutputJson {
    name: String,
    #[serde(default)]
    parameters: Option<JsonParams>,
}

/// Converts JSON parameters; nested values are kept as their JSON text.
pub fn parameters(json: Option<JsonParams>) -> Parameters {
    json.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::Bool(b) => ParamValue::Bool(b),
                serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => ParamValue::Int(i),
                    (None, Some(u)) => ParamValue::Uint(u),
                    _ => ParamValue::Double(n.as_f64().unwrap_or(f64::NAN)),
                },
                serde_json::Value::String(s) => ParamValue::Str(s),
                other => ParamValue::Str(other.to_string()),
            };
            (k, value)
        })
        .collect()
}

/// `binary_data_size` of a tensor, if it is sent in the binary section.
fn binary_size(params: &Parameters, name: &str) -> Result<Option<usize>, InferError> {
    match params.get("binary_data_size") {
        None => Ok(None),
        Some(ParamValue::Int(n)) if *n >= 0 => Ok(Some(*n as usize)),
        Some(ParamValue::Uint(n)) => usize::try_from(*n)
            .map(Some)
            .map_err(|_| InferError::invalid(format!("input '{name}': binary_data_size {n} is too large"))),
        Some(other) => Err(InferError::invalid(format!(
            "input '{name}': binary_data_size must be a non-negative integer, got {other:?}"
        ))),
    }
}

/// Decodes a request body. `header_length` is the value of
/// `Inference-Header-Content-Length`, when binary data follows the JSON.
pub fn decode(
    body: Bytes,
    header_length: Option<usize>,
    model_name: String,
    model_version: Option<u64>,
    max_elements: usize,
) -> Result<InferRequest, InferError> {
    let (json, mut binary) = match header_length {
        Some(n) if n > body.len() => {
            return Err(InferError::invalid(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )));
        }
        Some(n) => (body.slice(..n), body.slice(n..)),
        None => (body, Bytes::new()),
    };
    let request: RequestJson = serde_json::from_slice(&json)
        .map_err(|e| InferError::invalid(format!("malformed inference request JSON: {e}")))?;
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        let name = input.name;
        let datatype: DataType =
            input.datatype.parse().map_err(|e| InferError::invalid(format!("input '{name}': {e}")))?;
        let shape = concrete_shape(&input.shape).map_err(|e| InferError::invalid(format!("input '{name}': {e}")))?;
        let elements =
            element_count(&shape, max_elements).map_err(|e| InferError::invalid(format!("input '{name}': {e}")))?;
        let params = parameters(input.parameters);
        let data = match (binary_size(&params, &name)?, input.data) {
            (Some(_), Some(_)) => {
                return Err(InferError::invalid(format!(
                    "input '{name}' has both 'data' and binary_data_size; send one"
                )));
            }
            (Some(size), None) => {
                if size > binary.len() {
                    return Err(InferError::invalid(format!(
                        "input '{name}' declares binary_data_size {size} but only {} binary bytes remain",
                        binary.len()
                    )));
                }
                binary.split_to(size)
            }
            (None, Some(data)) => {
                let (bytes, count) =
                    data.encode(datatype).map_err(|e| InferError::invalid(format!("input '{name}': {e}")))?;
                if count != elements {
                    return Err(InferError::invalid(format!(
                        "input '{name}' has {count} values in 'data' but shape {shape:?} needs {elements}"
                    )));
                }
                bytes
            }
            (None, None) => {
                return Err(InferError::invalid(format!(
                    "input '{name}' has neither 'data' nor a binary_data_size parameter"
                )));
            }
        };
        inputs.push(Tensor::new(name, datatype, shape, data));
    }
    if !binary.is_empty() {
        return Err(InferError::invalid(format!(
            "{} bytes of binary data follow the JSON header but no input claims them",
            binary.len()
        )));
    }
    let outputs = request
        .outputs
        .unwrap_or_default()
        .into_iter()
        .map(|o| RequestedOutput { name: o.name, parameters: parameters(o.parameters) })
        .collect();
    Ok(InferRequest {
        model_name,
        model_version,
        id: request.id,
        parameters: parameters(request.parameters),
        inputs,
        outputs,
        timeout: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &str) -> Result<InferRequest, InferError> {
        decode(Bytes::from(body.to_owned()), None, "m".into(), None, 1 << 20)
    }

    #[test]
    fn decodes_json_inputs() {
        let req = run(r#"{"id":"7","inputs":[{"name":"x","shape":[1,2],"datatype":"INT32","data":[[1,2]]}],
            "outputs":[{"name":"y","parameters":{"binary_data":true}}]}"#)
        .expect("valid");
        assert_eq!(req.id.as_deref(), Some("7"));
        assert_eq!(&req.inputs[0].data[..], &[1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(req.outputs[0].parameters.get("binary_data"), Some(&ParamValue::Bool(true)));
    }

    #[test]
    fn decodes_binary_inputs() {
        let json = r#"{"inputs":[{"name":"x","shape":[2],"datatype":"UINT8","parameters":{"binary_data_size":2}}]}"#;
        let mut body = json.as_bytes().to_vec();
        body.extend_from_slice(&[7, 9]);
        let req = decode(Bytes::from(body), Some(json.len()), "m".into(), None, 100).expect("valid");
        assert_eq!(&req.inputs[0].data[..], &[7, 9]);
    }

    #[test]
    fn rejects_bad_requests_with_reasons() {
        let cases = [
            ("{", "malformed"),
            (r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FLOAT","data":[1,2]}]}"#, "unknown datatype"),
            (r#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#, "needs 3"),
            (r#"{"inputs":[{"name":"x","shape":[-2],"datatype":"FP32","data":[]}]}"#, "negative"),
            (
                r#"{"inputs":[{"name":"x","shape":[4294967296,4294967296],"datatype":"FP32","data":[]}]}"#,
                "more elements",
            ),
            (r#"{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[300]}]}"#, "not a valid UINT8"),
            (r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#, "neither"),
        ];
        for (body, expected) in cases {
            let err = run(body).expect_err(body);
            assert!(matches!(err, InferError::InvalidInput(_)), "{body}");
            assert!(err.to_string().contains(expected), "{err} should mention {expected}");
        }
    }
}
