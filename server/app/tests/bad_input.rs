//! The bad-input matrix: every malformed request gets the right HTTP status
//! and gRPC code with a message a person can act on, and the server stays
//! ready throughout.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_proto::model_infer_request::InferInputTensor;
use sluice_proto::*;
use tonic::Code;

const MAX_ELEMENTS: usize = 4096;
const MAX_BYTES: usize = 64 * 1024;
const SMALL_LIMIT: usize = 16 * 1024;

struct Case {
    what: &'static str,
    /// REST path and body; `None` when the case cannot be expressed over REST.
    rest: Option<(String, Vec<u8>)>,
    /// gRPC request; `None` when the case cannot be expressed over gRPC.
    grpc: Option<ModelInferRequest>,
    status: u16,
    code: Code,
    message: &'static str,
}

fn rest_body(input: Value) -> Vec<u8> {
    json!({ "inputs": [input] }).to_string().into_bytes()
}

fn features_json(shape: Value, datatype: &str, data: Value) -> Value {
    json!({ "name": "features", "shape": shape, "datatype": datatype, "data": data })
}

fn grpc_raw(
    model: &str,
    version: &str,
    name: &str,
    datatype: &str,
    shape: Vec<i64>,
    raw: Vec<u8>,
) -> ModelInferRequest {
    ModelInferRequest {
        model_name: model.into(),
        model_version: version.into(),
        inputs: vec![InferInputTensor { name: name.into(), datatype: datatype.into(), shape, ..Default::default() }],
        raw_input_contents: vec![raw.into()],
        ..Default::default()
    }
}

fn ok_values(n: usize) -> Value {
    json!(vec![0.5f32; n])
}

