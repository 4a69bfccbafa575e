//! Triton's own behaviour where its tools depend on it: raw binary
//! requests, `binary_data_output` next to listed outputs, duplicate output
//! names, the JSON nesting limit. Each over REST, and gRPC where the
//! protocol has the case.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use sluice_proto::*;

const FRAUD: &str = "/v2/models/fraud-detection/versions/1/infer";

fn raw_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[tokio::test]
async fn raw_binary_requests_carry_the_single_input_in_the_body() {
    let server = Server::ready(repository_config(models_dir())).await;
    let x = features(3, 7);
    let (status, json_answer) = server.post_json(FRAUD, &json!({ "inputs": [fp32_input("features", 3, &x)] })).await;
    assert_eq!(status, 200, "{json_answer}");
    let (status, raw_answer) = server.post_raw(FRAUD, raw_f32(&x), Some(0)).await;
    assert_eq!(status, 200, "{raw_answer}");
    assert_eq!(raw_answer["outputs"][0]["shape"], json!([3, 2]));
    assert_eq!(raw_answer["outputs"], json_answer["outputs"], "the same numbers as a JSON request");

    let (status, body) = server.post_raw(FRAUD, vec![0u8; 7], Some(0)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("does not fit input 'features'")), "{body}");
}

#[tokio::test]
async fn raw_binary_requests_need_a_model_with_one_input() {
    let server = Server::ready(repository_config(testdata_repository())).await;
    let (status, body) = server.post_raw("/v2/models/simple_string/infer", b"12".to_vec(), Some(0)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("needs a model with one input")), "{body}");
}

/// Requests the fraud model's one output with these request-level and
/// output-level parameters; returns whether the answer carried it as binary.
async fn answered_binary(server: &Server, request_params: Value, output: Option<Value>) -> bool {
    let mut request = json!({ "inputs": [fp32_input("features", 1, &features(1, 3))], "parameters": request_params });
    if let Some(output) = output {
        request["outputs"] = json!([output]);
    }
    let response = server.client.post(server.url(FRAUD)).json(&request).send().await.expect("POST");
    assert_eq!(response.status(), 200);
    response.headers().contains_key("inference-header-content-length")
}

#[tokio::test]
async fn binary_data_output_covers_only_outputs_not_listed_as_tritons_does() {
    let server = Server::ready(repository_config(models_dir())).await;
    let all_binary = json!({ "binary_data_output": true });
    assert!(answered_binary(&server, all_binary.clone(), None).await, "no outputs listed: all binary");
    let listed = json!({ "name": "probabilities" });
    assert!(!answered_binary(&server, all_binary.clone(), Some(listed)).await, "listed without binary_data: JSON");
    let listed_binary = json!({ "name": "probabilities", "parameters": { "binary_data": true } });
    assert!(answered_binary(&server, json!({}), Some(listed_binary)).await, "binary_data on the output");
    let listed_json = json!({ "name": "probabilities", "parameters": { "binary_data": false } });
    assert!(!answered_binary(&server, all_binary, Some(listed_json)).await);
}

#[tokio::test]
async fn an_output_requested_twice_is_refused_over_rest_and_grpc() {
    let server = Server::ready(repository_config(models_dir())).await;
    let request = json!({
        "inputs": [fp32_input("features", 1, &features(1, 5))],
        "outputs": [{ "name": "probabilities" }, { "name": "probabilities" }],
    });
    let (status, body) = server.post_json(FRAUD, &request).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("requested more than once")), "{body}");

    let output = InferRequestedOutputTensor { name: "probabilities".into(), ..Default::default() };
    let request = ModelInferRequest {
        model_name: "fraud-detection".into(),
        inputs: vec![InferInputTensor {
            name: "features".into(),
            datatype: "FP32".into(),
            shape: vec![1, 30],
            contents: Some(InferTensorContents { fp32_contents: features(1, 5), ..Default::default() }),
            ..Default::default()
        }],
        outputs: vec![output.clone(), output],
        ..Default::default()
    };
    let status = server.grpc().await.model_infer(request).await.expect_err("duplicate outputs");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("requested more than once"), "{}", status.message());
}

#[tokio::test]
async fn json_nested_past_the_limit_is_refused_and_the_limit_is_configurable() {
    let nested = |depth: usize| format!("{{\"inputs\":{}{}}}", "[".repeat(depth - 1), "]".repeat(depth - 1));
    let server = Server::ready(repository_config(models_dir())).await;
    let (status, body) = server.post_raw(FRAUD, nested(101).into_bytes(), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("deeper than 100 levels")), "{body}");
    let (status, body) = server.post_raw(FRAUD, nested(100).into_bytes(), None).await;
    assert_eq!(status, 400, "within the limit it is parsed (and refused for what it says): {body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.contains("deeper than")), "{body}");

    let mut config = repository_config(models_dir());
    config.max_json_depth = 4;
    let strict = Server::ready(config).await;
    let (status, body) =
        strict.post_json(FRAUD, &json!({ "inputs": [fp32_input("features", 1, &features(1, 1))] })).await;
    assert_eq!(status, 200, "object, inputs, input, data: four levels: {body}");
    let nested_data = json!({ "inputs": [{ "name": "features", "datatype": "FP32", "shape": [1, 30],
                                           "data": [features(1, 1)] }] });
    let (status, body) = strict.post_json(FRAUD, &nested_data).await;
    assert_eq!(status, 400, "{body}");
}
