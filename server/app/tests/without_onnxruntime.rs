//! Without the ONNX Runtime library, ONNX models fail with a message that says
//! how to fix it, and candle models still serve. (Its own test binary: ONNX
//! Runtime can be loaded only once per process.)

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn onnx_models_explain_the_fix_and_candle_models_serve() {
    let mut config = repository_config(models_dir());
    config.onnxruntime_lib = Some("/nonexistent/libonnxruntime.so".into());
    let server = Server::start(config).await;
    server.wait_loaded(&["fraud-detection", "fraud-detection-candle"]).await;

    let (status, body) = server.get("/v2/models/fraud-detection").await;
    assert_eq!(status, 503);
    let error = body["error"].as_str().expect("error");
    assert!(error.contains("make setup") && error.contains("ORT_DYLIB_PATH"), "{error}");

    let input = fp32_input("features", 2, &features(2, 1));
    let (status, body) =
        server.post_json("/v2/models/fraud-detection-candle/infer", &json!({ "inputs": [input] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["shape"], json!([2, 2]));
    assert_eq!(server.get("/v2/health/ready").await.0, 503, "not every configured model is up");
    assert_eq!(server.get("/v2/health/live").await.0, 200);
}
