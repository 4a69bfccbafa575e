//! KServe's v1 data plane (TF Serving's predict API) beside v2: model list
//! and readiness, rows and columns, TF Serving's documented examples, the
//! same numbers as v2, errors, metrics, and the `/v1/health` probes.

mod common;

use common::*;
use serde_json::{Value, json};

async fn predict(server: &Server, path: &str, body: Value) -> (u16, Value) {
    server.post_json(path, &body).await
}

fn rows(x: &[f32], rows: usize) -> Vec<Vec<f32>> {
    x.chunks(x.len() / rows).map(<[f32]>::to_vec).collect()
}

#[tokio::test]
async fn predictions_equal_v2_answers_in_rows_and_columns() {
    let server = Server::ready(repository_config(models_dir())).await;
    let x = features(5, 21);
    let (status, v2) = server
        .post_json("/v2/models/fraud-detection/versions/1/infer", &json!({ "inputs": [fp32_input("features", 5, &x)] }))
        .await;
    assert_eq!(status, 200, "{v2}");
    let expected: Vec<Value> = v2["outputs"][0]["data"].as_array().expect("data").chunks(2).map(|r| json!(r)).collect();

    let path = "/v1/models/fraud-detection/versions/1:predict";
    let (status, answer) = predict(&server, path, json!({ "instances": rows(&x, 5) })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"], json!(expected), "rows: the v2 numbers, written the same way");
    let body = json!({ "signature_name": "serving_default", "inputs": rows(&x, 5) });
    let (status, answer) = predict(&server, path, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outputs"], json!(expected), "columns");
    let keyed: Vec<Value> = rows(&x, 5).into_iter().map(|r| json!({ "features": r })).collect();
    let (status, answer) = predict(&server, path, json!({ "instances": keyed })).await;
    assert_eq!((status, &answer["predictions"]), (200, &json!(expected)), "rows keyed by input name");

    // Without a version: the newest (2), as in v2.
    let (status, newest) =
        predict(&server, "/v1/models/fraud-detection:predict", json!({ "instances": rows(&x, 5) })).await;
    assert_eq!(status, 200);
    let (_, v2_newest) = server
        .post_json("/v2/models/fraud-detection/infer", &json!({ "inputs": [fp32_input("features", 5, &x)] }))
        .await;
    assert_eq!(newest["predictions"][0], json!(v2_newest["outputs"][0]["data"].as_array().expect("data")[..2]));
    let served = server.metric("model_inference_requests_total", &[("protocol", "v1"), ("code", "200")]).await;
    assert_eq!(served, Some(4.0), "v1 requests are counted with protocol=\"v1\"");
}

#[tokio::test]
async fn tf_servings_documented_examples_and_strings() {
    let server = Server::ready(repository_config(testdata_repository())).await;
    // TF Serving's REST API documentation: the row format...
    let row_request = json!({
        "signature_name": "",
        "instances": [
            { "tag": "foo", "signal": [1, 2, 3, 4, 5], "sensor": [[1, 2], [3, 4]] },
            { "tag": "bar", "signal": [3, 4, 1, 2, 5], "sensor": [[4, 5], [6, 8]] },
        ]
    });
    let (status, answer) = predict(&server, "/v1/models/tf-example:predict", row_request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["predictions"][1],
        json!({ "tag_out": "bar", "signal_out": [3.0, 4.0, 1.0, 2.0, 5.0], "sensor_out": [[4.0, 5.0], [6.0, 8.0]] })
    );
    // ...and the columnar format.
    let column_request = json!({
        "inputs": {
            "tag": ["foo", "bar"],
            "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
            "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]
        }
    });
    let (status, answer) = predict(&server, "/v1/models/tf-example:predict", column_request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outputs"]["tag_out"], json!(["foo", "bar"]));
    assert_eq!(answer["outputs"]["sensor_out"][0], json!([[1.0, 2.0], [3.0, 4.0]]));

    // Strings that the model parses, one of them as base64.
    let a: Vec<Value> = (0..16).map(|v| json!(v.to_string())).collect();
    let mut b: Vec<Value> = (0..16).map(|_| json!("1")).collect();
    b[0] = json!({ "b64": "NQ==" }); // "5"
    let (status, answer) =
        predict(&server, "/v1/models/simple_string:predict", json!({ "instances": [{ "INPUT0": a, "INPUT1": b }] }))
            .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"][0]["OUTPUT0"][0], "5");
    assert_eq!(answer["predictions"][0]["OUTPUT1"][15], "14");
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_reason_and_the_server_stays_ready() {
    let mut config = repository_config(models_dir());
    config.max_request_bytes = 256 << 10;
    let server = Server::ready(config).await;
    let path = "/v1/models/fraud-detection:predict";
    let row = |n: usize| vec![0.5f32; n];
    let cases = [
        (json!({ "instances": [row(30), row(29)] }), 400, "ragged"),
        (json!({ "instances": [row(29)] }), 400, "shape"),
        (json!({ "instances": [vec!["a"; 30]] }), 400, "expects FP32 values"),
        (json!({ "instances": [{ "feature": row(30) }] }), 400, "no value for input 'features'"),
        (json!({ "instances": [] }), 400, "is empty"),
        (json!({ "instances": vec![row(30); 65] }), 400, "max_batch_size"),
        (json!({ "instances": [[[[row(30)]]]] }), 400, "shape"),
        (json!({ "something": 1 }), 400, "needs \"instances\""),
        (json!({ "instances": vec![row(30); 4000] }), 413, "exceeds the limit"),
    ];
    for (body, want, reason) in cases {
        let (status, answer) = predict(&server, path, body).await;
        assert_eq!(status, want, "{answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(reason)), "want '{reason}': {answer}");
    }
    let (status, answer) = server.post_raw(path, b"{not json".to_vec(), None).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = predict(&server, "/v1/models/nope:predict", json!({ "instances": [row(30)] })).await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = predict(&server, "/v1/models/fraud-detection:explain", json!({ "instances": [] })).await;
    assert_eq!(status, 501, "{answer}");
    assert!(answer["error"].is_string());
    assert_eq!(server.get("/v1/health/ready").await.0, 200);
    let rejected = server.metric("model_inference_errors_total", &[("reason", "invalid_input")]).await;
    assert!(rejected.unwrap_or(0.0) >= 8.0, "v1 errors are counted");
}

#[tokio::test]
async fn model_list_readiness_and_health_probes() {
    let server = Server::ready(repository_config(models_dir())).await;
    let (status, list) = server.get("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(list["models"], json!(["fraud-detection", "fraud-detection-candle"]));
    assert_eq!(
        server.get("/v1/models/fraud-detection").await,
        (200, json!({ "name": "fraud-detection", "ready": true }))
    );
    assert_eq!(server.get("/v1/models/nope").await.0, 404);
    assert_eq!(server.get("/v1/health/live").await, (200, json!({ "live": true })));
    assert_eq!(server.get("/v1/health/ready").await, (200, json!({ "ready": true })));
}

/// Our users' serving Deployment, unchanged: MODEL_PATH, MAX_BATCH_SIZE and
/// WORKERS in the environment, probes on /v1/health/*, metrics on a port
/// of their own (SLUICE_METRICS_PORT), the real binary.
#[tokio::test]
async fn the_users_deployment_env_and_probes_work_with_the_real_binary() {
    let models = TempDir::new("deployment-models");
    let current = models.0.join("current");
    // A model directory as such deployments hold it: no model.toml.
    std::fs::create_dir_all(current.join("1")).expect("mkdir");
    std::fs::copy(models_dir().join("fraud-detection/1/model.onnx"), current.join("1/model.onnx")).expect("copy");
    let metrics_port = free_port().to_string();
    let env = [
        ("MODEL_PATH", current.to_str().expect("utf-8")),
        ("MAX_BATCH_SIZE", "32"),
        ("WORKERS", "4"),
        ("SLUICE_METRICS_PORT", metrics_port.as_str()),
    ];
    let server = Server::spawn_binary(&[], &env).await;
    server.wait_ready().await;
    assert_eq!(server.get("/v1/health/ready").await, (200, json!({ "ready": true })));
    assert_eq!(server.get("/v1/health/live").await.0, 200);
    let (_, config) = server.get("/v2/models/current/config").await;
    assert_eq!(config["max_batch_size"], 32, "MAX_BATCH_SIZE: {config}");
    assert_eq!(config["instance_group"][0]["count"], 4, "WORKERS: {config}");
    let x = features(3, 1);
    let (status, answer) = predict(&server, "/v1/models/current:predict", json!({ "instances": rows(&x, 3) })).await;
    assert_eq!(status, 200, "{answer}");
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.expect("metrics port");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("protocol=\"v1\""), "v1 requests on the metrics port");

    // model.toml and explicit flags win over the environment.
    std::fs::write(current.join("model.toml"), "backend = \"onnx\"\nmax_batch_size = 8\n").expect("write");
    let flags = ["--default-instances".to_owned(), "2".to_owned()];
    let server = Server::spawn_binary(&flags, &env[..3]).await;
    server.wait_ready().await;
    let (_, config) = server.get("/v2/models/current/config").await;
    assert_eq!(config["max_batch_size"], 8, "model.toml wins: {config}");
    assert_eq!(config["instance_group"][0]["count"], 2, "the flag wins: {config}");
}
