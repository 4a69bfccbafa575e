//! Sampling what is served, for drift detection: sampled rows over REST and
//! gRPC come back from `GET .../samples` (and gRPC `ModelSamples`) exactly as sent with the outputs
//! served, paged by cursor, bounded with drops counted, per-model rates,
//! and behind the admin token.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_proto::ModelSamplesRequest;

const TOKEN: &str = "sampling-token";

async fn samples(server: &Server, version: u64, query: &str, token: Option<&str>) -> (u16, Value) {
    let url = format!("/v2/models/fraud-detection/versions/{version}/samples{query}");
    let mut request = server.client.get(server.url(&url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn infer_rows(server: &Server, version: u64, rows: usize, seed: u64) -> Vec<f32> {
    let x = features(rows, seed);
    let body = json!({ "inputs": [fp32_input("features", rows, &x)] });
    let (status, out) = server.post_json(&format!("/v2/models/fraud-detection/versions/{version}/infer"), &body).await;
    assert_eq!(status, 200, "{out}");
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_rows_come_back_as_served_paged_and_bounded() {
    let mut config = repository_config(models_dir());
    config.sample_rate = 1.0;
    config.sample_buffer_rows = 10;
    config.admin_token = Some(TOKEN.into());
    let server = Server::ready(config).await;

    let a = infer_rows(&server, 1, 3, 1).await;
    let mut grpc = server.grpc().await;
    let request = fraud_grpc_request("1", 2, 2);
    grpc.model_infer(request).await.expect("gRPC infer");
    let b = features(2, 2);

    let (status, page) = samples(&server, 1, "", Some(TOKEN)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["rows"].as_u64(), page["cursor"].as_u64(), page["dropped"].as_u64()), (Some(5), Some(5), Some(0)));
    assert_eq!(page["inputs"][0]["shape"], json!([5, 30]));
    assert_eq!((page["requests"][0]["rows"].as_u64(), page["requests"][1]["rows"].as_u64()), (Some(3), Some(2)));
    assert!(page["requests"][0]["unix_ms"].as_u64().is_some_and(|t| t > 1_700_000_000_000), "{page}");
    let sent: Vec<f32> = a.iter().chain(&b).copied().collect();
    assert_eq!(f32s(&page["inputs"][0]["data"]), sent, "the rows as sent, REST then gRPC");
    let served = f32s(&page["outputs"][0]["data"]);
    let reference = onnxruntime_reference(&models_dir().join("fraud-detection/1/model.onnx"), "features", 5, &sent);
    for (x, y) in served.iter().zip(&reference) {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }

    let (_, next) = samples(&server, 1, "?since=5", Some(TOKEN)).await;
    assert_eq!((next["rows"].as_u64(), next["cursor"].as_u64()), (Some(0), Some(5)), "nothing new");
    let (_, first) = samples(&server, 1, "?since=0&limit=3", Some(TOKEN)).await;
    assert_eq!(
        (first["rows"].as_u64(), first["cursor"].as_u64()),
        (Some(3), Some(3)),
        "whole requests up to the limit"
    );

    // 8 more rows into a 10-row ring: the first request is evicted.
    infer_rows(&server, 1, 8, 3).await;
    let (_, late) = samples(&server, 1, "?since=0", Some(TOKEN)).await;
    assert_eq!(
        (late["dropped"].as_u64(), late["rows"].as_u64(), late["cursor"].as_u64()),
        (Some(3), Some(10), Some(13))
    );

    assert_eq!(samples(&server, 1, "", None).await.0, 401, "live inputs are behind the admin token");
    let (status, body) = server.get("/v2/models/nope/versions/1/samples").await;
    assert!(status == 401 || status == 404, "{status} {body}");
    let unknown = server
        .client
        .get(server.url("/v2/models/nope/versions/1/samples"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(unknown.status().as_u16(), 404);
    let bad = server
        .client
        .get(server.url("/v2/models/fraud-detection/versions/x/samples"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status().as_u16(), 400);
}

fn samples_request(version: &str, since: u64, limit: u32, token: Option<&str>) -> tonic::Request<ModelSamplesRequest> {
    let mut request = tonic::Request::new(ModelSamplesRequest {
        name: "fraud-detection".into(),
        version: version.into(),
        since,
        limit,
    });
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_model_samples_returns_the_same_columns_as_rest() {
    let mut config = repository_config(models_dir());
    config.sample_rate = 1.0;
    config.admin_token = Some(TOKEN.into());
    let server = Server::ready(config).await;
    let sent: Vec<f32> = [infer_rows(&server, 1, 4, 7).await, infer_rows(&server, 1, 2, 8).await].concat();

    let mut grpc = server.grpc().await;
    let page = grpc.model_samples(samples_request("1", 0, 0, Some(TOKEN))).await.expect("ModelSamples").into_inner();
    assert_eq!((page.rows, page.cursor, page.dropped, page.sample_rate), (6, 6, 0, 1.0));
    assert_eq!(page.requests.iter().map(|r| r.rows).collect::<Vec<_>>(), vec![4, 2]);
    assert_eq!((page.inputs[0].name.as_str(), page.inputs[0].datatype.as_str()), ("features", "FP32"));
    assert_eq!(page.inputs[0].shape, vec![6, 30]);
    assert_eq!(le_f32s(&page.raw_input_contents[0]), sent, "the rows as sent");
    let (_, rest) = samples(&server, 1, "", Some(TOKEN)).await;
    assert_eq!(le_f32s(&page.raw_output_contents[0]), f32s(&rest["outputs"][0]["data"]), "the same outputs as REST");
    assert_eq!(page.outputs[0].shape, vec![6, 2], "two class probabilities a row");

    let tail = grpc.model_samples(samples_request("1", 4, 0, Some(TOKEN))).await.expect("since").into_inner();
    assert_eq!((tail.rows, tail.cursor), (2, 6));
    let first = grpc.model_samples(samples_request("1", 0, 4, Some(TOKEN))).await.expect("limit").into_inner();
    assert_eq!((first.rows, first.cursor), (4, 4), "whole requests up to the limit");

    let denied = grpc.model_samples(samples_request("1", 0, 0, None)).await.expect_err("no token");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let no_version = grpc.model_samples(samples_request("", 0, 0, Some(TOKEN))).await.expect_err("no version");
    assert_eq!(no_version.code(), tonic::Code::InvalidArgument);
    let mut unknown = samples_request("1", 0, 0, Some(TOKEN));
    unknown.get_mut().name = "nope".into();
    assert_eq!(grpc.model_samples(unknown).await.expect_err("unknown").code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_is_off_by_default_and_set_per_model() {
    let repo =
        fraud_repo("sampling-per-model", &format!("{FRAUD_LATEST_1}\n[sampling]\nrate = 1.0\nbuffer_rows = 4\n"));
    let server = Server::ready(repository_config(&repo.0)).await;
    infer_rows(&server, 2, 3, 4).await;
    infer_rows(&server, 2, 3, 5).await;
    let (status, page) = samples(&server, 2, "", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (page["rows"].as_u64(), page["dropped"].as_u64(), page["sample_rate"].as_f64()),
        (Some(3), Some(3), Some(1.0))
    );

    let plain = Server::ready(repository_config(models_dir())).await;
    infer_rows(&plain, 1, 2, 6).await;
    let (_, page) = samples(&plain, 1, "", None).await;
    assert_eq!((page["rows"].as_u64(), page["sample_rate"].as_f64()), (Some(0), Some(0.0)), "off unless asked for");
}
