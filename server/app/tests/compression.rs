//! Compressed requests and responses: HTTP gzip/deflate bodies (and
//! Accept-Encoding answers), gRPC gzip/deflate/zstd messages, and the
//! decompressed-size limit that turns a zip bomb into a refusal.

mod common;

use std::io::{Read, Write};

use common::*;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::{Value, json};
use sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use sluice_proto::*;
use tonic::codec::CompressionEncoding;

const FRAUD: &str = "/v2/models/fraud-detection/versions/1/infer";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("deflate");
    encoder.finish().expect("deflate")
}

async fn post(server: &Server, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Option<String>, Vec<u8>) {
    let mut request = server.client.post(server.url(FRAUD)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let encoding = response.headers().get("content-encoding").map(|v| v.to_str().expect("ascii").to_owned());
    (status, encoding, response.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn gzip_and_deflate_request_bodies_answer_like_plain_ones() {
    let server = Server::ready(repository_config(models_dir())).await;
    let body = serde_json::to_vec(&json!({ "inputs": [fp32_input("features", 4, &features(4, 11))] })).expect("json");
    let (_, _, plain) = post(&server, body.clone(), &[]).await;
    let plain: Value = serde_json::from_slice(&plain).expect("json");
    for (name, packed) in [("gzip", gzip(&body)), ("deflate", zlib(&body))] {
        let (status, _, answer) = post(&server, packed, &[("content-encoding", name)]).await;
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&answer));
        let answer: Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(answer["outputs"], plain["outputs"], "{name}");
    }
    let (status, _, answer) = post(&server, body.clone(), &[("content-encoding", "br")]).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    let (status, _, _) = post(&server, b"not gzip at all".to_vec(), &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 400);

    // Responses are compressed when asked, unless tiny.
    let (status, encoding, _) = post(&server, body.clone(), &[("accept-encoding", "gzip")]).await;
    assert_eq!((status, encoding), (200, None), "a 4-row answer is too small to gain from it");
    let body = serde_json::to_vec(&json!({ "inputs": [fp32_input("features", 64, &features(64, 11))] })).expect("json");
    let (_, _, plain) = post(&server, body.clone(), &[]).await;
    let plain: Value = serde_json::from_slice(&plain).expect("json");
    for name in ["gzip", "deflate"] {
        let (status, encoding, packed) = post(&server, body.clone(), &[("accept-encoding", name)]).await;
        assert_eq!((status, encoding.as_deref()), (200, Some(name)));
        let mut unpacked = Vec::new();
        match name {
            "gzip" => flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked),
            _ => flate2::read::ZlibDecoder::new(&packed[..]).read_to_end(&mut unpacked),
        }
        .expect("decompress");
        let answer: Value = serde_json::from_slice(&unpacked).expect("json");
        assert_eq!(answer["outputs"], plain["outputs"], "{name} response");
    }
}

#[tokio::test]
async fn a_zip_bomb_is_refused_with_413_not_allocated() {
    let mut config = repository_config(models_dir());
    config.max_request_bytes = 1 << 20;
    let server = Server::ready(config).await;
    // 64 MiB of spaces: valid JSON whitespace, 64 KiB compressed.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 1 << 20, "the compressed body itself is within the limit");
    let (status, _, answer) = post(&server, bomb, &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).expect("json error");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("decompressed")), "{answer}");
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
}

fn infer_request(rows: usize) -> ModelInferRequest {
    fraud_grpc_request("1", rows, 3)
}

#[tokio::test]
async fn grpc_messages_compressed_with_gzip_deflate_or_zstd() {
    let mut config = repository_config(models_dir());
    config.max_request_bytes = 1 << 20;
    let server = Server::ready(config).await;
    let plain = server.grpc().await.model_infer(infer_request(8)).await.expect("plain").into_inner();
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Deflate, CompressionEncoding::Zstd] {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut client = GrpcInferenceServiceClient::new(channel).send_compressed(encoding).accept_compressed(encoding);
        let answer = client.model_infer(infer_request(8)).await.expect("compressed call").into_inner();
        assert_eq!(answer.raw_output_contents, plain.raw_output_contents, "{encoding:?}");
        // A message that inflates past --max-request-bytes is refused.
        // 4.8 MB of zero features: a few KiB compressed.
        let mut bomb = infer_request(40_000);
        bomb.raw_input_contents = vec![vec![0u8; 40_000 * 30 * 4].into()];
        let refused = client.model_infer(bomb).await.expect_err("over the limit");
        assert!(
            matches!(refused.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted),
            "{encoding:?}: {refused:?}"
        );
    }
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
}
