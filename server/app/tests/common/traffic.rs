//! Continuous inference traffic for the hot-swap tests: REST and gRPC
//! workers send the same request back to back and record when each request
//! started and ended, which version answered and what it computed; a probe
//! records every moment readiness was false.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use sluice_proto::model_infer_request::InferInputTensor;
use sluice_proto::{InferTensorContents, ModelInferRequest};

use super::le_f32s;

pub struct Observation {
    pub protocol: &'static str,
    pub start: Instant,
    pub end: Instant,
    /// The answering version and the model's output, or the error.
    pub outcome: Result<(u64, Vec<f32>), String>,
}

pub struct Traffic {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Observation>>>,
    probe: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

pub struct TrafficReport {
    pub observations: Vec<Observation>,
    pub readiness_checks: usize,
    /// Every readiness check that did not answer 200.
    pub not_ready: Vec<String>,
}

impl Traffic {
    /// `concurrency` workers, alternating REST and gRPC, all sending one row
    /// `x` to the newest version of `model`.
    pub async fn start(http: SocketAddr, grpc: SocketAddr, model: &str, concurrency: usize, x: Vec<f32>) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for i in 0..concurrency {
            let (stop, model, x) = (stop.clone(), model.to_owned(), x.clone());
            workers.push(if i % 2 == 0 {
                tokio::spawn(rest_worker(http, model, x, stop))
            } else {
                let client =
                    GrpcInferenceServiceClient::connect(format!("http://{grpc}")).await.expect("gRPC connects");
                tokio::spawn(grpc_worker(client, model, x, stop))
            });
        }
        let probe = tokio::spawn(readiness_probe(http, stop.clone()));
        Traffic { stop, workers, probe }
    }

    pub async fn stop(self) -> TrafficReport {
        self.stop.store(true, Ordering::Release);
        let mut observations = Vec::new();
        for worker in self.workers {
            observations.extend(worker.await.expect("worker"));
        }
        let (readiness_checks, not_ready) = self.probe.await.expect("probe");
        TrafficReport { observations, readiness_checks, not_ready }
    }
}

async fn rest_worker(http: SocketAddr, model: String, x: Vec<f32>, stop: Arc<AtomicBool>) -> Vec<Observation> {
    let client = reqwest::Client::new();
    let url = format!("http://{http}/v2/models/{model}/infer");
    let body = json!({ "inputs": [{ "name": "features", "shape": [1, x.len()], "datatype": "FP32", "data": x }] });
    let mut seen = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let start = Instant::now();
        let outcome = async {
            let response = client.post(&url).json(&body).send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let value: Value = response.json().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("REST {status}: {value}"));
            }
            let version = value["model_version"].as_str().and_then(|v| v.parse().ok()).ok_or("no model_version")?;
            let data = value["outputs"][0]["data"].as_array().ok_or("no output data")?;
            Ok((version, data.iter().filter_map(Value::as_f64).map(|v| v as f32).collect()))
        }
        .await;
        seen.push(Observation { protocol: "rest", start, end: Instant::now(), outcome });
    }
    seen
}

