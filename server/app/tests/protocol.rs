//! The v2 protocol end to end, every case over REST and over gRPC, against the
//! bundled models and the all-types test model.

mod common;
#[path = "protocol/datatypes.rs"]
mod datatypes;

use std::collections::HashMap;

use common::all_types::{all_types_values, flat};
use common::*;
use datatypes::{all_types_inputs, raw_bytes};
use serde_json::{Value, json};
use sluice_proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use sluice_proto::*;

async fn rest_json(server: &Server, model: &str, version: Option<u64>, rows: usize, x: &[f32]) -> (String, Vec<f32>) {
    let path = match version {
        Some(v) => format!("/v2/models/{model}/versions/{v}/infer"),
        None => format!("/v2/models/{model}/infer"),
    };
    let (status, body) = server.post_json(&path, &json!({ "inputs": [fp32_input("features", rows, x)] })).await;
    assert_eq!(status, 200, "{body}");
    let out = &body["outputs"][0];
    assert_eq!(out["name"], "probabilities");
    assert_eq!(out["shape"], json!([rows, 2]));
    (body["model_version"].as_str().expect("version").to_owned(), f32s(&out["data"]))
}

async fn rest_binary(server: &Server, model: &str, rows: usize, x: &[f32]) -> Vec<f32> {
    let header = json!({
        "inputs": [{ "name": "features", "shape": [rows, 30], "datatype": "FP32",
                     "parameters": { "binary_data_size": x.len() * 4 } }],
        "outputs": [{ "name": "probabilities", "parameters": { "binary_data": true } }]
    })
    .to_string();
    let binary: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (head, data) = post_binary(server, &format!("/v2/models/{model}/infer"), &header, &[binary]).await;
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], rows * 2 * 4);
    assert!(head["outputs"][0].get("data").is_none());
    le_f32s(&data)
}

/// POSTs a JSON header followed by binary tensors; returns the response's
/// JSON header and the binary data after it.
async fn post_binary(server: &Server, path: &str, header: &str, binary: &[Vec<u8>]) -> (Value, Vec<u8>) {
    let mut body = header.as_bytes().to_vec();
    binary.iter().for_each(|b| body.extend_from_slice(b));
    let response = server
        .client
        .post(server.url(path))
        .header("Inference-Header-Content-Length", header.len())
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let json_len: usize =
        response.headers()["inference-header-content-length"].to_str().expect("ascii").parse().expect("n");
    let bytes = response.bytes().await.expect("body");
    let head: Value = serde_json::from_slice(&bytes[..json_len]).expect("json header");
    (head, bytes[json_len..].to_vec())
}

