//! ONNX Runtime IO binding (`[onnx] io_binding = true`): the path GPU
//! instances take by default, run here on the CPU, where only the memory it
//! stages into differs. Outputs must equal the plain path's for every
//! datatype and for every batch size the batcher forms.

mod common;

use std::sync::Arc;

use common::all_types::{all_types_values, assert_echoed, json_request};
use common::*;
use serde_json::json;

/// `models/fraud-detection` (or the all-types test model) with extra model.toml lines.
fn repo_with(tag: &str, model: &str, extra: &str) -> TempDir {
    let repo = TempDir::new(tag);
    let source = if model == "all-types" { testdata_repository() } else { models_dir() };
    copy_dir(&source.join(model), &repo.0.join(model));
    let toml_path = repo.0.join(model).join("model.toml");
    let toml = std::fs::read_to_string(&toml_path).expect("model.toml");
    std::fs::write(&toml_path, format!("{toml}\n{extra}\n")).expect("write model.toml");
    repo
}

#[tokio::test]
async fn every_datatype_round_trips_through_bound_inputs_and_outputs() {
    let repo = repo_with("io-binding-types", "all-types", "[onnx]\nio_binding = true");
    let server = Server::ready(repository_config(&repo.0)).await;
    let (_, config) = server.get("/v2/models/all-types/config").await;
    assert_eq!(config["backend"], "onnxruntime", "{config}");
    let values = all_types_values();
    let (status, body) = server.post_json("/v2/models/all-types/infer", &json_request(&values)).await;
    assert_eq!(status, 200, "{body}");
    assert_echoed(&body, &values);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_every_size_equal_onnxruntime() {
    // A queue delay long enough that concurrent requests share calls, and
    // calls of different sizes follow each other on one bound instance.
    let repo = repo_with("io-binding-batches", "fraud-detection", "");
    let toml = "backend = \"onnx\"\nmax_batch_size = 16\nversion_policy = { specific = [2] }\n\n[batching]\n\
                max_queue_delay_us = 3000\n\n[onnx]\nio_binding = true\n";
    std::fs::write(repo.0.join("fraud-detection/model.toml"), toml).expect("model.toml");
    let server = Arc::new(Server::ready(repository_config(&repo.0)).await);
    let model = models_dir().join("fraud-detection/2/model.onnx");
    let mut sent = 0;
    for (round, concurrent) in [1usize, 5, 2, 9, 3].into_iter().enumerate() {
        let requests: Vec<_> = (0..concurrent)
            .map(|i| {
                let rows = 1 + (i + round) % 3;
                let x = features(rows, (round * 100 + i) as u64);
                let body = json!({ "inputs": [fp32_input("features", rows, &x)] });
                let server = server.clone();
                tokio::spawn(async move {
                    let (status, out) = server.post_json("/v2/models/fraud-detection/versions/2/infer", &body).await;
                    (rows, x, status, out)
                })
            })
            .collect();
        sent += concurrent;
        for request in requests {
            let (rows, x, status, out) = request.await.expect("join");
            assert_eq!(status, 200, "{out}");
            let got = f32s(&out["outputs"][0]["data"]);
            assert_eq!(got, onnxruntime_reference(&model, "features", rows, &x), "round {round}, {rows} rows");
        }
    }
    let labels = [("model", "fraud-detection"), ("version", "2")];
    let calls = server.metric("model_batch_size_count", &labels).await.expect("batch size series");
    assert!(calls < sent as f64, "requests should have shared calls: {sent} requests in {calls} calls");
}

#[tokio::test]
async fn gpu_settings_on_a_cpu_build_fail_that_model_alone_and_say_why() {
    let repo = TempDir::new("io-binding-gpu-refusals");
    let cases = [
        ("gpu-limit", "[onnx]\ngpu_mem_limit = 1048576\n", "gpu_mem_limit applies to GPU instances"),
        ("spread", "[instances]\ndevice = \"cuda\"\ndevices = [0, 1]\n", "needs a build with `--features cuda`"),
        ("graph", "[instances]\ndevice = \"cuda:0\"\n[onnx]\ncuda_graph = true\n", "needs max_batch_size = 0"),
    ];
    for (name, extra, _) in &cases {
        copy_dir(&models_dir().join("fraud-detection/2"), &repo.0.join(name).join("1"));
        let toml = format!("backend = \"onnx\"\nmax_batch_size = 8\n{extra}");
        std::fs::write(repo.0.join(name).join("model.toml"), toml).expect("model.toml");
    }
    copy_dir(&models_dir().join("fraud-detection"), &repo.0.join("fraud-detection"));
    // A budget does not stand in the way of the backend's own reason.
    let mut config = repository_config(&repo.0);
    config.gpu_memory_budget = Some(1 << 30);
    let server = Server::start(config).await;
    server.wait_loaded(&["fraud-detection"]).await;
    for (name, _, why) in &cases {
        server.assert_unavailable_because(name, why).await;
    }
    let body = json!({ "inputs": [fp32_input("features", 1, &features(1, 3))] });
    let (status, out) = server.post_json("/v2/models/fraud-detection/infer", &body).await;
    assert_eq!(status, 200, "the rest serves: {out}");
    let metrics = server.metrics_text().await;
    assert!(!metrics.contains("model_gpu_memory_bytes{"), "nothing was charged to a GPU");
}
