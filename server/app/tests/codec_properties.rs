//! Property tests for the tensor codecs: for every datatype and shape (empty
//! dimensions included), a tensor sent as REST JSON, REST binary, gRPC raw
//! contents or gRPC typed contents decodes to exactly the same tensor, and a
//! response encoded as REST JSON, REST binary or gRPC carries exactly its
//! values back.

use bytes::Bytes;
use half::{bf16, f16};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice::grpc::convert;
use sluice::http::decode::{DecodeLimits, decode};
use sluice::http::encode::{BinaryChoice, encode};
use sluice_core::{DataType, InferResponse, ParamValue, Parameters, Tensor};
use sluice_proto::model_infer_request::InferInputTensor;
use sluice_proto::{InferTensorContents, ModelInferRequest};

const LIMITS: DecodeLimits = DecodeLimits { max_elements: 1 << 20, max_json_depth: 100 };

/// One element's little-endian bytes (BYTES: length prefix and content).
fn element(datatype: DataType) -> BoxedStrategy<Vec<u8>> {
    // Floats come from small multiples of 1/4, exact in every float type, so
    // JSON's decimal numbers round-trip them bit for bit.
    let float = (-4096i32..4096).prop_map(|q| q as f64 / 4.0);
    match datatype {
        DataType::Bool => any::<bool>().prop_map(|b| vec![u8::from(b)]).boxed(),
        DataType::Uint8 => any::<u8>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Uint16 => any::<u16>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Uint32 => any::<u32>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Uint64 => any::<u64>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Int8 => any::<i8>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Int16 => any::<i16>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Int32 => any::<i32>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Int64 => any::<i64>().prop_map(|v| v.to_le_bytes().to_vec()).boxed(),
        DataType::Fp16 => float.prop_map(|v| f16::from_f64(v).to_le_bytes().to_vec()).boxed(),
        DataType::Bf16 => float.prop_map(|v| bf16::from_f64(v).to_le_bytes().to_vec()).boxed(),
        DataType::Fp32 => float.prop_map(|v| (v as f32).to_le_bytes().to_vec()).boxed(),
        DataType::Fp64 => prop_oneof![float, any::<f64>().prop_filter("finite", |v| v.is_finite())]
            .prop_map(|v| v.to_le_bytes().to_vec())
            .boxed(),
        // Printable ASCII so that JSON strings carry them unchanged.
        DataType::Bytes => proptest::collection::vec(0x20u8..0x7f, 0..12)
            .prop_map(|s| {
                let mut out = (s.len() as u32).to_le_bytes().to_vec();
                out.extend(s);
                out
            })
            .boxed(),
    }
}

/// A tensor of any datatype with up to three dimensions of 0 to 4.
fn tensor() -> impl Strategy<Value = Tensor> {
    (proptest::sample::select(DataType::ALL.to_vec()), proptest::collection::vec(0usize..5, 1..4)).prop_flat_map(
        |(datatype, shape)| {
            let count: usize = shape.iter().product();
            proptest::collection::vec(element(datatype), count)
                .prop_map(move |elements| Tensor::new("x", datatype, shape.clone(), Bytes::from(elements.concat())))
        },
    )
}

/// The tensor's values as JSON, as a v2 client writes them.
fn json_values(t: &Tensor) -> Vec<Value> {
    let d = &t.data[..];
    let fixed = |n: usize| d.chunks_exact(n);
    match t.datatype {
        DataType::Bool => d.iter().map(|&b| json!(b != 0)).collect(),
        DataType::Uint8 => d.iter().map(|&b| json!(b)).collect(),
        DataType::Uint16 => fixed(2).map(|c| json!(u16::from_le_bytes([c[0], c[1]]))).collect(),
        DataType::Uint32 => fixed(4).map(|c| json!(u32::from_le_bytes(c.try_into().expect("4 bytes")))).collect(),
        DataType::Uint64 => fixed(8).map(|c| json!(u64::from_le_bytes(c.try_into().expect("8 bytes")))).collect(),
        DataType::Int8 => d.iter().map(|&b| json!(b as i8)).collect(),
        DataType::Int16 => fixed(2).map(|c| json!(i16::from_le_bytes([c[0], c[1]]))).collect(),
        DataType::Int32 => fixed(4).map(|c| json!(i32::from_le_bytes(c.try_into().expect("4 bytes")))).collect(),
        DataType::Int64 => fixed(8).map(|c| json!(i64::from_le_bytes(c.try_into().expect("8 bytes")))).collect(),
        DataType::Fp16 => fixed(2).map(|c| json!(f16::from_le_bytes([c[0], c[1]]).to_f64())).collect(),
        DataType::Bf16 => fixed(2).map(|c| json!(bf16::from_le_bytes([c[0], c[1]]).to_f64())).collect(),
        DataType::Fp32 => fixed(4).map(|c| json!(f32::from_le_bytes(c.try_into().expect("4 bytes")))).collect(),
        DataType::Fp64 => fixed(8).map(|c| json!(f64::from_le_bytes(c.try_into().expect("8 bytes")))).collect(),
        DataType::Bytes => strings(d).into_iter().map(|s| json!(String::from_utf8(s).expect("ascii"))).collect(),
    }
}

fn strings(mut d: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while d.len() >= 4 {
        let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
        out.push(d[4..4 + n].to_vec());
        d = &d[4 + n..];
    }
    out
}

fn same(decoded: &Tensor, sent: &Tensor) -> Result<(), TestCaseError> {
    prop_assert_eq!(decoded.datatype, sent.datatype);
    prop_assert_eq!(&decoded.shape, &sent.shape);
    prop_assert_eq!(&decoded.data[..], &sent.data[..]);
    Ok(())
}

