//! Load requests that change how a model is served (Triton's `config` load
//! parameter: batch size, batching, instances, version policy) and that
//! carry the model's files (`file:` parameters), over REST and gRPC.

mod common;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use serde_json::{Value, json};
use sluice::config::ModelControlMode;
use sluice_proto::model_repository_parameter::ParameterChoice;
use sluice_proto::{ModelRepositoryParameter, RepositoryModelLoadRequest};

const TOKEN: &str = "load-override-token";

fn explicit(repo: &TempDir) -> sluice::Config {
    let mut config = repository_config(&repo.0);
    config.model_control_mode = ModelControlMode::Explicit;
    config.admin_token = Some(TOKEN.into());
    config.load_model = vec!["fraud-detection".into()];
    config
}

async fn load(server: &Server, model: &str, parameters: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(&format!("/v2/repository/models/{model}/load")))
        .bearer_auth(TOKEN)
        .json(&json!({ "parameters": parameters }))
        .send()
        .await
        .expect("POST load");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn infer(server: &Server, model: &str, rows: usize) -> (u16, Value) {
    let body = json!({ "inputs": [fp32_input("features", rows, &features(rows, 9))] });
    server.post_json(&format!("/v2/models/{model}/infer"), &body).await
}

#[tokio::test]
async fn batching_and_instances_are_overridden_until_the_next_load() {
    let repo = fraud_repo("override-batching", FRAUD_LATEST_1);
    let server = Server::ready(explicit(&repo)).await;
    let config = json!({
        "max_batch_size": 4,
        "dynamic_batching": { "preferred_batch_size": [2, 4], "max_queue_delay_microseconds": 100,
                              "default_queue_policy": { "max_queue_size": 7 } },
        "instance_group": [{ "kind": "KIND_CPU", "count": 2 }],
    });
    let (status, body) = load(&server, "fraud-detection", json!({ "config": config.to_string() })).await;
    assert_eq!(status, 200, "{body}");
    let (_, served) = server.get("/v2/models/fraud-detection/config").await;
    assert_eq!(served["max_batch_size"], 4);
    assert_eq!(served["dynamic_batching"]["preferred_batch_size"], json!([2, 4]));
    assert_eq!(served["dynamic_batching"]["default_queue_policy"]["max_queue_size"], 7);
    assert_eq!(served["instance_group"][0]["count"], 2);
    assert_eq!(infer(&server, "fraud-detection", 4).await.0, 200);
    let (status, body) = infer(&server, "fraud-detection", 5).await;
    assert_eq!(status, 400, "5 rows exceed the overridden max_batch_size: {body}");

    // An override that does not validate is refused and changes nothing.
    let bad = json!({ "dynamic_batching": { "preferred_batch_size": [1000] } }).to_string();
    let (status, body) = load(&server, "fraud-detection", json!({ "config": bad })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("preferred_batch_sizes holds 1000")), "{body}");
    assert_eq!(server.get("/v2/models/fraud-detection/config").await.1["max_batch_size"], 4);

    // A load without config goes back to model.toml.
    let (status, _) = load(&server, "fraud-detection", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(server.get("/v2/models/fraud-detection/config").await.1["max_batch_size"], 64);
    assert_eq!(infer(&server, "fraud-detection", 5).await.0, 200);

    // Each load replaced the same version; retiring the old copy must not
    // take the live one's series with it.
    let unloaded = [("model", "fraud-detection"), ("result", "unloaded")];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.metric("model_swaps_total", &unloaded).await < Some(2.0) {
        assert!(std::time::Instant::now() < deadline, "the replaced copies were never retired");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let version = [("model", "fraud-detection"), ("version", "2")];
    assert_eq!(server.metric("model_loaded", &version).await, Some(1.0));
    assert_eq!(server.metric("model_queue_depth", &version).await, Some(0.0));
    let batches = server.metric("model_batch_size_count", &version).await;
    assert!(batches.is_some_and(|n| n >= 1.0), "batches of the live copy: {batches:?}");
}

#[tokio::test]
async fn model_files_uploaded_with_a_load_are_served_over_rest_and_grpc() {
    let repo = fraud_repo("override-upload", FRAUD_LATEST_1);
    let server = Server::ready(explicit(&repo)).await;
    let v2 = std::fs::read(models_dir().join("fraud-detection/2/model.onnx")).expect("read v2");
    let parameters = json!({
        "config": json!({ "max_batch_size": 8 }).to_string(),
        "file:1/model.onnx": BASE64.encode(&v2),
    });
    let (status, body) = load(&server, "uploaded", parameters).await;
    assert_eq!(status, 200, "{body}");
    let x = features(2, 9);
    let (status, answer) = infer(&server, "uploaded", 2).await;
    assert_eq!(status, 200, "{answer}");
    let reference = onnxruntime_reference(&models_dir().join("fraud-detection/2/model.onnx"), "features", 2, &x);
    assert_eq!(f32s(&answer["outputs"][0]["data"]), reference, "the uploaded file's numbers");
    assert_eq!(server.get("/v2/models/uploaded/config").await.1["max_batch_size"], 8);

    // gRPC: model.toml and a version 3 as bytes parameters.
    let bytes = |content: Vec<u8>| ModelRepositoryParameter {
        parameter_choice: Some(ParameterChoice::BytesParam(content.into())),
    };
    let mut parameters = HashMap::new();
    parameters.insert("file:model.toml".to_owned(), bytes(b"backend = \"onnx\"\nmax_batch_size = 2\n".to_vec()));
    parameters.insert("file:3/model.onnx".to_owned(), bytes(v2.clone()));
    let mut request = tonic::Request::new(RepositoryModelLoadRequest {
        model_name: "uploaded".into(),
        parameters,
        ..Default::default()
    });
    request.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("header"));
    server.grpc().await.repository_model_load(request).await.expect("gRPC load with files");
    server.wait_versions("uploaded", &[3]).await;
    assert_eq!(server.get("/v2/models/uploaded/config").await.1["max_batch_size"], 2);

    // Paths that leave the model directory, and files that are not a model.
    let (status, body) = load(&server, "other", json!({ "file:../../x/model.onnx": BASE64.encode(&v2) })).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = load(&server, "broken", json!({ "file:1/model.onnx": BASE64.encode(b"not onnx") })).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(infer(&server, "uploaded", 1).await.0, 200, "still serving");

    // Unloading forgets the upload: the repository has no such model.
    let unload = server.client.post(server.url("/v2/repository/models/uploaded/unload")).bearer_auth(TOKEN);
    assert_eq!(unload.json(&json!({})).send().await.expect("unload").status(), 200);
    let (status, _) = load(&server, "uploaded", json!({})).await;
    assert_eq!(status, 404, "without files, the repository is the source again");
}

#[tokio::test]
async fn uploads_are_bounded_by_the_request_limit() {
    let repo = fraud_repo("override-limit", FRAUD_LATEST_1);
    let mut config = explicit(&repo);
    config.max_request_bytes = 64 << 10;
    let server = Server::ready(config).await;
    let big = BASE64.encode(vec![0u8; 100 << 10]);
    let (status, body) = load(&server, "big", json!({ "file:1/model.onnx": big })).await;
    assert_eq!(status, 413, "{body}");
}
