//! Every v2 datatype through JSON, the binary extension and gRPC.

use super::*;
use common::all_types::{assert_echoed, json_request};

/// One [2, 2] input per datatype, contents left to the caller.
pub(crate) fn all_types_inputs(values: &[(&str, Value)]) -> Vec<InferInputTensor> {
    values
        .iter()
        .map(|(dt, _)| InferInputTensor {
            name: format!("INPUT_{dt}"),
            datatype: (*dt).into(),
            shape: vec![2, 2],
            ..Default::default()
        })
        .collect()
}

pub(crate) fn raw_bytes(datatype: &str, value: &Value) -> Vec<u8> {
    use sluice_core::tensor::elements::ElementWriter;
    let dt: sluice_core::DataType = datatype.parse().expect("datatype");
    let mut w = ElementWriter::new(dt, 4);
    for v in flat(value) {
        match v {
            Value::Bool(b) => w.push_bool(b),
            Value::String(s) => w.push_bytes(s.as_bytes()),
            Value::Number(n) if n.is_u64() => w.push_u64(n.as_u64().expect("u64")),
            Value::Number(n) if n.is_i64() => w.push_i64(n.as_i64().expect("i64")),
            Value::Number(n) => w.push_f64(n.as_f64().expect("f64")),
            other => panic!("unexpected {other}"),
        }
        .expect("fits");
    }
    w.finish().to_vec()
}

#[tokio::test]
async fn every_datatype_round_trips_over_json_binary_and_grpc() {
    let server = Server::ready(repository_config(testdata_repository())).await;
    let values = all_types_values();

    // REST, JSON data (nested arrays).
    let (status, body) = server.post_json("/v2/models/all-types/infer", &json_request(&values)).await;
    assert_eq!(status, 200, "{body}");
    assert_echoed(&body, &values);

    // REST, binary data both ways.
    let mut binary = Vec::new();
    let inputs: Vec<Value> = values
        .iter()
        .map(|(dt, data)| {
            let raw = raw_bytes(dt, data);
            let input = json!({ "name": format!("INPUT_{dt}"), "datatype": dt, "shape": [2, 2],
                                "parameters": { "binary_data_size": raw.len() } });
            binary.push(raw);
            input
        })
        .collect();
    let header = json!({ "inputs": inputs, "parameters": { "binary_data_output": true } }).to_string();
    let (head, bytes) = post_binary(&server, "/v2/models/all-types/infer", &header, &binary).await;
    let mut at = 0;
    let mut rest_binary_out = HashMap::new();
    for out in head["outputs"].as_array().expect("outputs") {
        let size = out["parameters"]["binary_data_size"].as_u64().expect("size") as usize;
        rest_binary_out.insert(out["name"].as_str().expect("name").to_owned(), bytes[at..at + size].to_vec());
        at += size;
    }
    assert_eq!(at, bytes.len());

    // gRPC, raw contents both ways; then typed contents where the type has a field.
    let mut grpc = server.grpc().await;
    let request = ModelInferRequest {
        model_name: "all-types".into(),
        inputs: all_types_inputs(&values),
        raw_input_contents: binary.iter().map(|b| b.clone().into()).collect(),
        ..Default::default()
    };
    let response = grpc.model_infer(request).await.expect("ModelInfer").into_inner();
    for ((dt, data), (out, raw)) in values.iter().zip(response.outputs.iter().zip(&response.raw_output_contents)) {
        assert_eq!(out.name, format!("OUTPUT_{dt}"));
        assert_eq!(raw.to_vec(), raw_bytes(dt, data), "gRPC raw {dt}");
        assert_eq!(raw.to_vec(), rest_binary_out[&out.name], "REST binary and gRPC agree on {dt}");
    }

    let typed = |dt: &str, data: &Value| -> InferTensorContents {
        let f = flat(data);
        let mut c = InferTensorContents::default();
        match dt {
            "BOOL" => c.bool_contents = f.iter().map(|v| v.as_bool().expect("bool")).collect(),
            "INT8" | "INT16" | "INT32" => c.int_contents = f.iter().map(|v| v.as_i64().expect("int") as i32).collect(),
            "INT64" => c.int64_contents = f.iter().map(|v| v.as_i64().expect("int")).collect(),
            "UINT8" | "UINT16" | "UINT32" => {
                c.uint_contents = f.iter().map(|v| v.as_u64().expect("uint") as u32).collect()
            }
            "UINT64" => c.uint64_contents = f.iter().map(|v| v.as_u64().expect("uint")).collect(),
            "FP32" => c.fp32_contents = f.iter().map(|v| v.as_f64().expect("float") as f32).collect(),
            "FP64" => c.fp64_contents = f.iter().map(|v| v.as_f64().expect("float")).collect(),
            "BYTES" => {
                c.bytes_contents = f.iter().map(|v| v.as_str().expect("str").as_bytes().to_vec().into()).collect()
            }
            _ => unreachable!(),
        }
        c
    };
    let request = ModelInferRequest {
        model_name: "all-types".into(),
        inputs: values
            .iter()
            .filter(|(dt, _)| !matches!(*dt, "FP16" | "BF16"))
            .map(|(dt, data)| InferInputTensor {
                name: format!("INPUT_{dt}"),
                datatype: (*dt).into(),
                shape: vec![2, 2],
                contents: Some(typed(dt, data)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    // FP16/BF16 have no typed field: the model still needs them, so the
    // typed request must fail with a clear message...
    let err = grpc.model_infer(request.clone()).await.expect_err("missing FP16");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("missing input 'INPUT_FP16'"), "{}", err.message());
    // ...and mixing typed contents for some with raw for others is not allowed
    // by the protocol, so send FP16/BF16 typed as an error case too.
    let mut fp16 = request.clone();
    fp16.inputs.push(InferInputTensor {
        name: "INPUT_FP16".into(),
        datatype: "FP16".into(),
        shape: vec![2, 2],
        contents: Some(InferTensorContents { fp32_contents: vec![0.5; 4], ..Default::default() }),
        ..Default::default()
    });
    let err = grpc.model_infer(fp16).await.expect_err("FP16 typed");
    assert!(err.message().contains("raw_input_contents"), "{}", err.message());
}
