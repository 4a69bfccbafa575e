//! Rollout observability: the role label follows a watched labels file,
//! /metrics on a port of its own, Triton's statistics extension, and the
//! error reasons.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sluice::{App, Listeners};
use sluice_proto::ModelStatisticsRequest;
use tokio::net::TcpListener;

fn infer_body(rows: usize) -> serde_json::Value {
    json!({ "inputs": [fp32_input("features", rows, &features(rows, 1))] })
}

async fn count_for_role(server: &Server, role: &str) -> f64 {
    let labels = [("model", "fraud-detection"), ("role", role), ("protocol", "rest")];
    server.metric("model_inference_duration_seconds_count", &labels).await.unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_follows_the_labels_file_while_requests_run() {
    let dir = TempDir::new("role");
    let labels = dir.0.join("labels");
    std::fs::write(&labels, "app=\"fraud\"\nrole=\"canary\"\n").expect("write labels");
    let mut config = repository_config(models_dir());
    config.role_labels_file = Some(labels.clone());
    let server = Arc::new(Server::ready(config).await);

    // Requests keep running through the relabelling.
    let load = {
        let server = server.clone();
        tokio::spawn(async move {
            for _ in 0..400 {
                let (status, _) = server.post_json("/v2/models/fraud-detection/infer", &infer_body(1)).await;
                assert_eq!(status, 200);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(count_for_role(&server, "canary").await > 0.0, "observations carry role=canary");
    let loaded = |role| [("model", "fraud-detection"), ("version", "2"), ("role", role)];
    assert_eq!(server.metric("model_loaded", &loaded("canary")).await, Some(1.0));

    // Argo Rollouts promotes the pod: the kubelet rewrites the file.
    std::fs::write(&labels, "app=\"fraud\"\nrole=\"stable\"\n").expect("relabel");
    let changed = Instant::now();
    while count_for_role(&server, "stable").await == 0.0 {
        assert!(changed.elapsed() < Duration::from_secs(2), "the new role was not picked up within 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let canary_after = count_for_role(&server, "canary").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_for_role(&server, "canary").await, canary_after, "new observations no longer say canary");
    // The versions it already serves are stable now too.
    assert_eq!(server.metric("model_loaded", &loaded("stable")).await, Some(1.0));
    assert_eq!(server.metric("model_loaded", &loaded("canary")).await, None);

    // A later read error keeps the last good role.
    std::fs::remove_file(&labels).expect("remove");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let stable_before = count_for_role(&server, "stable").await;
    let (status, _) = server.post_json("/v2/models/fraud-detection/infer", &infer_body(1)).await;
    assert_eq!(status, 200);
    assert!(count_for_role(&server, "stable").await > stable_before, "still labelled stable");
    load.abort();
}

#[tokio::test]
async fn a_missing_labels_file_is_a_startup_error() {
    let mut config = repository_config(models_dir());
    config.role_labels_file = Some("/nonexistent/podinfo/labels".into());
    let listeners = Listeners {
        http: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        metrics: None,
    };
    let err = App::build(config, listeners).await.err().expect("refuses to start");
    assert!(err.to_string().contains("/nonexistent/podinfo/labels"), "{err}");
}

#[tokio::test]
async fn metrics_on_a_port_of_their_own() {
    let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metrics_addr = metrics.local_addr().expect("addr");
    let listeners = Listeners {
        http: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        metrics: Some(metrics),
    };
    let app = App::build(repository_config(models_dir()), listeners).await.expect("builds");
    let http = app.http_addr().expect("addr");
    tokio::spawn(app.serve(std::future::pending()));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response =
            client.post(format!("http://{http}/v2/models/fraud-detection/infer")).json(&infer_body(1)).send().await;
        if response.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = reqwest::get(format!("http://{metrics_addr}/metrics")).await.expect("GET").text().await.expect("text");
    assert!(text.contains("# TYPE model_inference_duration_seconds histogram"), "{text}");
    assert!(text.contains("process_open_fds"));
    // Health too: probes reach this plain port whatever REST requires.
    for (path, key) in [("/v2/health/live", "live"), ("/v2/health/ready", "ready")] {
        let response = reqwest::get(format!("http://{metrics_addr}{path}")).await.expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body[key], true, "{path}: {body}");
    }
}

#[tokio::test]
async fn statistics_over_rest_and_grpc() {
    let server = Server::ready(repository_config(models_dir())).await;
    for rows in [1, 2, 3] {
        let (status, _) = server.post_json("/v2/models/fraud-detection/versions/2/infer", &infer_body(rows)).await;
        assert_eq!(status, 200);
    }
    let (status, _) = server.post_json("/v2/models/fraud-detection/versions/2/infer", &json!({ "inputs": [] })).await;
    assert_eq!(status, 400);

    let (status, body) = server.get("/v2/models/fraud-detection/versions/2/stats").await;
    assert_eq!(status, 200, "{body}");
    let stats = &body["model_stats"][0];
    assert_eq!(stats["name"], "fraud-detection");
    assert_eq!(stats["version"], "2");
    assert_eq!(stats["inference_count"], 6, "rows inferred");
    assert_eq!(stats["inference_stats"]["success"]["count"], 3);
    assert_eq!(stats["inference_stats"]["fail"]["count"], 1);
    assert_eq!(stats["inference_stats"]["queue"]["count"], 3);
    assert!(stats["inference_stats"]["compute_infer"]["ns"].as_u64().expect("ns") > 0);
    // Every phase counts every successful request, as perf_analyzer checks.
    for phase in ["compute_input", "compute_infer", "compute_output"] {
        assert_eq!(stats["inference_stats"][phase]["count"], 3, "{phase}");
        let per_batch: u64 = stats["batch_stats"]
            .as_array()
            .expect("batches")
            .iter()
            .map(|b| b[phase]["count"].as_u64().expect("count"))
            .sum();
        assert_eq!(per_batch, stats["execution_count"].as_u64().expect("executions"), "{phase} per batch size");
    }
    assert!(stats["last_inference"].as_u64().expect("ms") > 0);
    assert!(!stats["batch_stats"].as_array().expect("batch stats").is_empty());
    let (_, all_versions) = server.get("/v2/models/fraud-detection/stats").await;
    assert_eq!(all_versions["model_stats"].as_array().expect("list").len(), 2);
    let (_, everything) = server.get("/v2/models/stats").await;
    assert_eq!(everything["model_stats"].as_array().expect("list").len(), 3);
    assert_eq!(server.get("/v2/models/nope/stats").await.0, 404);

    let mut grpc = server.grpc().await;
    let response = grpc
        .model_statistics(ModelStatisticsRequest { name: "fraud-detection".into(), version: "2".into() })
        .await
        .expect("ModelStatistics")
        .into_inner();
    let stats = &response.model_stats[0];
    assert_eq!(stats.inference_count, 6);
    assert_eq!(stats.inference_stats.as_ref().and_then(|s| s.success.as_ref()).map(|d| d.count), Some(3));
    let missing = grpc.model_statistics(ModelStatisticsRequest { name: "nope".into(), version: String::new() }).await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn every_failure_counts_with_its_reason() {
    let server = Server::ready(repository_config(models_dir())).await;
    let bad = json!({ "inputs": [{ "name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3] }] });
    assert_eq!(server.post_json("/v2/models/fraud-detection/infer", &bad).await.0, 400);
    assert_eq!(server.post_raw("/v2/models/fraud-detection/infer", b"{".to_vec(), None).await.0, 400);
    assert_eq!(server.post_json("/v2/models/ghost/infer", &infer_body(1)).await.0, 404);
    let text = server.metrics_text().await;
    let invalid = [("model", "fraud-detection"), ("reason", "invalid_input"), ("role", "stable")];
    assert_eq!(metric_value(&text, "model_inference_errors_total", &invalid), Some(2.0));
    let codes = [("model", "fraud-detection"), ("code", "400"), ("protocol", "rest")];
    assert_eq!(metric_value(&text, "model_inference_requests_total", &codes), Some(2.0));
    assert_eq!(
        metric_value(&text, "model_inference_errors_total", &[("model", "_unknown"), ("reason", "not_found")]),
        Some(1.0)
    );
}

#[tokio::test]
async fn no_latency_series_exists_before_its_first_observation() {
    // A histogram series with no observations makes histogram_quantile
    // return NaN, which would fail a rollout analysis reading result[0].
    let server = Server::ready(repository_config(models_dir())).await;
    let (status, _) = server.post_json("/v2/models/fraud-detection/infer", &infer_body(1)).await;
    assert_eq!(status, 200);
    let text = server.metrics_text().await;
    let rest = [("model", "fraud-detection"), ("protocol", "rest")];
    assert_eq!(metric_value(&text, "model_inference_duration_seconds_count", &rest), Some(1.0));
    let grpc = [("protocol", "grpc")];
    assert_eq!(
        metric_value(&text, "model_inference_duration_seconds_count", &grpc),
        None,
        "no gRPC traffic, no series"
    );
    let candle = [("model", "fraud-detection-candle")];
    assert_eq!(metric_value(&text, "model_queue_duration_seconds_count", &candle), None, "an idle model has no series");
}