fn grpc_request(model: &str, version: &str, rows: usize, x: &[f32], raw: bool) -> ModelInferRequest {
    let contents = (!raw).then(|| InferTensorContents { fp32_contents: x.to_vec(), ..Default::default() });
    ModelInferRequest {
        model_name: model.into(),
        model_version: version.into(),
        id: "req-7".into(),
        inputs: vec![InferInputTensor {
            name: "features".into(),
            datatype: "FP32".into(),
            shape: vec![rows as i64, 30],
            contents,
            ..Default::default()
        }],
        raw_input_contents: if raw {
            vec![x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

async fn grpc_infer(
    server: &Server,
    model: &str,
    version: &str,
    rows: usize,
    x: &[f32],
    raw: bool,
) -> (String, Vec<f32>) {
    let response = server
        .grpc()
        .await
        .model_infer(grpc_request(model, version, rows, x, raw))
        .await
        .expect("ModelInfer")
        .into_inner();
    assert_eq!(response.id, "req-7");
    assert_eq!(response.outputs[0].shape, vec![rows as i64, 2]);
    (response.model_version, le_f32s(&response.raw_output_contents[0]))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[tokio::test]
async fn health_and_metadata_over_both_transports() {
    let server = Server::ready(repository_config(models_dir())).await;
    assert_eq!(server.get("/v2/health/live").await, (200, json!({ "live": true })));
    assert_eq!(server.get("/v2/health/ready").await, (200, json!({ "ready": true })));
    let (status, meta) = server.get("/v2").await;
    assert_eq!(status, 200);
    assert_eq!(meta["name"], "sluice");
    assert!(meta["extensions"].as_array().expect("list").contains(&json!("binary_tensor_data")));

    let (status, meta) = server.get("/v2/models/fraud-detection").await;
    assert_eq!(status, 200);
    assert_eq!(meta["versions"], json!(["1", "2"]));
    assert_eq!(meta["platform"], "onnxruntime_onnx");
    assert_eq!(meta["inputs"], json!([{ "name": "features", "datatype": "FP32", "shape": [-1, 30] }]));
    assert_eq!(meta["outputs"], json!([{ "name": "probabilities", "datatype": "FP32", "shape": [-1, 2] }]));
    let (_, v1) = server.get("/v2/models/fraud-detection/versions/1").await;
    assert_eq!(v1["versions"], json!(["1"]));
    let (_, candle) = server.get("/v2/models/fraud-detection-candle").await;
    assert_eq!(candle["platform"], "candle");
    assert_eq!(candle["inputs"], meta["inputs"]);
    assert_eq!(server.get("/v2/models/fraud-detection/ready").await.0, 200);
    assert_eq!(server.get("/v2/models/fraud-detection/versions/2/ready").await.0, 200);
    assert_eq!(server.get("/v2/models/fraud-detection/versions/3/ready").await.0, 503);

    let mut grpc = server.grpc().await;
    assert!(grpc.server_live(ServerLiveRequest {}).await.expect("live").into_inner().live);
    assert!(grpc.server_ready(ServerReadyRequest {}).await.expect("ready").into_inner().ready);
    let ready = grpc.model_ready(ModelReadyRequest { name: "fraud-detection".into(), version: "1".into() }).await;
    assert!(ready.expect("model ready").into_inner().ready);
    let server_meta = grpc.server_metadata(ServerMetadataRequest {}).await.expect("metadata").into_inner();
    assert_eq!(server_meta.name, "sluice");
    let model_meta = grpc
        .model_metadata(ModelMetadataRequest { name: "fraud-detection".into(), version: String::new() })
        .await
        .expect("model metadata")
        .into_inner();
    assert_eq!(model_meta.versions, vec!["1", "2"]);
    assert_eq!(model_meta.inputs[0].shape, vec![-1, 30]);
    assert_eq!(model_meta.outputs[0].name, "probabilities");

    // grpc.health.v1 follows readiness.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc)).expect("uri");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.connect().await.expect("connect"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await;
        if status.expect("health").into_inner().status == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "health never turned SERVING");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn onnx_outputs_equal_onnxruntime_over_rest_and_grpc() {
    let server = Server::ready(repository_config(models_dir())).await;
    let rows = 5;
    let x = features(rows, 11);
    for (version, expected_version) in [(None, "2"), (Some(1), "1"), (Some(2), "2")] {
        let model_file = models_dir().join(format!("fraud-detection/{expected_version}/model.onnx"));
        let reference = onnxruntime_reference(&model_file, "features", rows, &x);
        let (rest_version, rest) = rest_json(&server, "fraud-detection", version, rows, &x).await;
        let v = version.map(|v| v.to_string()).unwrap_or_default();
        let (grpc_version, grpc_raw) = grpc_infer(&server, "fraud-detection", &v, rows, &x, true).await;
        let (_, grpc_typed) = grpc_infer(&server, "fraud-detection", &v, rows, &x, false).await;
        assert_eq!(rest_version, expected_version);
        assert_eq!(grpc_version, expected_version);
        assert_eq!(bits(&rest), bits(&reference), "REST JSON equals onnxruntime (version {expected_version})");
        assert_eq!(bits(&grpc_raw), bits(&reference), "gRPC raw equals onnxruntime");
        assert_eq!(bits(&grpc_typed), bits(&reference), "gRPC typed equals onnxruntime");
        if version.is_none() {
            let binary = rest_binary(&server, "fraud-detection", rows, &x).await;
            assert_eq!(bits(&binary), bits(&reference), "REST binary equals onnxruntime");
        }
    }
    // Softmax rows sum to one: the numbers are probabilities, not noise.
    let (_, probs) = rest_json(&server, "fraud-detection", None, rows, &x).await;
    for row in probs.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-5);
    }
}

#[tokio::test]
async fn candle_model_serves_the_same_network_as_onnx_version_2() {
    let server = Server::ready(repository_config(models_dir())).await;
    let rows = 4;
    let x = features(rows, 3);
    let (_, onnx) = rest_json(&server, "fraud-detection", Some(2), rows, &x).await;
    let (version, rest) = rest_json(&server, "fraud-detection-candle", None, rows, &x).await;
    let (_, grpc) = grpc_infer(&server, "fraud-detection-candle", "", rows, &x, true).await;
    assert_eq!(version, "1");
    assert_eq!(bits(&rest), bits(&grpc), "REST and gRPC return the same numbers");
    for (a, b) in rest.iter().zip(&onnx) {
        assert!((a - b).abs() < 1e-5, "candle {a} vs onnx {b}");
    }
}

#[tokio::test]
async fn outputs_filter_id_and_parameters() {
    let server = Server::ready(repository_config(testdata_repository())).await;
    let inputs: Vec<Value> = all_types_values()
        .iter()
        .map(|(dt, data)| {
            json!({ "name": format!("INPUT_{dt}"), "datatype": dt, "shape": [2, 2], "data": flat(data),
                                  "parameters": { "note": "flat data" } })
        })
        .collect();
    let request = json!({
        "id": "abc-123",
        "parameters": { "priority": 1, "tag": "x", "ratio": 0.5, "nested": { "a": 1 } },
        "inputs": inputs,
        "outputs": [{ "name": "OUTPUT_INT32" }, { "name": "OUTPUT_BOOL", "parameters": { "binary_data": false } }]
    });
    let (status, body) = server.post_json("/v2/models/all-types/infer", &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "abc-123");
    let names: Vec<&str> =
        body["outputs"].as_array().expect("outputs").iter().map(|o| o["name"].as_str().expect("n")).collect();
    assert_eq!(names, vec!["OUTPUT_INT32", "OUTPUT_BOOL"]);
    assert_eq!(body["outputs"][1]["data"], json!([true, false, false, true]));

    let mut grpc = server.grpc().await;
    let values = all_types_values();
    let mut parameters = HashMap::new();
    parameters.insert(
        "priority".to_owned(),
        InferParameter { parameter_choice: Some(infer_parameter::ParameterChoice::Int64Param(1)) },
    );
    let request = ModelInferRequest {
        model_name: "all-types".into(),
        model_version: "1".into(),
        id: "grpc-id".into(),
        parameters,
        inputs: all_types_inputs(&values),
        raw_input_contents: values.iter().map(|(dt, data)| raw_bytes(dt, data).into()).collect(),
        outputs: vec![InferRequestedOutputTensor { name: "OUTPUT_FP64".into(), ..Default::default() }],
    };
    let response = grpc.model_infer(request).await.expect("ModelInfer").into_inner();
    assert_eq!(response.id, "grpc-id");
    assert_eq!(response.outputs.len(), 1);
    assert_eq!(response.outputs[0].name, "OUTPUT_FP64");
    assert_eq!(response.raw_output_contents[0].to_vec(), raw_bytes("FP64", &values[12].1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_exactly_their_own_rows() {
    // A queue delay makes the scheduler actually merge requests into batches.
    let repo = TempDir::new("batching");
    copy_dir(&models_dir(), &repo.0);
    let toml = repo.0.join("fraud-detection/model.toml");
    let text =
        std::fs::read_to_string(&toml).expect("toml").replace("max_queue_delay_us = 0", "max_queue_delay_us = 5000");
    std::fs::write(&toml, text).expect("write");
    let server = std::sync::Arc::new(Server::ready(repository_config(&repo.0)).await);

    // Reference: each request alone, one after another.
    let requests: Vec<(usize, Vec<f32>)> = (0..48).map(|i| (1 + i % 3, features(1 + i % 3, 100 + i as u64))).collect();
    let mut alone = Vec::new();
    for (rows, x) in &requests {
        alone.push(rest_json(&server, "fraud-detection", Some(2), *rows, x).await.1);
    }
    // Then all at once, half over REST and half over gRPC.
    let mut tasks = Vec::new();
    for (i, (rows, x)) in requests.iter().cloned().enumerate() {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                rest_json(&server, "fraud-detection", Some(2), rows, &x).await.1
            } else {
                grpc_infer(&server, "fraud-detection", "2", rows, &x, true).await.1
            }
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let together = task.await.expect("task");
        assert_eq!(bits(&together), bits(&alone[i]), "request {i} got other rows or other numbers when batched");
    }
}

#[tokio::test]
async fn malformed_queries_and_paths_get_json_errors_too() {
    let server = Server::ready(repository_config(models_dir())).await;
    // axum's own extractor rejections, rewritten into the API's error shape.
    let (status, body) = server.get("/v2/models/fraud-detection/versions/1/samples?limit=null").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("limit")), "{body}");
    let (status, body) = server.get("/v2/models/%FF/ready").await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string(), "{body}");
}
