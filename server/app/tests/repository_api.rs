//! The model-repository extension over REST and gRPC: index, load (with a
//! version-policy override), unload, the admin token, and the control modes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sluice::config::ModelControlMode;
use sluice_proto::{RepositoryIndexRequest, RepositoryModelLoadRequest, RepositoryModelUnloadRequest};
use tonic::Code;

const TOKEN: &str = "repository-api-token";

fn with_token<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("header"));
    request
}

async fn post(server: &Server, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut request = server.client.post(server.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn infer_status(server: &Server, model: &str) -> (u16, Value) {
    let x = features(1, 3);
    let body = json!({ "inputs": [fp32_input("features", 1, &x)] });
    server.post_json(&format!("/v2/models/{model}/infer"), &body).await
}

fn explicit_repo(tag: &str) -> TempDir {
    let repo = fraud_repo(tag, FRAUD_LATEST_1);
    copy_dir(&models_dir().join("fraud-detection-candle"), &repo.0.join("fraud-detection-candle"));
    repo
}

#[tokio::test]
async fn explicit_mode_loads_and_unloads_on_request() {
    let repo = explicit_repo("api-explicit");
    let mut config = repository_config(&repo.0);
    config.model_control_mode = ModelControlMode::Explicit;
    config.admin_token = Some(TOKEN.into());
    let server = Server::ready(config).await;
    let mut grpc = server.grpc().await;

    let (_, info) = server.get("/v2").await;
    assert!(info["extensions"].as_array().expect("list").contains(&json!("model_repository")), "{info}");

    // The token is required on every repository call, over both transports.
    for token in [None, Some("wrong")] {
        let (status, body) = post(&server, "/v2/repository/index", json!({}), token).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].is_string());
        let (status, _) = post(&server, "/v2/repository/models/fraud-detection/load", json!({}), token).await;
        assert_eq!(status, 401);
    }
    let status = grpc.repository_index(RepositoryIndexRequest::default()).await.expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);

    // Nothing is loaded yet in explicit mode; the index lists what could be.
    let (status, index) = post(&server, "/v2/repository/index", json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        index,
        json!([
            { "name": "fraud-detection", "state": "UNAVAILABLE", "reason": "not loaded" },
            { "name": "fraud-detection-candle", "state": "UNAVAILABLE", "reason": "not loaded" },
        ])
    );
    assert_eq!(infer_status(&server, "fraud-detection").await.0, 404);

    // REST load: the newest version by model.toml's policy.
    let (status, body) = post(&server, "/v2/repository/models/fraud-detection/load", json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = infer_status(&server, "fraud-detection").await;
    assert_eq!((status, &body["model_version"]), (200, &json!("2")), "{body}");

    // A version-policy override (Triton's `config` parameter) pins version 1.
    let config = json!({ "version_policy": { "specific": { "versions": [1] } } }).to_string();
    let load = json!({ "parameters": { "config": config } });
    let (status, _) = post(&server, "/v2/repository/models/fraud-detection/load", load, Some(TOKEN)).await;
    assert_eq!(status, 200);
    server.wait_versions("fraud-detection", &[1]).await;
    assert_eq!(infer_status(&server, "fraud-detection").await.1["model_version"], json!("1"));

    // Bad load requests are refused with a reason.
    for (path, body, want) in [
        ("fraud-detection", json!({ "parameters": { "config": "{not json" } }), 400),
        ("fraud-detection", json!({ "parameters": { "config": "{\"sequence_batching\": {}}" } }), 400),
        (
            "fraud-detection",
            json!({ "parameters": { "config": "{\"dynamic_batching\": {\"preferred_batch_size\": [1000]}}" } }),
            400,
        ),
        ("fraud-detection", json!({ "parameters": { "file:../escape": "AAAA" } }), 400),
        ("fraud-detection", json!({ "parameters": { "file:1/model.onnx": "not base64!" } }), 400),
        ("fraud-detection", json!({ "parameters": { "config": 5 } }), 400),
        ("no-such-model", json!({}), 404),
    ] {
        let (status, error) = post(&server, &format!("/v2/repository/models/{path}/load"), body, Some(TOKEN)).await;
        assert_eq!(status, want, "{error}");
        assert!(error["error"].is_string(), "{error}");
    }
    assert_eq!(infer_status(&server, "fraud-detection").await.0, 200, "still serving after refused loads");
    server.wait_versions("fraud-detection", &[1]).await;

    // gRPC load and index.
    let request = RepositoryModelLoadRequest { model_name: "fraud-detection-candle".into(), ..Default::default() };
    grpc.repository_model_load(with_token(request)).await.expect("RepositoryModelLoad");
    let rows = grpc.repository_index(with_token(RepositoryIndexRequest { ready: true, ..Default::default() })).await;
    let rows = rows.expect("RepositoryIndex").into_inner().models;
    let ready: Vec<(String, String)> = rows.iter().map(|r| (r.name.clone(), r.version.clone())).collect();
    assert_eq!(ready, [("fraud-detection".into(), "1".into()), ("fraud-detection-candle".into(), "1".into())]);
    let missing = RepositoryModelLoadRequest { model_name: "nope".into(), ..Default::default() };
    assert_eq!(grpc.repository_model_load(with_token(missing)).await.expect_err("unknown").code(), Code::NotFound);

    // REST unload: gone from serving, reported as unloaded, memory released,
    // and readiness unaffected.
    let (status, _) = post(&server, "/v2/repository/models/fraud-detection/unload", json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200);
    let (status, body) = infer_status(&server, "fraud-detection").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("unloaded")), "{body}");
    let rows = server.index_rows("fraud-detection", Some(TOKEN)).await;
    assert_eq!(rows, [json!({ "name": "fraud-detection", "state": "UNAVAILABLE", "reason": "unloaded" })]);
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
    let loaded = server.metric("model_loaded", &[("model", "fraud-detection")]).await;
    assert_eq!(loaded, None, "model_loaded cleared once the version is unloaded");
    let unloaded = server.metric("model_swaps_total", &[("model", "fraud-detection"), ("result", "unloaded")]).await;
    assert!(unloaded.is_some_and(|n| n >= 2.0), "v2 (swapped out) and v1 (unloaded): {unloaded:?}");

    // gRPC unload; unknown models are NOT_FOUND.
    let request = RepositoryModelUnloadRequest { model_name: "fraud-detection-candle".into(), ..Default::default() };
    grpc.repository_model_unload(with_token(request)).await.expect("RepositoryModelUnload");
    assert_eq!(infer_status(&server, "fraud-detection-candle").await.0, 404);
    let missing = RepositoryModelUnloadRequest { model_name: "nope".into(), ..Default::default() };
    assert_eq!(grpc.repository_model_unload(with_token(missing)).await.expect_err("unknown").code(), Code::NotFound);

    // And back again.
    let (status, _) = post(&server, "/v2/repository/models/fraud-detection/load", json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(infer_status(&server, "fraud-detection").await.1["model_version"], json!("2"));
}

