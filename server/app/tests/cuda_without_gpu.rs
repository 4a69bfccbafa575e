//! A `--features cuda` build on a host without a GPU (CI's): GPU models fail
//! to load with the driver's reason in the repository index, and the rest
//! serve. Run by `make cuda-check`:
//!   cargo test -p sluice --features cuda --test cuda_without_gpu
#![cfg(feature = "cuda")]

mod common;

use common::*;
use serde_json::json;

fn add_model(repo: &TempDir, name: &str, source: &str, toml: &str) {
    copy_dir(&models_dir().join(source), &repo.0.join(name).join("1"));
    std::fs::write(repo.0.join(name).join("model.toml"), toml).expect("model.toml");
}

#[tokio::test]
async fn gpu_models_fail_with_the_drivers_reason_and_the_rest_serve() {
    if let Ok(count @ 1..) = sluice_kernels::cuda_device_count() {
        eprintln!("skipped: this host has {count} CUDA device(s); the test is about hosts without one");
        return;
    }
    let repo = TempDir::new("cuda-without-gpu");
    add_model(&repo, "onnx-gpu", "fraud-detection/2", "backend = \"onnx\"\n[instances]\ndevice = \"cuda:0\"\n");
    add_model(
        &repo,
        "onnx-spread",
        "fraud-detection/2",
        "backend = \"onnx\"\nmax_batch_size = 8\n[instances]\ndevice = \"cuda\"\ndevices = [0, 1]\n[onnx]\ngpu_mem_limit = 1073741824\n",
    );
    let candle_toml = std::fs::read_to_string(models_dir().join("fraud-detection-candle/model.toml")).expect("toml");
    add_model(
        &repo,
        "candle-gpu",
        "fraud-detection-candle/1",
        &format!("{candle_toml}\n[instances]\ndevice = \"cuda:0\"\n"),
    );
    copy_dir(&models_dir().join("fraud-detection"), &repo.0.join("fraud-detection"));
    // A budget needs the device's memory measured: the driver's reason still comes first.
    let mut config = repository_config(&repo.0);
    config.gpu_memory_budget = Some(1 << 30);
    let server = Server::start(config).await;
    server.wait_loaded(&["fraud-detection"]).await;

    let driver = "no CUDA device: the CUDA driver library (libcuda.so) is not installed";
    let candle = "needs a build with `--features candle-cuda`";
    for (name, why) in [("onnx-gpu", driver), ("onnx-spread", driver), ("candle-gpu", candle)] {
        server.assert_unavailable_because(name, why).await;
    }
    let body = json!({ "inputs": [fp32_input("features", 2, &features(2, 5))] });
    let (status, out) = server.post_json("/v2/models/fraud-detection/infer", &body).await;
    assert_eq!(status, 200, "the CPU model serves: {out}");
    let (status, out) = server.post_json("/v2/models/onnx-gpu/infer", &body).await;
    assert!(status == 400 || status == 404 || status == 503, "a model that failed to load is refused: {status} {out}");
    let metrics = server.metrics_text().await;
    assert!(!metrics.contains("model_gpu_memory_bytes{"), "nothing was charged to a GPU");
    assert!(!metrics.contains("gpu_memory_used_bytes{"), "no device to report");
}
