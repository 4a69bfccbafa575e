//! The request-handling ceiling: a bare axum server that parses a v2 JSON
//! inference request and returns a fixed response, doing no inference.
//! sluice's REST throughput is compared against it. On a second address it
//! answers gRPC ModelInfer the same way (decode the protobuf, send a fixed
//! message and the grpc-status trailer), over the same HTTP/2 server stack
//! sluice's gRPC uses but without tonic or any inference: the gRPC ceiling.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde::Deserialize;

// The same allocator as sluice, so the comparison is of request handling only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    inputs: Vec<Input>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Input {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Vec<f64>,
}

const RESPONSE: &str = r#"{"model_name":"fraud-detection","model_version":"2","outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,2],"data":[0.41947192,0.58052814]}]}"#;

async fn infer(body: Bytes) -> impl IntoResponse {
    match serde_json::from_slice::<Request>(&body) {
        Ok(request) if !request.inputs.is_empty() => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], RESPONSE)
        }
        _ => (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"bad request"}"#),
    }
}

/// One gRPC ModelInfer: the framed request in, a framed fixed answer and
/// `grpc-status: 0` out.
async fn grpc_infer(body: Bytes) -> axum::response::Response {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use prost::Message;
    let decoded = body.get(5..).map(sluice_proto::ModelInferRequest::decode);
    let status = if matches!(decoded, Some(Ok(ref r)) if !r.inputs.is_empty()) { "0" } else { "3" };
    let answer = sluice_proto::ModelInferResponse {
        model_name: "fraud-detection".into(),
        model_version: "2".into(),
        outputs: vec![sluice_proto::model_infer_response::InferOutputTensor {
            name: "probabilities".into(),
            datatype: "FP32".into(),
            shape: vec![1, 2],
            ..Default::default()
        }],
        raw_output_contents: vec![
            [0.41947192f32, 0.58052814].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into(),
        ],
        ..Default::default()
    }
    .encode_to_vec();
    let mut framed = Vec::with_capacity(answer.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&(answer.len() as u32).to_be_bytes());
    framed.extend_from_slice(&answer);
    let mut trailers = axum::http::HeaderMap::new();
    trailers.insert("grpc-status", axum::http::HeaderValue::from_static(status));
    let frames: [Result<Frame<Bytes>, std::convert::Infallible>; 2] =
        [Ok(Frame::data(Bytes::from(framed))), Ok(Frame::trailers(trailers))];
    let body = axum::body::Body::new(StreamBody::new(tokio_stream::iter(frames)));
    ([(header::CONTENT_TYPE, "application/grpc")], body).into_response()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18090".into());
    let grpc_addr = std::env::args().nth(2).unwrap_or_else(|| "127.0.0.1:18091".into());
    let app = Router::new().route("/v2/models/{model}/infer", post(infer));
    let grpc = Router::new().route("/inference.GRPCInferenceService/ModelInfer", post(grpc_infer));
    let nodelay = |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?.tap_io(nodelay);
    let grpc_listener = tokio::net::TcpListener::bind(&grpc_addr).await?.tap_io(nodelay);
    eprintln!("axum-ceiling listening on {addr} (REST) and {grpc_addr} (gRPC)");
    let (rest, grpc) = tokio::join!(axum::serve(listener, app), axum::serve(grpc_listener, grpc));
    rest?;
    grpc?;
    Ok(())
}
