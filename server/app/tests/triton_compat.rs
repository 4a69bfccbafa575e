//! Triton's own behaviour where its tools depend on it: raw binary
//! requests, `binary_data_output` next to listed outputs, duplicate output
//! names, the JSON nesting limit. Each over REST, and gRPC where the
//! protocol has the case.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use sluice_proto::*;

const FRAUD: &str = "/v2/models/fraud-detection/versions/1/infer";

fn raw_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[tokio::test]
async fn raw_binary_requests_carry_the_single_input_in_the_body() {
    let server = Server::ready(repository_config(models_dir())).await;
    let x = features(3, 7);
    let (status, json_answer) = server.post_json(FRAUD, &json!({ "inputs": [fp32_input("features", 3, &x)] })).await;
    assert_eq!(status, 200, "{json_answer}");
    let (status, raw_answer) = server.post_raw(FRAUD, raw_f32(&x), Some(0)).await;
    assert_eq!(status, 200, "{raw_answer}");
    assert_eq!(raw_answer["outputs"][0]["shape"], json!([3, 2]));
    assert_eq!(raw_answer["outputs"], json_answer["outputs"], "the same numbers as a JSON request");

    let (status, body) = server.post_raw(FRAUD, vec![0u8; 7], Some(0)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("does not fit input 'features'")), "{body}");
}

#[tokio::test]
async fn raw_binary_requests_need_a_model_with_one_input() {
    let server = Server::ready(repository_config(testdata_repository())).await;
    let (status, body) = server.post_raw("/v2/models/simple_string/infer", b"12".to_vec(), Some(0)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("needs a model with one input")), "{body}");
}

/// Requests the fraud model's one output with these request-level and
/// output-level parameters; returns whether the answer carried it as binary.
async fn answered_binary(server: &Server, request_params: Value, output: Option<Value>) -> bool {
    let mut request = json!({ "inputs": [fp32_input("features", 1, &features(1, 3))], "parameters": request_params });
    if let Some(output) = output {
        request["outputs"] = json!([output]);
    }
    let response = server.client.post(server.url(FRAUD)).json(&request).send().await.expect("POST");
    assert_eq!(response.status(), 200);
    response.headers().contains_key("inference-header-content-length")
}

#[tokio::test]
async fn binary_data_output_covers_only_outputs_not_listed_as_tritons_does() {
    let server = Server::ready(repository_config(models_dir())).await;
    let all_binary = json!({ "binary_data_output": true });
    assert!(answered_binary(&server, all_binary.clone(), None).await, "no outputs listed: all binary");
    let listed = json!({ "name": "probabilities" });
    assert!(!answered_binary(&server, all_binary.clone(), Some(listed)).await, "listed without binary_data: JSON");
    let listed_binary = json!({ "name": "probabilities", "parameters": { "binary_data": true } });
    assert!(answered_binary(&server, json!({}), Some(listed_binary)).await, "binary_data on the output");
    let listed_json = json!({ "name": "probabilities", "parameters": { "binary_data": false } });
    assert!(!answered_binary(&server, all_binary, Some(listed_json)).await);
}

#[tokio::test]
async fn an_output_requested_twice_is_refused_over_rest_and_grpc() {
    let server = Server::ready(repository_config(models_dir())).await;
    let request = json!({
        "inputs": [fp32_input("features", 1, &features(1, 5))],
        "outputs": [{ "name": "probabilities" }, { "name": "probabilities" }],
    });
    let (status, body) = server.post_json(FRAUD, &request).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("requested more than once")), "{body}");

    let output = InferRequestedOutputTensor { name: "probabilities".into(), ..Default::default() };
    let request = ModelInferRequest {
        model_name: "fraud-detection".into(),
        inputs: vec![InferInputTensor {
            name: "features".into(),
            datatype: "FP32".into(),
            shape: vec![1, 30],
            contents: Some(InferTensorContents { fp32_contents: features(1, 5), ..Default::default() }),
            ..Default::default()
        }],
        outputs: vec![output.clone(), output],
        ..Default::default()
    };
    let status = server.grpc().await.model_infer(request).await.expect_err("duplicate outputs");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("requested more than once"), "{}", status.message());
}

