//! Triton's classification extension over REST and gRPC: an output asked
//! for with `classification: k` comes back as the top-k "value:index:label"
//! strings of each row, equal to ranking the raw output.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::{Value, json};
use sluice_proto::model_infer_request::InferRequestedOutputTensor;
use sluice_proto::{InferParameter, infer_parameter::ParameterChoice};

const INFER: &str = "/v2/models/fraud-detection/versions/2/infer";
const LABELS: [&str; 2] = ["legitimate", "fraud"];
const ROWS: usize = 3;

/// The bundled fraud model with labels beside it, in a directory of its own
/// per test (`tag`): tests run in parallel in one process.
fn labelled_repo(tag: &str) -> TempDir {
    let toml = std::fs::read_to_string(models_dir().join("fraud-detection/model.toml")).expect("model.toml");
    let repo = fraud_repo(tag, &format!("{toml}\n[labels]\nprobabilities = \"labels.txt\"\n"));
    std::fs::write(repo.0.join("fraud-detection/labels.txt"), LABELS.join("\n")).expect("labels");
    repo
}

/// What Triton answers for `k` classes of these raw rows of two values.
fn expected(raw: &[f32], k: usize) -> Vec<String> {
    raw.chunks(2)
        .flat_map(|row| {
            let mut order = [0usize, 1];
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            order.into_iter().take(k).map(|i| format!("{:.6}:{i}:{}", row[i], LABELS[i])).collect::<Vec<_>>()
        })
        .collect()
}

fn request(outputs: Value) -> Value {
    json!({ "inputs": [fp32_input("features", ROWS, &features(ROWS, 11))], "outputs": outputs })
}

#[tokio::test]
async fn rest_answers_top_k_strings_with_labels() {
    let repo = labelled_repo("classification-rest");
    let server = Server::ready(repository_config(&repo.0)).await;
    let (status, raw) = server.post_json(INFER, &request(json!([{ "name": "probabilities" }]))).await;
    assert_eq!(status, 200, "{raw}");
    let raw = f32s(&raw["outputs"][0]["data"]);

    for (k, width) in [(1, 1), (2, 2), (10, 2)] {
        let asked = request(json!([{ "name": "probabilities", "parameters": { "classification": k } }]));
        let (status, body) = server.post_json(INFER, &asked).await;
        assert_eq!(status, 200, "{body}");
        let output = &body["outputs"][0];
        assert_eq!(output["datatype"], "BYTES");
        assert_eq!(output["shape"], json!([ROWS, width]), "k = {k}");
        let strings: Vec<String> = serde_json::from_value(output["data"].clone()).expect("strings");
        assert_eq!(strings, expected(&raw, k), "k = {k}");
    }

    let (_, config) = server.get("/v2/models/fraud-detection/config").await;
    assert_eq!(config["output"][0]["label_filename"], "labels.txt");
    let (_, metadata) = server.get("/v2").await;
    assert!(metadata["extensions"].as_array().expect("list").contains(&json!("classification")), "{metadata}");
}

#[tokio::test]
async fn grpc_answers_the_same_strings() {
    let repo = labelled_repo("classification-grpc");
    let server = Server::ready(repository_config(&repo.0)).await;
    let mut grpc = server.grpc().await;
    let mut message = fraud_grpc_request("2", ROWS, 11);
    let raw = grpc.model_infer(message.clone()).await.expect("raw").into_inner();
    let raw = le_f32s(&raw.raw_output_contents[0]);

    let k = InferParameter { parameter_choice: Some(ParameterChoice::Int64Param(1)) };
    message.outputs = vec![InferRequestedOutputTensor {
        name: "probabilities".into(),
        parameters: HashMap::from([("classification".to_owned(), k)]),
    }];
    let answer = grpc.model_infer(message).await.expect("classified").into_inner();
    assert_eq!(answer.outputs[0].datatype, "BYTES");
    assert_eq!(answer.outputs[0].shape, vec![ROWS as i64, 1]);
    let bytes = &answer.raw_output_contents[0];
    let spans = sluice_core::tensor::string_spans(bytes).expect("length-prefixed BYTES");
    let strings: Vec<String> =
        spans.into_iter().map(|(s, e)| String::from_utf8_lossy(&bytes[s..e]).into_owned()).collect();
    assert_eq!(strings, expected(&raw, 1));
}

#[tokio::test]
async fn bad_classification_requests_are_refused_before_compute() {
    let server = Server::ready(repository_config(models_dir())).await;
    for bad in [json!(-1), json!("two"), json!(1.5), json!(true)] {
        let asked = request(json!([{ "name": "probabilities", "parameters": { "classification": bad } }]));
        let (status, body) = server.post_json(INFER, &asked).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("classification")), "{body}");
    }
    // Without labels the strings are "value:index", and 0 means the raw tensor.
    let asked = request(json!([{ "name": "probabilities", "parameters": { "classification": 1 } }]));
    let (status, body) = server.post_json(INFER, &asked).await;
    assert_eq!(status, 200, "{body}");
    let first = body["outputs"][0]["data"][0].as_str().expect("string");
    assert_eq!(first.split(':').count(), 2, "{first}");
    let asked = request(json!([{ "name": "probabilities", "parameters": { "classification": 0 } }]));
    let (_, body) = server.post_json(INFER, &asked).await;
    assert_eq!(body["outputs"][0]["datatype"], "FP32", "{body}");
}

#[tokio::test]
async fn a_missing_label_file_fails_the_load_and_says_which() {
    let toml = "backend = \"onnx\"\nmax_batch_size = 8\nversion_policy = \"all\"\n";
    let repo = fraud_repo("classification-missing", &format!("{toml}\n[labels]\nprobabilities = \"v2-labels.txt\"\n"));
    // Only version 1 has the file, in its own directory.
    std::fs::write(repo.0.join("fraud-detection/1/v2-labels.txt"), "a\nb\n").expect("labels");
    let server = Server::start(repository_config(&repo.0)).await;
    server.wait_versions("fraud-detection", &[1]).await;
    let rows = server.index_rows("fraud-detection", None).await;
    let v2 = rows.iter().find(|r| r["version"] == "2").expect("version 2 in the index");
    assert_eq!(v2["state"], "UNAVAILABLE");
    let reason = v2["reason"].as_str().expect("reason");
    assert!(reason.contains("v2-labels.txt"), "{reason}");
}