async fn grpc_worker(
    mut client: GrpcInferenceServiceClient<tonic::transport::Channel>,
    model: String,
    x: Vec<f32>,
    stop: Arc<AtomicBool>,
) -> Vec<Observation> {
    let request = ModelInferRequest {
        model_name: model,
        inputs: vec![InferInputTensor {
            name: "features".into(),
            datatype: "FP32".into(),
            shape: vec![1, x.len() as i64],
            contents: Some(InferTensorContents { fp32_contents: x, ..Default::default() }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut seen = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let start = Instant::now();
        let outcome = match client.model_infer(request.clone()).await {
            Ok(response) => {
                let response = response.into_inner();
                match (response.model_version.parse(), response.raw_output_contents.first()) {
                    (Ok(version), Some(raw)) => Ok((version, le_f32s(raw))),
                    _ => Err(format!("malformed gRPC response: version '{}'", response.model_version)),
                }
            }
            Err(status) => Err(format!("gRPC {:?}: {}", status.code(), status.message())),
        };
        seen.push(Observation { protocol: "grpc", start, end: Instant::now(), outcome });
    }
    seen
}

async fn readiness_probe(http: SocketAddr, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let client = reqwest::Client::new();
    let url = format!("http://{http}/v2/health/ready");
    let (mut checks, mut failures) = (0, Vec::new());
    while !stop.load(Ordering::Acquire) {
        checks += 1;
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => failures.push(format!("ready answered {}", r.status())),
            Err(e) => failures.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (checks, failures)
}

/// What was live when: the versions serving before the first swap, then for
/// each swap the moment it began (the registry or API call), the moment it
/// was seen complete, and the versions serving after it.
pub struct Timeline {
    initial: Vec<u64>,
    swaps: Vec<(Instant, Instant, Vec<u64>)>,
}

impl Timeline {
    pub fn new(initial: Vec<u64>) -> Self {
        Timeline { initial, swaps: Vec::new() }
    }

    pub fn record(&mut self, began: Instant, done: Instant, live_after: Vec<u64>) {
        self.swaps.push((began, done, live_after));
    }

    pub fn swaps(&self) -> usize {
        self.swaps.len()
    }

    /// Every version that may have answered a request running from `start`
    /// to `end`: those live at any moment in between, counting both sides of
    /// a swap while it is in progress.
    pub fn live_between(&self, start: Instant, end: Instant) -> Vec<u64> {
        let mut live = Vec::new();
        let mut before = &self.initial;
        for (began, done, after) in &self.swaps {
            // `before` is live until the swap completes; `after` from its start.
            if start <= *done {
                live.extend(before.iter().copied());
            }
            if end >= *began {
                live.extend(after.iter().copied());
            }
            before = after;
        }
        if self.swaps.is_empty() {
            live.extend(self.initial.iter().copied());
        }
        live.sort_unstable();
        live.dedup();
        live
    }
}

/// Asserts the run had no failed request, no readiness gap, and that every
/// response came from a version live at the time and computed exactly what
/// that version computes. Returns the number of responses per version.
pub fn check_report(report: &TrafficReport, timeline: &Timeline, expected: &[(u64, Vec<f32>)]) -> Vec<(u64, usize)> {
    let failures: Vec<&String> = report.observations.iter().filter_map(|o| o.outcome.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed requests of {}, first: {:?}",
        failures.len(),
        report.observations.len(),
        failures.first()
    );
    assert!(
        report.not_ready.is_empty(),
        "readiness dropped {} times: {:?}",
        report.not_ready.len(),
        report.not_ready.first()
    );
    assert!(report.readiness_checks > 10, "the readiness probe ran");
    let mut counts: Vec<(u64, usize)> = expected.iter().map(|(v, _)| (*v, 0)).collect();
    for o in &report.observations {
        let Ok((version, output)) = &o.outcome else { continue };
        let live = timeline.live_between(o.start, o.end);
        assert!(live.contains(version), "{} response from version {version}, but only {live:?} were live", o.protocol);
        let (_, want) =
            expected.iter().find(|(v, _)| v == version).unwrap_or_else(|| panic!("unexpected version {version}"));
        assert_eq!(output, want, "version {version} computed something else");
        if let Some(count) = counts.iter_mut().find(|(v, _)| v == version) {
            count.1 += 1;
        }
    }
    counts
}

/// Waits until `model` serves exactly `serving`, then starts 32 clients on
/// it. Returns the traffic, a timeline starting at `serving`, and what each
/// bundled fraud-detection version computes for the clients' input.
pub async fn start_swap_traffic(
    server: &super::Server,
    model: &str,
    serving: u64,
    seed: u64,
) -> (Traffic, Timeline, Vec<(u64, Vec<f32>)>) {
    server.wait_versions(model, &[serving]).await;
    let x = super::features(1, seed);
    let expected = super::fraud_references(&x);
    let traffic = Traffic::start(server.http, server.grpc, model, 32, x).await;
    // Let every client connect and send before the first swap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (traffic, Timeline::new(vec![serving]), expected)
}
