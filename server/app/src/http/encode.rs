//! `InferResponse` -> REST body: JSON, with outputs that asked for it sent as
//! binary after the JSON header.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sluice_core::{InferResponse, ParamValue, Parameters, RequestedOutput};

use super::INFERENCE_HEADER_CONTENT_LENGTH;
use super::compression::{Encoding, compress};
use super::json_data::DataView;

/// Which outputs go binary, decided from the request before it is consumed.
/// As Triton does it: an output listed in `outputs` is binary only if its
/// own `binary_data` says so; `binary_data_output` covers the outputs of a
/// request that lists none.
pub struct BinaryChoice {
    default: bool,
    per_output: Vec<(String, bool)>,
}

fn flag(params: &Parameters, key: &str) -> Option<bool> {
    match params.get(key) {
        Some(ParamValue::Bool(b)) => Some(*b),
        Some(ParamValue::Int(i)) => Some(*i != 0),
        _ => None,
    }
}

impl BinaryChoice {
    pub fn new(request_params: &Parameters, outputs: &[RequestedOutput]) -> Self {
        BinaryChoice {
            default: outputs.is_empty() && flag(request_params, "binary_data_output").unwrap_or(false),
            per_output: outputs
                .iter()
                .map(|o| (o.name.clone(), flag(&o.parameters, "binary_data").unwrap_or(false)))
                .collect(),
        }
    }

    fn is_binary(&self, name: &str) -> bool {
        self.per_output.iter().find(|(n, _)| n == name).map_or(self.default, |(_, b)| *b)
    }
}

#[derive(Serialize)]
struct ResponseJson<'a> {
    model_name: &'a str,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<OutputJson<'a>>,
}

#[derive(Serialize)]
struct OutputJson<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryParams>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataView<'a>>,
}

#[derive(Serialize)]
struct BinaryParams {
    binary_data_size: usize,
}

/// The response body, compressed with `compression` when the client asked
/// for it and it is not tiny (`Inference-Header-Content-Length` then counts
/// the uncompressed JSON, as in Triton).
pub fn encode(response: &InferResponse, choice: &BinaryChoice, compression: Option<Encoding>) -> Response {
    let mut binary: Vec<&[u8]> = Vec::new();
    let outputs = response
        .outputs
        .iter()
        .map(|t| {
            let is_binary = choice.is_binary(&t.name);
            if is_binary {
                binary.push(&t.data);
            }
            OutputJson {
                name: &t.name,
                datatype: t.datatype.as_str(),
                shape: &t.shape,
                parameters: is_binary.then_some(BinaryParams { binary_data_size: t.data.len() }),
                data: (!is_binary).then_some(DataView { datatype: t.datatype, data: &t.data }),
            }
        })
        .collect();
    let json = ResponseJson {
        model_name: &response.model_name,
        model_version: response.model_version.to_string(),
        id: response.id.as_deref(),
        outputs,
    };
    let binary_len: usize = binary.iter().map(|b| b.len()).sum();
    let mut body = Vec::with_capacity(256 + binary_len);
    if let Err(e) = serde_json::to_writer(&mut body, &json) {
        return super::error::ApiError(sluice_core::InferError::Backend(format!("cannot encode the response: {e}")))
            .into_response();
    }
    let header_len = body.len();
    let has_binary = !binary.is_empty();
    for chunk in binary {
        body.extend_from_slice(chunk);
    }
    let packed = compression.and_then(|encoding| Some((compress(&body, encoding)?, encoding)));
    let (body, encoding) = match packed {
        Some((packed, encoding)) => (packed, Some(encoding)),
        None => (body, None),
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.as_str()));
    }
    if has_binary {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(INFERENCE_HEADER_CONTENT_LENGTH, HeaderValue::from(header_len));
    } else {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}
