//! Model repository behaviour: readiness, version policies, sha256
//! verification, KServe's single-model directory.

mod common;

use common::*;
use serde_json::json;
use sluice_proto::{ModelReadyRequest, ServerReadyRequest};

fn fraud_repo(tag: &str, model_toml: Option<&str>) -> TempDir {
    let repo = TempDir::new(tag);
    copy_dir(&models_dir().join("fraud-detection"), &repo.0.join("fraud-detection"));
    if let Some(text) = model_toml {
        std::fs::write(repo.0.join("fraud-detection/model.toml"), text).expect("write model.toml");
    }
    repo
}

async fn infer_version(server: &Server, model: &str) -> (u16, serde_json::Value) {
    let input = fp32_input("features", 1, &features(1, 5));
    server.post_json(&format!("/v2/models/{model}/infer"), &json!({ "inputs": [input] })).await
}

#[tokio::test]
async fn a_broken_model_keeps_the_server_unready_but_live_and_others_serving() {
    let repo = fraud_repo("broken", None);
    std::fs::create_dir_all(repo.0.join("broken/1")).expect("mkdir");
    std::fs::write(repo.0.join("broken/model.toml"), "backend = \"onnx\"\n").expect("toml");
    std::fs::write(repo.0.join("broken/1/model.onnx"), b"this is not an onnx file").expect("garbage");
    let server = Server::start(repository_config(&repo.0)).await;
    assert_eq!(server.get("/v2/health/live").await.0, 200, "live does not wait for models");
    server.wait_loaded(&["fraud-detection", "broken"]).await;

    assert_eq!(server.get("/v2/health/ready").await, (503, json!({ "ready": false })));
    assert_eq!(server.get("/v2/models/broken/ready").await.0, 503);
    let (status, body) = server.get("/v2/models/broken").await;
    assert_eq!(status, 503);
    assert!(body["error"].as_str().expect("error").contains("failed to load"), "{body}");
    let (status, body) = infer_version(&server, "broken").await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = infer_version(&server, "fraud-detection").await;
    assert_eq!(status, 200, "{body}");

    let mut grpc = server.grpc().await;
    assert!(!grpc.server_ready(ServerReadyRequest {}).await.expect("ready").into_inner().ready);
    let ready = grpc.model_ready(ModelReadyRequest { name: "broken".into(), version: String::new() }).await;
    assert!(!ready.expect("answers").into_inner().ready);
    let missing = grpc.model_ready(ModelReadyRequest { name: "ghost".into(), version: String::new() }).await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn sha256_mismatch_is_never_loaded() {
    let repo = fraud_repo("sha", Some("backend = \"onnx\"\nmax_batch_size = 8\nversion_policy = \"all\"\n"));
    let metadata = repo.0.join("fraud-detection/2/metadata.json");
    let text = std::fs::read_to_string(&metadata).expect("metadata");
    let tampered: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut tampered = tampered;
    tampered["artifacts"]["model.onnx"]["sha256"] = json!("00".repeat(32));
    std::fs::write(&metadata, tampered.to_string()).expect("write");
    let server = Server::start(repository_config(&repo.0)).await;
    // Version 1 serves; version 2 is refused and reported, as Triton does
    // with versions that fail on their own.
    server.wait_versions("fraud-detection", &[1]).await;
    let (status, body) = server.get("/v2/models/fraud-detection/versions/2").await;
    assert_eq!(status, 404, "{body}");
    let rows = server.index_rows("fraud-detection", None).await;
    let v2 = rows.iter().find(|r| r["version"] == "2").expect("version 2 in the index");
    assert_eq!(v2["state"], "UNAVAILABLE");
    let reason = v2["reason"].as_str().expect("reason");
    assert!(reason.contains("sha256 mismatch") && reason.contains("2/model.onnx"), "{reason}");
    let failed = server.metric("model_swaps_total", &[("model", "fraud-detection"), ("result", "failed")]).await;
    assert_eq!(failed, Some(1.0));
}

#[tokio::test]
async fn version_policies_choose_what_is_served() {
    let latest = fraud_repo("latest", Some("backend = \"onnx\"\nmax_batch_size = 8\n"));
    let server = Server::ready(repository_config(&latest.0)).await;
    let (_, meta) = server.get("/v2/models/fraud-detection").await;
    assert_eq!(meta["versions"], json!(["2"]), "latest = 1 is the default");
    assert_eq!(server.get("/v2/models/fraud-detection/versions/1").await.0, 404);
    drop(server);

    let specific =
        fraud_repo("specific", Some("backend = \"onnx\"\nmax_batch_size = 8\nversion_policy = { specific = [1] }\n"));
    let server = Server::ready(repository_config(&specific.0)).await;
    let (status, body) = infer_version(&server, "fraud-detection").await;
    assert_eq!(status, 200);
    assert_eq!(body["model_version"], "1", "unversioned requests go to the newest loaded version");

    let all = fraud_repo("all", Some("backend = \"onnx\"\nmax_batch_size = 8\nversion_policy = \"all\"\n"));
    std::fs::create_dir_all(all.0.join("fraud-detection/3")).expect("mkdir");
    std::fs::copy(all.0.join("fraud-detection/1/model.onnx"), all.0.join("fraud-detection/3/model.onnx"))
        .expect("copy");
    let server = Server::ready(repository_config(&all.0)).await;
    let (_, meta) = server.get("/v2/models/fraud-detection").await;
    assert_eq!(meta["versions"], json!(["1", "2", "3"]));
    let (_, body) = infer_version(&server, "fraud-detection").await;
    assert_eq!(body["model_version"], "3");
}

#[tokio::test]
async fn kserve_single_model_directory() {
    // With version directories and model.toml, under a name given on the command line.
    let mut config = repository_config(models_dir());
    config.model_repository = None;
    config.model_dir = Some(models_dir().join("fraud-detection"));
    config.model_name = Some("fraud".into());
    let server = Server::ready(config).await;
    let (status, meta) = server.get("/v2/models/fraud").await;
    assert_eq!(status, 200);
    assert_eq!(meta["versions"], json!(["1", "2"]));
    assert_eq!(infer_version(&server, "fraud").await.0, 200);
    assert_eq!(server.get("/v2/models/fraud-detection").await.0, 404);

    // What KServe's storage initializer leaves in /mnt/models: just the file.
    let bare = TempDir::new("bare");
    std::fs::copy(models_dir().join("fraud-detection/1/model.onnx"), bare.0.join("model.onnx")).expect("copy");
    let mut config = repository_config(models_dir());
    config.model_repository = None;
    config.model_dir = Some(bare.0.clone());
    config.model_name = Some("bare".into());
    let server = Server::ready(config).await;
    let (status, body) = infer_version(&server, "bare").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_version"], "1");
    let (_, meta) = server.get("/v2/models/bare").await;
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 30]));
}