#[tokio::test]
async fn json_nested_past_the_limit_is_refused_and_the_limit_is_configurable() {
    let nested = |depth: usize| format!("{{\"inputs\":{}{}}}", "[".repeat(depth - 1), "]".repeat(depth - 1));
    let server = Server::ready(repository_config(models_dir())).await;
    let (status, body) = server.post_raw(FRAUD, nested(101).into_bytes(), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("deeper than 100 levels")), "{body}");
    let (status, body) = server.post_raw(FRAUD, nested(100).into_bytes(), None).await;
    assert_eq!(status, 400, "within the limit it is parsed (and refused for what it says): {body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.contains("deeper than")), "{body}");

    let mut config = repository_config(models_dir());
    config.max_json_depth = 4;
    let strict = Server::ready(config).await;
    let (status, body) =
        strict.post_json(FRAUD, &json!({ "inputs": [fp32_input("features", 1, &features(1, 1))] })).await;
    assert_eq!(status, 200, "object, inputs, input, data: four levels: {body}");
    let nested_data = json!({ "inputs": [{ "name": "features", "datatype": "FP32", "shape": [1, 30],
                                           "data": [features(1, 1)] }] });
    let (status, body) = strict.post_json(FRAUD, &nested_data).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn model_configuration_over_rest_and_grpc_in_tritons_shape() {
    let repo = fraud_repo(
        "config-ext",
        "backend = \"onnx\"\nmax_batch_size = 16\nversion_policy = { latest = 2 }\n[batching]\n\
         max_queue_delay_us = 250\npreferred_batch_sizes = [4, 8]\nmax_queue_size = 99\ndefault_timeout_us = 5000\n\
         [instances]\ncount = 2\n[warmup]\nbatch_size = 2\ndata = \"random\"\n",
    );
    let server = Server::ready(repository_config(&repo.0)).await;
    let (status, config) = server.get("/v2/models/fraud-detection/config").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["name"], "fraud-detection");
    assert_eq!(
        (config["platform"].as_str(), config["backend"].as_str()),
        (Some("onnxruntime_onnx"), Some("onnxruntime"))
    );
    assert_eq!(config["max_batch_size"], 16);
    assert_eq!(config["version_policy"], json!({ "latest": { "num_versions": 2 } }));
    assert_eq!(config["input"][0]["name"], "features");
    assert_eq!(config["input"][0]["data_type"], "TYPE_FP32");
    assert_eq!(config["input"][0]["dims"], json!([30]), "dims exclude the batch dimension");
    assert_eq!(config["output"][0]["dims"], json!([2]));
    let batching = &config["dynamic_batching"];
    assert_eq!(batching["preferred_batch_size"], json!([4, 8]));
    assert_eq!(batching["max_queue_delay_microseconds"], 250);
    assert_eq!(batching["default_queue_policy"]["max_queue_size"], 99);
    assert_eq!(batching["default_queue_policy"]["default_timeout_microseconds"], 5000);
    assert_eq!(config["instance_group"][0]["count"], 2);
    assert_eq!(config["instance_group"][0]["kind"], "KIND_CPU");
    let warmup = &config["model_warmup"][0];
    assert_eq!((warmup["batch_size"].as_u64(), warmup["count"].as_u64()), (Some(2), Some(1)));
    assert_eq!(warmup["inputs"]["features"], json!({ "data_type": "TYPE_FP32", "dims": [30], "random_data": true }));
    let (status, v1) = server.get("/v2/models/fraud-detection/versions/1/config").await;
    assert_eq!((status, &v1["name"]), (200, &json!("fraud-detection")));
    assert_eq!(server.get("/v2/models/fraud-detection/versions/9/config").await.0, 404);
    assert_eq!(server.get("/v2/models/nope/config").await.0, 404);

    let mut grpc = server.grpc().await;
    let request = ModelConfigRequest { name: "fraud-detection".into(), version: String::new() };
    let config = grpc.model_config(request).await.expect("ModelConfig").into_inner().config.expect("config");
    assert_eq!((config.name.as_str(), config.max_batch_size), ("fraud-detection", 16));
    assert_eq!(config.input[0].dims, vec![30]);
    assert_eq!(config.input[0].data_type, sluice_proto::DataType::TypeFp32 as i32);
    let Some(model_config::SchedulingChoice::DynamicBatching(batching)) = config.scheduling_choice else {
        panic!("dynamic batching");
    };
    assert_eq!(batching.max_queue_delay_microseconds, 250);
    assert_eq!(config.instance_group[0].count, 2);
    let missing = grpc.model_config(ModelConfigRequest { name: "nope".into(), version: String::new() }).await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn a_model_without_batching_reports_its_full_dims_and_no_batcher() {
    let repo = fraud_repo("config-nobatch", "backend = \"onnx\"\nmax_batch_size = 0\n[warmup]\nenabled = false\n");
    let server = Server::ready(repository_config(&repo.0)).await;
    let (status, config) = server.get("/v2/models/fraud-detection/config").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["max_batch_size"], 0);
    assert_eq!(config["input"][0]["dims"], json!([-1, 30]));
    assert!(config.get("dynamic_batching").is_none(), "{config}");
    assert_eq!(config["model_warmup"], json!([]));
}

/// Sends `requests` on one ModelStreamInfer stream; returns its answers.
async fn open_stream(server: &Server, requests: Vec<ModelInferRequest>) -> tonic::Streaming<ModelStreamInferResponse> {
    let mut grpc = server.grpc().await;
    grpc.model_stream_infer(tokio_stream::iter(requests)).await.expect("ModelStreamInfer").into_inner()
}

fn stream_request(id: usize, rows: usize, model: &str) -> ModelInferRequest {
    ModelInferRequest { model_name: model.into(), id: format!("req-{id}"), ..fraud_grpc_request("1", rows, id as u64) }
}