fn decode_rest(body: Vec<u8>, header_len: Option<usize>) -> Result<Tensor, String> {
    let request = decode(Bytes::from(body), header_len, "m".into(), None, LIMITS).map_err(|e| e.to_string())?;
    Ok(request.inputs.into_iter().next().expect("one input"))
}

fn response_of(t: &Tensor) -> InferResponse {
    InferResponse { model_name: "m".into(), model_version: 1, id: None, outputs: vec![t.clone()] }
}

fn body_of(response: axum::response::Response) -> (Option<usize>, Vec<u8>) {
    let header = response.headers().get("inference-header-content-length").and_then(|v| v.to_str().ok()?.parse().ok());
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let bytes = runtime.block_on(response.into_body().collect()).expect("body").to_bytes();
    (header, bytes.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rest_json_requests_decode_to_the_tensor_sent(t in tensor()) {
        let body = json!({ "inputs": [{ "name": "x", "shape": t.shape, "datatype": t.datatype.as_str(),
                                        "data": json_values(&t) }] });
        let decoded = decode_rest(serde_json::to_vec(&body).expect("json"), None);
        same(&decoded.map_err(TestCaseError::fail)?, &t)?;
    }

    #[test]
    fn rest_binary_requests_decode_to_the_tensor_sent(t in tensor()) {
        let header = serde_json::to_vec(&json!({ "inputs": [{ "name": "x", "shape": t.shape,
            "datatype": t.datatype.as_str(), "parameters": { "binary_data_size": t.data.len() } }] }))
            .expect("json");
        let mut body = header.clone();
        body.extend_from_slice(&t.data);
        same(&decode_rest(body, Some(header.len())).map_err(TestCaseError::fail)?, &t)?;
    }

    #[test]
    fn grpc_raw_contents_decode_to_the_tensor_sent(t in tensor()) {
        let message = ModelInferRequest {
            model_name: "m".into(),
            inputs: vec![InferInputTensor { name: "x".into(), datatype: t.datatype.as_str().into(),
                shape: t.shape.iter().map(|&d| d as i64).collect(), ..Default::default() }],
            raw_input_contents: vec![t.data.clone()],
            ..Default::default()
        };
        let request = convert::request(message, 1 << 20).map_err(|e| TestCaseError::fail(e.to_string()))?;
        same(&request.inputs[0], &t)?;
    }

    #[test]
    fn grpc_typed_contents_decode_to_the_tensor_sent(t in tensor()) {
        // FP16 and BF16 have no typed field in the protocol: raw contents only.
        prop_assume!(!matches!(t.datatype, DataType::Fp16 | DataType::Bf16));
        let values = json_values(&t);
        let mut contents = InferTensorContents::default();
        match t.datatype {
            DataType::Bool => contents.bool_contents = values.iter().map(|v| v.as_bool().expect("bool")).collect(),
            DataType::Uint8 | DataType::Uint16 | DataType::Uint32 =>
                contents.uint_contents = values.iter().map(|v| v.as_u64().expect("uint") as u32).collect(),
            DataType::Uint64 => contents.uint64_contents = values.iter().map(|v| v.as_u64().expect("u64")).collect(),
            DataType::Int8 | DataType::Int16 | DataType::Int32 =>
                contents.int_contents = values.iter().map(|v| v.as_i64().expect("int") as i32).collect(),
            DataType::Int64 => contents.int64_contents = values.iter().map(|v| v.as_i64().expect("i64")).collect(),
            DataType::Fp32 => contents.fp32_contents = values.iter().map(|v| v.as_f64().expect("f32") as f32).collect(),
            DataType::Fp64 => contents.fp64_contents = values.iter().map(|v| v.as_f64().expect("f64")).collect(),
            DataType::Bytes => contents.bytes_contents = strings(&t.data).into_iter().map(Bytes::from).collect(),
            DataType::Fp16 | DataType::Bf16 => unreachable!("assumed away"),
        }
        let message = ModelInferRequest {
            model_name: "m".into(),
            inputs: vec![InferInputTensor { name: "x".into(), datatype: t.datatype.as_str().into(),
                shape: t.shape.iter().map(|&d| d as i64).collect(), contents: Some(contents), ..Default::default() }],
            ..Default::default()
        };
        let request = convert::request(message, 1 << 20).map_err(|e| TestCaseError::fail(e.to_string()))?;
        same(&request.inputs[0], &t)?;
    }

    #[test]
    fn responses_carry_the_values_back(t in tensor()) {
        // REST JSON: the same values a client would have sent.
        let (header, body) = body_of(encode(&response_of(&t), &BinaryChoice::new(&Parameters::default(), &[]), None));
        prop_assert!(header.is_none());
        let json: Value = serde_json::from_slice(&body).expect("json");
        prop_assert_eq!(&json["outputs"][0]["data"], &Value::Array(json_values(&t)));
        prop_assert_eq!(&json["outputs"][0]["shape"], &json!(t.shape));

        // REST binary: the raw bytes after the JSON header.
        let mut params = Parameters::default();
        params.insert("binary_data_output".into(), ParamValue::Bool(true));
        let (header, body) = body_of(encode(&response_of(&t), &BinaryChoice::new(&params, &[]), None));
        let header = header.expect("binary responses say where the JSON ends");
        prop_assert_eq!(&body[header..], &t.data[..]);

        // gRPC: raw output contents.
        let message = convert::response(response_of(&t));
        prop_assert_eq!(&message.raw_output_contents[0][..], &t.data[..]);
        prop_assert_eq!(&message.outputs[0].datatype, t.datatype.as_str());
    }
}
