//! REST request body -> `InferRequest`: v2 JSON, optionally followed by binary
//! tensor data (the `Inference-Header-Content-Length` extension).

use bytes::Bytes;
use serde::Deserialize;
use sluice_core::tensor::{concrete_shape, element_count};
use sluice_core::{DataType, InferError, InferRequest, ParamValue, Parameters, RequestedOutput, Tensor, TensorSpec};

use super::json_data::FlatData;
use super::json_depth::exceeds_depth;

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

/// What a request body may hold.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_elements: usize,
    /// Deepest nesting of JSON arrays and objects.
    pub max_json_depth: usize,
}

/// Decodes a request body. `header_length` is the value of
/// `Inference-Header-Content-Length`, when binary data follows the JSON.
pub fn decode(
    body: Bytes,
    header_length: Option<usize>,
    model_name: String,
    model_version: Option<u64>,
    limits: DecodeLimits,
) -> Result<InferRequest, InferError> {
    let max_elements = limits.max_elements;
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
    if exceeds_depth(&json, limits.max_json_depth) {
        return Err(InferError::invalid(format!(
            "the request JSON nests deeper than {} levels (--max-json-depth)",
            limits.max_json_depth
        )));
    }
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

/// Triton's raw binary request (`Inference-Header-Content-Length: 0`): the
/// whole body is the data of the model's single input. Its shape follows
/// from the byte count when the input has one dynamic dimension; a BYTES
/// input takes the body as one element.
pub fn decode_raw(
    body: Bytes,
    input: &TensorSpec,
    inputs: usize,
    model_name: String,
    model_version: Option<u64>,
    max_elements: usize,
) -> Result<InferRequest, InferError> {
    if inputs != 1 {
        return Err(InferError::invalid(format!(
            "a raw binary request (Inference-Header-Content-Length: 0) needs a model with one input; \
             '{model_name}' has {inputs}"
        )));
    }
    let name = input.name.clone();
    let dynamic = input.shape.iter().filter(|&&d| d < 0).count();
    let (shape, data): (Vec<usize>, Bytes) = match input.datatype.element_size() {
        None => {
            let shape = input.shape.iter().map(|_| 1usize).collect();
            let mut data = Vec::with_capacity(body.len() + 4);
            sluice_core::tensor::push_string(&mut data, &body);
            (shape, Bytes::from(data))
        }
        Some(size) => {
            let fixed: usize = input.shape.iter().filter(|&&d| d >= 0).map(|&d| d as usize).product();
            let per_unit = fixed * size;
            if dynamic > 1
                || per_unit == 0
                || !body.len().is_multiple_of(per_unit)
                || (dynamic == 0 && body.len() != per_unit)
            {
                return Err(InferError::invalid(format!(
                    "a raw binary body of {} bytes does not fit input '{name}' ({} {:?}): the shape must follow \
                     from the byte count",
                    body.len(),
                    input.datatype,
                    input.shape
                )));
            }
            let units = body.len() / per_unit;
            let shape = input.shape.iter().map(|&d| if d < 0 { units } else { d as usize }).collect();
            (shape, body)
        }
    };
    let elements =
        element_count(&shape, max_elements).map_err(|e| InferError::invalid(format!("input '{name}': {e}")))?;
    debug_assert!(elements > 0 || data.is_empty());
    Ok(InferRequest {
        model_name,
        model_version,
        id: None,
        parameters: Parameters::default(),
        inputs: vec![Tensor::new(name, input.datatype, shape, data)],
        outputs: Vec::new(),
        timeout: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits { max_elements: 1 << 20, max_json_depth: 100 };

    fn run(body: &str) -> Result<InferRequest, InferError> {
        decode(Bytes::from(body.to_owned()), None, "m".into(), None, LIMITS)
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
        let limits = DecodeLimits { max_elements: 100, ..LIMITS };
        let req = decode(Bytes::from(body), Some(json.len()), "m".into(), None, limits).expect("valid");
        assert_eq!(&req.inputs[0].data[..], &[7, 9]);
    }

    #[test]
    fn rejects_bad_requests_with_reasons() {
        let too_deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
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
            (too_deep.as_str(), "deeper than 100"),
        ];
        for (body, expected) in cases {
            let err = run(body).expect_err(body);
            assert!(matches!(err, InferError::InvalidInput(_)), "{body}");
            assert!(err.to_string().contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn raw_binary_bodies_take_their_shape_from_the_byte_count() {
        let spec = |datatype, shape: &[i64]| TensorSpec { name: "x".into(), datatype, shape: shape.to_vec() };
        let body = Bytes::from(vec![0u8; 3 * 30 * 4]);
        let req = decode_raw(body.clone(), &spec(DataType::Fp32, &[-1, 30]), 1, "m".into(), None, 1 << 20).expect("ok");
        assert_eq!(req.inputs[0].shape, vec![3, 30]);
        let odd = decode_raw(body.slice(..7), &spec(DataType::Fp32, &[-1, 30]), 1, "m".into(), None, 1 << 20);
        assert!(odd.expect_err("7 bytes").to_string().contains("does not fit input 'x'"));
        let two = decode_raw(body.clone(), &spec(DataType::Fp32, &[-1, 30]), 2, "m".into(), None, 1 << 20);
        assert!(two.expect_err("two inputs").to_string().contains("one input"));
        let text = decode_raw(Bytes::from_static(b"hello"), &spec(DataType::Bytes, &[-1]), 1, "m".into(), None, 9);
        let text = text.expect("BYTES");
        assert_eq!((text.inputs[0].shape.clone(), &text.inputs[0].data[..]), (vec![1], &b"\x05\0\0\0hello"[..]));
    }
}
