//! Request decode and response encode for each wire format, for a 1-row and
//! a 64-row `fraud-detection` request: REST JSON, REST binary, gRPC protobuf.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;
use serde_json::json;
use sluice::grpc::convert;
use sluice::http::decode::{DecodeLimits, decode};
use sluice::http::encode::{BinaryChoice, encode};
use sluice_core::{DataType, InferResponse, Parameters, Tensor};
use sluice_proto::ModelInferRequest;
use sluice_proto::model_infer_request::InferInputTensor;

fn features(rows: usize) -> Vec<f32> {
    (0..rows * 30).map(|i| (i % 17) as f32 * 0.125 - 1.0).collect()
}

fn response(rows: usize) -> InferResponse {
    let probs: Vec<u8> = (0..rows * 2).flat_map(|i| (i as f32 * 0.01).to_le_bytes()).collect();
    InferResponse {
        model_name: "fraud-detection".into(),
        model_version: 2,
        id: None,
        outputs: vec![Tensor::new("probabilities", DataType::Fp32, vec![rows, 2], probs.into())],
    }
}

fn bench(c: &mut Criterion) {
    let limit = 1 << 24;
    let decode_limits = DecodeLimits { max_elements: limit, max_json_depth: 100 };
    for rows in [1usize, 64] {
        let x = features(rows);
        let json_body = Bytes::from(
            json!({ "inputs": [{ "name": "features", "shape": [rows, 30], "datatype": "FP32", "data": x }] })
                .to_string(),
        );
        c.bench_function(&format!("decode/rest_json/{rows}"), |b| {
            b.iter(|| {
                decode(json_body.clone(), None, "fraud-detection".into(), None, decode_limits).map(|r| r.inputs.len())
            })
        });

        let header = json!({ "inputs": [{ "name": "features", "shape": [rows, 30], "datatype": "FP32",
                                          "parameters": { "binary_data_size": x.len() * 4 } }] })
        .to_string();
        let mut binary = header.clone().into_bytes();
        binary.extend(x.iter().flat_map(|v| v.to_le_bytes()));
        let binary = Bytes::from(binary);
        c.bench_function(&format!("decode/rest_binary/{rows}"), |b| {
            b.iter(|| {
                decode(binary.clone(), Some(header.len()), "fraud-detection".into(), None, decode_limits)
                    .map(|r| r.inputs.len())
            })
        });

        let message = ModelInferRequest {
            model_name: "fraud-detection".into(),
            inputs: vec![InferInputTensor {
                name: "features".into(),
                datatype: "FP32".into(),
                shape: vec![rows as i64, 30],
                ..Default::default()
            }],
            raw_input_contents: vec![x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()],
            ..Default::default()
        };
        let wire = Bytes::from(message.encode_to_vec());
        c.bench_function(&format!("decode/grpc_protobuf/{rows}"), |b| {
            b.iter(|| {
                let message = ModelInferRequest::decode(wire.clone()).map_err(|e| e.to_string())?;
                convert::request(message, limit).map(|r| r.inputs.len()).map_err(|e| e.to_string())
            })
        });

        let out = response(rows);
        let json_choice = BinaryChoice::new(&Parameters::new(), &[]);
        c.bench_function(&format!("encode/rest_json/{rows}"), |b| b.iter(|| encode(&out, &json_choice, None)));
        let mut all_binary = Parameters::new();
        all_binary.insert("binary_data_output".into(), sluice_core::ParamValue::Bool(true));
        let binary_choice = BinaryChoice::new(&all_binary, &[]);
        c.bench_function(&format!("encode/rest_binary/{rows}"), |b| b.iter(|| encode(&out, &binary_choice, None)));
        c.bench_function(&format!("encode/grpc_protobuf/{rows}"), |b| {
            b.iter(|| convert::response(out.clone()).encode_to_vec().len())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