#[tokio::test]
async fn streaming_answers_every_request_by_id_with_unary_numbers_and_errors_in_band() {
    let server = Server::ready(repository_config(models_dir())).await;
    let mut grpc = server.grpc().await;
    const REQUESTS: usize = 200;
    // Every 50th names a model that does not exist: an error on the stream.
    let model = |id: usize| if id % 50 == 49 { "no-such-model" } else { "fraud-detection" };
    let requests = (0..REQUESTS).map(|id| stream_request(id, 1 + id % 3, model(id))).collect();
    let mut answers = open_stream(&server, requests).await;
    let mut seen = std::collections::HashMap::new();
    while let Some(message) = answers.message().await.expect("stream") {
        let response = message.infer_response.expect("each answer names its request");
        seen.insert(response.id.clone(), (message.error_message, response));
    }
    assert_eq!(seen.len(), REQUESTS, "one answer per request");
    for id in [0, 1, 2, 77, 198] {
        let (error, streamed) = &seen[&format!("req-{id}")];
        assert!(error.is_empty(), "{error}");
        let unary = grpc.model_infer(stream_request(id, 1 + id % 3, "fraud-detection")).await.expect("unary");
        assert_eq!(streamed.raw_output_contents, unary.into_inner().raw_output_contents, "request {id}");
    }
    let (error, failed) = &seen["req-49"];
    assert!(error.contains("unknown model 'no-such-model'"), "{error}");
    assert_eq!(failed.model_name, "no-such-model");
    let served = server.metric("model_inference_requests_total", &[("protocol", "grpc"), ("code", "200")]).await;
    assert!(served.unwrap_or(0.0) >= (REQUESTS - 4) as f64, "streamed requests are counted like unary ones");
}

#[tokio::test]
async fn a_closed_stream_withdraws_what_it_left_queued() {
    // One instance, one row per model call: most requests wait in the queue.
    let repo = fraud_repo(
        "stream-cancel",
        "backend = \"onnx\"\nmax_batch_size = 1\n[batching]\nmax_queue_delay_us = 0\nmax_queue_size = 4096\n",
    );
    let server = Server::ready(repository_config(&repo.0)).await;
    let requests = (0..3000).map(|id| stream_request(id, 1, "fraud-detection")).collect();
    let mut answers = open_stream(&server, requests).await;
    answers.message().await.expect("stream").expect("a first answer");
    drop(answers);
    // The queue empties without running the rest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, stats) = server.get("/v2/models/fraud-detection/versions/1/stats").await;
        let ran = stats["model_stats"][0]["inference_stats"]["success"]["count"].as_u64().unwrap_or(0);
        let depth = server.metric("model_queue_depth", &[("model", "fraud-detection"), ("version", "1")]).await;
        if depth.unwrap_or(0.0) == 0.0 && ran < 3000 {
            // Settled: what ran stays below what was sent.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let (_, later) = server.get("/v2/models/fraud-detection/versions/1/stats").await;
            let ran_later = later["model_stats"][0]["inference_stats"]["success"]["count"].as_u64().unwrap_or(0);
            assert!(ran_later < 3000, "withdrawn requests never ran ({ran_later} of 3000)");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "queue never drained (ran {ran})");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A tf-example request (its inputs echoed back) whose `tag` is `bytes` long.
fn echo_request(id: usize, bytes: usize) -> ModelInferRequest {
    let tensor = |name: &str, datatype: &str, shape: Vec<i64>| InferInputTensor {
        name: name.into(),
        datatype: datatype.into(),
        shape,
        ..Default::default()
    };
    let mut tag = (bytes as u32).to_le_bytes().to_vec();
    tag.resize(4 + bytes, b'x');
    ModelInferRequest {
        model_name: "tf-example".into(),
        id: format!("echo-{id}"),
        inputs: vec![
            tensor("tag", "BYTES", vec![1]),
            tensor("signal", "FP32", vec![1, 5]),
            tensor("sensor", "FP32", vec![1, 2, 2]),
        ],
        raw_input_contents: vec![tag.into(), vec![0u8; 20].into(), vec![0u8; 16].into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_stream_that_is_not_read_stops_being_served_until_it_is() {
    let mut config = repository_config(testdata_repository());
    config.max_stream_requests = 4;
    let server = Server::ready(config).await;
    // 1,000 answers of 16 KiB: far more than the client's HTTP/2 window
    // (2 MiB) and the server's outbox hold while nobody reads.
    const SENT: usize = 1000;
    let mut answers = open_stream(&server, (0..SENT).map(|id| echo_request(id, 16 << 10)).collect()).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let ran = |stats: Value| stats["model_stats"][0]["inference_stats"]["success"]["count"].as_u64().unwrap_or(0);
    let before = ran(server.get("/v2/models/tf-example/versions/1/stats").await.1);
    assert!(before < 700, "{before} of {SENT} ran while the client read nothing");
    let mut answered = 0;
    while answers.message().await.expect("stream").is_some() {
        answered += 1;
    }
    assert_eq!(answered, SENT, "reading resumes the stream: every request is answered");
}
