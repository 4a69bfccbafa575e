//! Warm-up as `[warmup]` in model.toml configures it, on Triton's
//! simple_string model (strings the model parses as numbers, through an
//! ONNX Cast from STRING): served by default, answered over REST and gRPC;
//! a sample it cannot parse fails the version with an error that names the
//! input and the sample; warm-up can be turned off or fed from a file.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_proto::model_infer_request::InferInputTensor;
use sluice_proto::*;

const MODEL: &str = "simple_string";

/// A repository holding simple_string with `warmup` appended to its model.toml.
fn string_repo(tag: &str, warmup: &str) -> TempDir {
    let repo = TempDir::new(tag);
    copy_dir(&testdata_repository().join(MODEL), &repo.0.join(MODEL));
    let toml = format!("backend = \"onnx\"\nmax_batch_size = 8\n{warmup}");
    std::fs::write(repo.0.join(MODEL).join("model.toml"), toml).expect("write model.toml");
    repo
}

fn strings(values: impl Iterator<Item = i32>) -> Vec<String> {
    values.map(|v| v.to_string()).collect()
}

fn rest_request(a: &[String], b: &[String]) -> Value {
    json!({ "inputs": [
        { "name": "INPUT0", "datatype": "BYTES", "shape": [1, 16], "data": a },
        { "name": "INPUT1", "datatype": "BYTES", "shape": [1, 16], "data": b },
    ]})
}

/// The load error the model's metadata reports (503 while it is not served).
async fn load_error(server: &Server) -> String {
    server.wait_loaded(&[MODEL]).await;
    let (status, body) = server.get(&format!("/v2/models/{MODEL}")).await;
    assert_eq!(status, 503, "{body}");
    body["error"].as_str().expect("error").to_owned()
}

#[tokio::test]
async fn a_model_that_parses_its_strings_serves_by_default_over_rest_and_grpc() {
    let server = Server::ready(repository_config(testdata_repository())).await;
    let a = strings(0..16);
    let b = strings(std::iter::repeat_n(1, 16));
    let (status, body) = server.post_json(&format!("/v2/models/{MODEL}/infer"), &rest_request(&a, &b)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["name"], "OUTPUT0");
    assert_eq!(body["outputs"][0]["data"], json!(strings(1..17)));
    assert_eq!(body["outputs"][1]["data"], json!(strings(-1..15)));

    let tensor = |name: &str, values: &[String]| InferInputTensor {
        name: name.into(),
        datatype: "BYTES".into(),
        shape: vec![1, 16],
        contents: Some(InferTensorContents {
            bytes_contents: values.iter().map(|v| v.as_bytes().to_vec().into()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = ModelInferRequest {
        model_name: MODEL.into(),
        inputs: vec![tensor("INPUT0", &strings((0..16).map(|v| v * 10))), tensor("INPUT1", &strings(0..16))],
        ..Default::default()
    };
    let response = server.grpc().await.model_infer(request).await.expect("ModelInfer").into_inner();
    let elements = |raw: &[u8]| -> Vec<String> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < raw.len() {
            let len = u32::from_le_bytes(raw[at..at + 4].try_into().expect("prefix")) as usize;
            out.push(String::from_utf8(raw[at + 4..at + 4 + len].to_vec()).expect("utf-8"));
            at += 4 + len;
        }
        out
    };
    assert_eq!(elements(&response.raw_output_contents[0]), strings((0..16).map(|v| v * 11)));
    assert_eq!(elements(&response.raw_output_contents[1]), strings((0..16).map(|v| v * 9)));
}

#[tokio::test]
async fn a_sample_the_model_cannot_parse_fails_the_version_and_names_the_input() {
    let repo = string_repo("warmup-bad", "[warmup]\nbytes_value = \"\"\n");
    let server = Server::start(repository_config(&repo.0)).await;
    let error = load_error(&server).await;
    assert!(error.contains("warm-up failed on inputs 'INPUT0' (BYTES [1, 16], each \"\")"), "{error}");
    assert!(error.contains("warmup.enabled = false"), "{error}");
    let (status, _) = server.get("/v2/health/ready").await;
    assert_eq!(status, 503, "a configured model that failed keeps the server unready");
}

#[tokio::test]
async fn warm_up_can_be_turned_off_and_bad_input_is_then_an_error_not_a_crash() {
    let repo = string_repo("warmup-off", "[warmup]\nenabled = false\n");
    let server = Server::ready(repository_config(&repo.0)).await;
    let empty = vec![String::new(); 16];
    let (status, body) = server.post_json(&format!("/v2/models/{MODEL}/infer"), &rest_request(&empty, &empty)).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("Cast")), "{body}");
    let (status, _) = server.get("/v2/health/ready").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn samples_come_from_files_beside_the_version_and_are_checked() {
    let sample: Vec<u8> = (0..16u32)
        .flat_map(|v| {
            let text = (v * 3).to_string();
            let mut element = (text.len() as u32).to_le_bytes().to_vec();
            element.extend_from_slice(text.as_bytes());
            element
        })
        .collect();
    let warmup = "[warmup]\ncount = 3\n[warmup.inputs.INPUT0]\nfile = \"warmup/INPUT0\"\n\
                  [warmup.inputs.INPUT1]\ndata = \"random\"\n";
    let repo = string_repo("warmup-file", warmup);
    std::fs::create_dir_all(repo.0.join(MODEL).join("1/warmup")).expect("mkdir");
    std::fs::write(repo.0.join(MODEL).join("1/warmup/INPUT0"), &sample).expect("write");
    let server = Server::ready(repository_config(&repo.0)).await;
    let (status, _) = server.get(&format!("/v2/models/{MODEL}/ready")).await;
    assert_eq!(status, 200);

    // A file with too few elements: refused, and the error says which.
    let short = string_repo("warmup-short", warmup);
    std::fs::create_dir_all(short.0.join(MODEL).join("1/warmup")).expect("mkdir");
    std::fs::write(short.0.join(MODEL).join("1/warmup/INPUT0"), &sample[..20]).expect("write");
    let server = Server::start(repository_config(&short.0)).await;
    let error = load_error(&server).await;
    assert!(error.contains("warm-up sample for input 'INPUT0'") && error.contains("needs 16 elements"), "{error}");
}

#[tokio::test]
async fn bad_warmup_settings_are_refused_at_load_with_the_reason() {
    let repo = string_repo("warmup-escape", "[warmup.inputs.INPUT0]\nfile = \"../../../etc/passwd\"\n");
    let server = Server::start(repository_config(&repo.0)).await;
    let error = load_error(&server).await;
    assert!(error.contains("relative path inside the version"), "{error}");
    let repo = string_repo("warmup-unknown", "[warmup.inputs.INPUT7]\ndata = \"zero\"\n");
    let server = Server::start(repository_config(&repo.0)).await;
    let error = load_error(&server).await;
    assert!(error.contains("[warmup.inputs.INPUT7] names no input"), "{error}");
}