#[tokio::test]
async fn none_mode_serves_the_index_but_refuses_load_and_unload() {
    let repo = explicit_repo("api-none");
    let server = Server::ready(repository_config(&repo.0)).await;
    let (status, index) = post(&server, "/v2/repository/index", json!({ "ready": true }), None).await;
    assert_eq!(status, 200, "no token configured: open");
    let rows: Vec<(&str, &str)> = index
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?, r["version"].as_str()?)))
        .collect();
    assert_eq!(rows, [("fraud-detection", "2"), ("fraud-detection-candle", "1")]);
    for action in ["load", "unload"] {
        let (status, body) =
            post(&server, &format!("/v2/repository/models/fraud-detection/{action}"), json!({}), None).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("explicit")), "{body}");
    }
    let (status, body) = post(&server, "/v2/repository/index", json!({ "ready": "yes" }), None).await;
    assert_eq!(status, 400, "{body}");
    let response = server.client.post(server.url("/v2/repository/index")).body("[1").send().await.expect("post");
    assert_eq!(response.status(), 400);
    assert_eq!(infer_status(&server, "fraud-detection").await.0, 200);
}

#[tokio::test]
async fn poll_mode_picks_up_added_and_removed_models() {
    let repo = fraud_repo("api-poll", FRAUD_LATEST_1);
    let mut config = repository_config(&repo.0);
    config.model_control_mode = ModelControlMode::Poll;
    config.repository_poll_secs = 0.05;
    let server = Server::ready(config).await;
    // A version whose file changes in place is reloaded: version 2 now
    // computes what version 1's file does.
    let x = features(1, 3);
    let references = fraud_references(&x);
    let staged = repo.0.join("fraud-detection/2/model.onnx.new");
    std::fs::copy(models_dir().join("fraud-detection/1/model.onnx"), &staged).expect("copy");
    std::fs::remove_file(repo.0.join("fraud-detection/2/metadata.json")).expect("drop v2's digests");
    std::fs::rename(&staged, repo.0.join("fraud-detection/2/model.onnx")).expect("replace v2");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = infer_status(&server, "fraud-detection").await;
        assert_eq!((status, &body["model_version"]), (200, &json!("2")), "{body}");
        let output: Vec<f32> = body["outputs"][0]["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|v| v.as_f64().expect("f") as f32)
            .collect();
        if output == references[0].1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the changed version 2 was never reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(infer_status(&server, "fraud-detection-candle").await.0, 404);
    // Staged beside the repository, then moved in whole.
    let staging = repo.0.join(".staging");
    copy_dir(&models_dir().join("fraud-detection-candle"), &staging);
    std::fs::rename(&staging, repo.0.join("fraud-detection-candle")).expect("add model");
    server.wait_versions("fraud-detection-candle", &[1]).await;
    assert_eq!(infer_status(&server, "fraud-detection-candle").await.0, 200);
    std::fs::remove_dir_all(repo.0.join("fraud-detection-candle")).expect("remove model");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while infer_status(&server, "fraud-detection-candle").await.0 != 404 {
        assert!(std::time::Instant::now() < deadline, "removed model still served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
    assert_eq!(infer_status(&server, "fraud-detection").await.0, 200);
}

#[tokio::test]
async fn the_admin_token_can_come_from_a_file() {
    let repo = explicit_repo("api-token-file");
    // As a mounted Kubernetes Secret holds it: with a trailing newline.
    let token_file = repo.0.join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let mut config = repository_config(&repo.0);
    config.admin_token_file = Some(token_file.clone());
    let server = Server::ready(config).await;
    assert_eq!(post(&server, "/v2/repository/index", json!({}), None).await.0, 401);
    let (status, body) = post(&server, "/v2/repository/index", json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");

    std::fs::write(&token_file, "\n").expect("empty token file");
    let mut config = repository_config(&repo.0);
    config.admin_token_file = Some(token_file);
    let listeners = sluice::Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        metrics: None,
    };
    let refused = sluice::App::build(config, listeners).await.err().expect("an empty token file is refused");
    assert!(refused.to_string().contains("empty"), "{refused}");
}

#[tokio::test]
async fn a_pinned_version_is_the_one_served() {
    // models/fraud-detection's model.toml serves the latest two; pinned: only 1.
    let mut config = repository_config(models_dir());
    config.model_version = vec![("fraud-detection".into(), 1)];
    let server = Server::ready(config).await;
    let (status, body) = infer_status(&server, "fraud-detection").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_version"], "1", "requests without a version get the pinned one");
    let (status, _) = infer_status(&server, "fraud-detection/versions/2").await;
    assert_ne!(status, 200, "version 2 is not served");
    let (status, body) = server.get("/v2/models/fraud-detection-candle").await;
    assert_eq!(status, 200, "other models keep their own policy: {body}");
}