fn cases() -> Vec<Case> {
    let infer = "/v2/models/fraud-detection/infer".to_owned();
    let good =
        |rows: i64| grpc_raw("fraud-detection", "", "features", "FP32", vec![rows, 30], vec![0; rows as usize * 120]);
    vec![
        Case {
            what: "malformed JSON",
            rest: Some((infer.clone(), b"{\"inputs\": [".to_vec())),
            grpc: None,
            status: 400,
            code: Code::InvalidArgument,
            message: "malformed inference request JSON",
        },
        Case {
            what: "JSON that is not an inference request",
            rest: Some((infer.clone(), b"{\"inputs\": 3}".to_vec())),
            grpc: None,
            status: 400,
            code: Code::InvalidArgument,
            message: "malformed inference request JSON",
        },
        Case {
            what: "unknown model",
            rest: Some(("/v2/models/nope/infer".into(), rest_body(features_json(json!([1, 30]), "FP32", ok_values(30))))),
            grpc: Some(ModelInferRequest { model_name: "nope".into(), ..good(1) }),
            status: 404,
            code: Code::NotFound,
            message: "unknown model 'nope'",
        },
        Case {
            what: "unknown version",
            rest: Some((
                "/v2/models/fraud-detection/versions/9/infer".into(),
                rest_body(features_json(json!([1, 30]), "FP32", ok_values(30))),
            )),
            grpc: Some(ModelInferRequest { model_version: "9".into(), ..good(1) }),
            status: 404,
            code: Code::NotFound,
            message: "has no version 9",
        },
        Case {
            what: "version that is not a number",
            rest: Some((
                "/v2/models/fraud-detection/versions/latest/infer".into(),
                rest_body(features_json(json!([1, 30]), "FP32", ok_values(30))),
            )),
            grpc: Some(ModelInferRequest { model_version: "latest".into(), ..good(1) }),
            status: 400,
            code: Code::InvalidArgument,
            message: "not a positive integer",
        },
        Case {
            what: "wrong input name",
            rest: Some((infer.clone(), rest_body(json!({ "name": "x", "shape": [1, 30], "datatype": "FP32", "data": ok_values(30) })))),
            grpc: Some(grpc_raw("fraud-detection", "", "x", "FP32", vec![1, 30], vec![0; 120])),
            status: 400,
            code: Code::InvalidArgument,
            message: "missing input 'features'",
        },
        Case {
            what: "wrong datatype",
            rest: Some((infer.clone(), rest_body(features_json(json!([1, 30]), "INT32", json!(vec![1; 30]))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "INT32", vec![1, 30], vec![0; 120])),
            status: 400,
            code: Code::InvalidArgument,
            message: "has datatype INT32 but the model expects FP32",
        },
        Case {
            what: "unknown datatype",
            rest: Some((infer.clone(), rest_body(features_json(json!([1, 30]), "FLOAT", ok_values(30))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "FLOAT", vec![1, 30], vec![0; 120])),
            status: 400,
            code: Code::InvalidArgument,
            message: "unknown datatype 'FLOAT'",
        },
        Case {
            what: "data length does not match the shape",
            rest: Some((infer.clone(), rest_body(features_json(json!([1, 30]), "FP32", ok_values(29))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "FP32", vec![1, 30], vec![0; 116])),
            status: 400,
            code: Code::InvalidArgument,
            message: "needs",
        },
        Case {
            what: "shape whose product overflows",
            rest: Some((infer.clone(), rest_body(features_json(json!([4294967296u64, 4294967296u64]), "FP32", json!([]))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "FP32", vec![1 << 32, 1 << 32], vec![])),
            status: 400,
            code: Code::InvalidArgument,
            message: "more elements than fit in memory",
        },
        Case {
            what: "tensor over the element limit",
            rest: Some((infer.clone(), rest_body(features_json(json!([200, 30]), "FP32", json!([]))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "FP32", vec![200, 30], vec![])),
            status: 400,
            code: Code::InvalidArgument,
            message: "over the limit of 4096",
        },
        Case {
            what: "negative dimension",
            rest: Some((infer.clone(), rest_body(features_json(json!([-1, 30]), "FP32", ok_values(30))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "FP32", vec![-1, 30], vec![0; 120])),
            status: 400,
            code: Code::InvalidArgument,
            message: "negative",
        },
        Case {
            what: "wrong rank",
            rest: Some((infer.clone(), rest_body(features_json(json!([30]), "FP32", ok_values(30))))),
            grpc: Some(grpc_raw("fraud-detection", "", "features", "FP32", vec![30], vec![0; 120])),
            status: 400,
            code: Code::InvalidArgument,
            message: "expects [-1, 30]",
        },
        Case {
            what: "batch larger than max_batch_size",
            rest: Some((infer.clone(), rest_body(features_json(json!([65, 30]), "FP32", ok_values(65 * 30))))),
            grpc: Some(good(65)),
            status: 400,
            code: Code::InvalidArgument,
            message: "outside 1..=64",
        },
        Case {
            what: "value out of the datatype's range",
            rest: Some((
                "/v2/models/all-types/infer".into(),
                rest_body(json!({ "name": "INPUT_UINT8", "shape": [1, 1], "datatype": "UINT8", "data": [256] })),
            )),
            grpc: None,
            status: 400,
            code: Code::InvalidArgument,
            message: "not a valid UINT8 value",
        },
        Case {
            what: "unknown requested output",
            rest: Some((
                infer.clone(),
                json!({ "inputs": [features_json(json!([1, 30]), "FP32", ok_values(30))], "outputs": [{ "name": "logits" }] })
                    .to_string()
                    .into_bytes(),
            )),
            grpc: Some(ModelInferRequest {
                outputs: vec![model_infer_request::InferRequestedOutputTensor { name: "logits".into(), ..Default::default() }],
                ..good(1)
            }),
            status: 400,
            code: Code::InvalidArgument,
            message: "unknown output 'logits'",
        },
        Case {
            what: "raw contents count differs from inputs",
            rest: None,
            grpc: Some(ModelInferRequest { raw_input_contents: vec![], ..good(1) }),
            status: 400,
            code: Code::InvalidArgument,
            message: "no contents and no raw_input_contents",
        },
    ]
}

#[tokio::test]
async fn bad_input_matrix_over_rest_and_grpc() {
    let mut config = repository_config(models_dir());
    // Serve the bundled models plus the all-types test model.
    let repo = TempDir::new("bad-input");
    copy_dir(&models_dir(), &repo.0);
    copy_dir(&testdata_repository(), &repo.0);
    config.model_repository = Some(repo.0.display().to_string());
    config.max_tensor_elements = MAX_ELEMENTS;
    config.max_request_bytes = MAX_BYTES;
    let server = Server::ready(config).await;
    let mut grpc = server.grpc().await;
    for case in cases() {
        if let Some((path, body)) = &case.rest {
            let (status, reply) = server.post_raw(path, body.clone(), None).await;
            assert_eq!(status, case.status, "REST {}: {reply}", case.what);
            let error =
                reply["error"].as_str().unwrap_or_else(|| panic!("REST {}: no error field in {reply}", case.what));
            assert!(error.contains(case.message), "REST {}: '{error}' lacks '{}'", case.what, case.message);
        }
        if let Some(request) = case.grpc {
            let status = grpc.model_infer(request).await.expect_err(case.what);
            assert_eq!(status.code(), case.code, "gRPC {}: {}", case.what, status.message());
            assert!(
                status.message().contains(case.message),
                "gRPC {}: '{}' lacks '{}'",
                case.what,
                status.message(),
                case.message
            );
        }
        assert_eq!(server.get("/v2/health/ready").await.0, 200, "still ready after {}", case.what);
    }
}

#[tokio::test]
async fn oversized_bodies_and_headers_are_refused() {
    let mut config = repository_config(models_dir());
    config.max_request_bytes = SMALL_LIMIT;
    let server = Server::ready(config).await;
    let rows = 64;
    let big = rest_body(features_json(json!([rows, 30]), "FP32", json!(vec![0.123456789f64; rows * 30])));
    assert!(big.len() > SMALL_LIMIT);
    let (status, reply) = server.post_raw("/v2/models/fraud-detection/infer", big, None).await;
    assert_eq!(status, 413);
    assert!(reply["error"].as_str().expect("error").contains("exceeds the limit of 16384 bytes"));

    // Chunked (no Content-Length): the limit still holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![b' '; 8192])).collect();
    let response = server
        .client
        .post(server.url("/v2/models/fraud-detection/infer"))
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 413);

    // A header length past the body is a client error, not a panic.
    let (status, reply) = server.post_raw("/v2/models/fraud-detection/infer", b"{}".to_vec(), Some(10)).await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().expect("error").contains("Inference-Header-Content-Length"));
    // Binary bytes nobody claims.
    let header = json!({ "inputs": [features_json(json!([1, 30]), "FP32", ok_values(30))] }).to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&[1, 2, 3]);
    let (status, reply) = server.post_raw("/v2/models/fraud-detection/infer", body, Some(header.len())).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"].as_str().expect("error").contains("no input claims them"));

    let mut grpc = server.grpc().await;
    let request = grpc_raw("fraud-detection", "", "features", "FP32", vec![1000, 30], vec![0; 120_000]);
    let status = grpc.model_infer(request).await.expect_err("too large");
    // tonic refuses oversized messages itself, before sluice sees them.
    assert_eq!(status.code(), Code::OutOfRange, "{}", status.message());
    assert!(status.message().contains("16384"), "{}", status.message());

    // Unknown routes and methods answer JSON errors too.
    let (status, reply) = server.get("/v2/nothing").await;
    assert_eq!(status, 404);
    assert!(reply["error"].is_string());
    let response = server.client.delete(server.url("/v2/models/fraud-detection")).send().await.expect("DELETE");
    assert_eq!(response.status(), 405);
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl tokio_stream::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    tokio_stream::iter(chunks)
}
