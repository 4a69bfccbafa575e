//! The dynamic batching scheduler through the real app: deadlines, a full
//! queue, disconnected clients, batching that does not change results, and
//! the scheduler metrics on /metrics.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sluice_proto::ModelInferRequest;

const SLOW_BATCHING: &str = "backend = \"onnx\"\nmax_batch_size = 64\nversion_policy = \"all\"\n\
[batching]\nmax_queue_delay_us = 400000\nmax_queue_size = 2\n";

fn rest_body(rows: usize, seed: u64, parameters: serde_json::Value) -> serde_json::Value {
    json!({ "parameters": parameters, "inputs": [fp32_input("features", rows, &features(rows, seed))] })
}

fn grpc_request(rows: usize, seed: u64) -> ModelInferRequest {
    fraud_grpc_request("2", rows, seed)
}

async fn batches_run(server: &Server) -> (f64, f64) {
    let labels = [("model", "fraud-detection"), ("version", "2")];
    let count = server.metric("model_batch_size_count", &labels).await.unwrap_or(0.0);
    let rows = server.metric("model_batch_size_sum", &labels).await.unwrap_or(0.0);
    (count, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_expire_in_the_queue_get_a_timeout_and_never_run() {
    let repo = fraud_repo("deadline", SLOW_BATCHING);
    let server = Server::ready(repository_config(&repo.0)).await;

    let sent = Instant::now();
    let (status, body) = server
        .post_json("/v2/models/fraud-detection/versions/2/infer", &rest_body(1, 1, json!({ "timeout": 50_000 })))
        .await;
    assert_eq!(status, 504, "{body}");
    assert!(body["error"].as_str().expect("error").contains("deadline"), "{body}");
    assert!(sent.elapsed() < Duration::from_millis(390), "answered at the deadline, not when the batch formed");

    // tonic's client would race the server with a timer of its own, so send
    // the call over a bare HTTP/2 connection and read the server's status.
    let sent = Instant::now();
    let grpc_status = raw_grpc_call_with_timeout(&server, grpc_request(1, 2), "50m").await;
    assert_eq!(grpc_status, "4", "DEADLINE_EXCEEDED");
    assert!(sent.elapsed() < Duration::from_millis(390));

    // A bad timeout parameter is the client's mistake.
    let (status, body) =
        server.post_json("/v2/models/fraud-detection/infer", &rest_body(1, 1, json!({ "timeout": "soon" }))).await;
    assert_eq!(status, 400, "{body}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(batches_run(&server).await, (0.0, 0.0), "expired requests never reached the model");
    let timeouts =
        server.metric("model_inference_errors_total", &[("model", "fraud-detection"), ("reason", "timeout")]).await;
    assert_eq!(timeouts, Some(2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_at_once_and_the_queued_requests_still_complete() {
    // A long delay holds both queued requests however slowly they arrive.
    let repo =
        fraud_repo("full", &SLOW_BATCHING.replace("max_queue_delay_us = 400000", "max_queue_delay_us = 3000000"));
    let server = Arc::new(Server::ready(repository_config(&repo.0)).await);
    let queued: Vec<_> = (0..2)
        .map(|i| {
            let server = server.clone();
            tokio::spawn(async move {
                server.post_json("/v2/models/fraud-detection/versions/2/infer", &rest_body(1, i, json!({}))).await
            })
        })
        .collect();
    let depth = [("model", "fraud-detection"), ("version", "2")];
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.metric("model_queue_depth", &depth).await != Some(2.0) {
        assert!(Instant::now() < deadline, "the two requests never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = Instant::now();
    let response = server
        .client
        .post(server.url("/v2/models/fraud-detection/versions/2/infer"))
        .json(&rest_body(1, 9, json!({})))
        .send()
        .await
        .expect("POST");
    let refused_in = sent.elapsed();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(refused_in < Duration::from_millis(300), "refused without waiting for the queue: {refused_in:?}");
    let status = server.grpc().await.model_infer(grpc_request(1, 3)).await.expect_err("full");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    for task in queued {
        let (status, body) = task.await.expect("join");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_before_their_batch_runs_cost_no_compute() {
    let repo = fraud_repo("cancel", SLOW_BATCHING.replace("max_queue_size = 2", "max_queue_size = 16").as_str());
    let server = Server::ready(repository_config(&repo.0)).await;

    // A REST client that gives up after 50 ms closes its connection.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(50)).build().expect("client");
    let gone = impatient
        .post(server.url("/v2/models/fraud-detection/versions/2/infer"))
        .json(&rest_body(5, 1, json!({})))
        .send()
        .await;
    assert!(gone.is_err(), "the client timed out");
    // A gRPC call that is cancelled (its future dropped) resets its stream.
    let mut grpc = server.grpc().await;
    let cancelled = tokio::time::timeout(Duration::from_millis(50), grpc.model_infer(grpc_request(7, 2))).await;
    assert!(cancelled.is_err(), "the call was cancelled");

    // A patient client arrives while they are still queued.
    let (status, body) =
        server.post_json("/v2/models/fraud-detection/versions/2/infer", &rest_body(3, 3, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(batches_run(&server).await, (1.0, 3.0), "one batch, holding only the patient client's 3 rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batching_and_instances_do_not_change_results() {
    let toml = "backend = \"onnx\"\nmax_batch_size = 16\nversion_policy = \"all\"\n\
        [batching]\nmax_queue_delay_us = 20000\npreferred_batch_sizes = [8]\n[instances]\ninstance_count = 2\n";
    let repo = fraud_repo("same-results", toml);
    let server = Arc::new(Server::ready(repository_config(&repo.0)).await);
    let requests: Vec<(usize, u64)> = (0..40).map(|i| (1 + i % 4, 500 + i as u64)).collect();
    let mut alone = Vec::new();
    for &(rows, seed) in &requests {
        let (status, body) =
            server.post_json("/v2/models/fraud-detection/versions/2/infer", &rest_body(rows, seed, json!({}))).await;
        assert_eq!(status, 200);
        alone.push(f32s(&body["outputs"][0]["data"]));
    }
    let (sequential_batches, _) = batches_run(&server).await;
    let tasks: Vec<_> = requests
        .iter()
        .map(|&(rows, seed)| {
            let server = server.clone();
            tokio::spawn(async move {
                let (status, body) = server
                    .post_json("/v2/models/fraud-detection/versions/2/infer", &rest_body(rows, seed, json!({})))
                    .await;
                assert_eq!(status, 200);
                assert_eq!(body["outputs"][0]["shape"], json!([rows, 2]));
                f32s(&body["outputs"][0]["data"])
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let together = task.await.expect("join");
        let same = together.iter().zip(&alone[i]).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "request {i}: batched result differs from the one computed alone");
    }
    let (all_batches, all_rows) = batches_run(&server).await;
    assert!(all_batches - sequential_batches < 40.0, "concurrent requests were merged into fewer batches");
    let expected_rows: usize = requests.iter().map(|r| r.0).sum::<usize>() * 2;
    assert_eq!(all_rows as usize, expected_rows, "every row ran exactly once");
}

#[tokio::test]
async fn metrics_endpoint_exposes_the_scheduler_and_request_metrics() {
    let server = Server::ready(repository_config(models_dir())).await;
    let (status, _) = server.post_json("/v2/models/fraud-detection/infer", &rest_body(2, 1, json!({}))).await;
    assert_eq!(status, 200);
    let (status, _) = server.post_json("/v2/models/nope/infer", &rest_body(1, 1, json!({}))).await;
    assert_eq!(status, 404);
    server.grpc().await.model_infer(grpc_request(1, 1)).await.expect("gRPC");
    let text = server.metrics_text().await;
    let model = [("model", "fraud-detection"), ("version", "2")];
    let with_role = [("model", "fraud-detection"), ("version", "2"), ("role", "stable")];
    assert_eq!(metric_value(&text, "model_queue_duration_seconds_count", &with_role), Some(2.0));
    assert_eq!(metric_value(&text, "model_compute_duration_seconds_count", &with_role), Some(2.0));
    assert_eq!(metric_value(&text, "model_batch_size_sum", &model), Some(3.0));
    assert_eq!(metric_value(&text, "model_queue_depth", &model), Some(0.0));
    let rest = [("model", "fraud-detection"), ("protocol", "rest"), ("code", "200")];
    assert_eq!(metric_value(&text, "model_inference_requests_total", &rest), Some(1.0));
    let grpc = [("model", "fraud-detection"), ("protocol", "grpc"), ("role", "stable")];
    assert_eq!(metric_value(&text, "model_inference_duration_seconds_count", &grpc), Some(1.0));
    let unknown = [("model", "_unknown"), ("reason", "not_found")];
    assert_eq!(metric_value(&text, "model_inference_errors_total", &unknown), Some(1.0));
    let loaded = [("model", "fraud-detection-candle"), ("backend", "candle"), ("device", "cpu")];
    assert_eq!(metric_value(&text, "model_loaded", &loaded), Some(1.0));
    assert!(metric_value(&text, "process_resident_memory_bytes", &[]).is_some_and(|v| v > 0.0));
    let load = [("model", "fraud-detection"), ("backend", "onnx")];
    assert_eq!(metric_value(&text, "model_load_duration_seconds_count", &load), Some(2.0), "two versions loaded");
    let swaps = [("model", "fraud-detection"), ("result", "loaded")];
    assert_eq!(metric_value(&text, "model_swaps_total", &swaps), Some(2.0), "one per version published");
    assert!(text.contains("# TYPE model_inference_duration_seconds histogram"));
}

/// Sends ModelInfer with a `grpc-timeout` header over plain HTTP/2 (no
/// client-side deadline) and returns the `grpc-status` the server sent.
async fn raw_grpc_call_with_timeout(server: &Server, request: ModelInferRequest, timeout: &str) -> String {
    use http_body_util::BodyExt;
    use prost::Message;
    let stream = tokio::net::TcpStream::connect(server.grpc).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(connection);
    let message = request.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    let http = hyper::Request::post(format!("http://{}/inference.GRPCInferenceService/ModelInfer", server.grpc))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(framed)))
        .expect("request");
    let response = sender.send_request(http).await.expect("response");
    if let Some(status) = response.headers().get("grpc-status") {
        return status.to_str().expect("ascii").to_owned();
    }
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    trailers.get("grpc-status").map(|v| v.to_str().expect("ascii").to_owned()).unwrap_or_default()
}
