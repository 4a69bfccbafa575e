//! The request-handling ceiling: a bare axum server that parses a v2 JSON
//! inference request and returns a fixed response, doing no inference.
//! sluice's REST throughput is compared against it. On a second address it
//! answers gRPC ModelInfer the same way (decode the protobuf, send a fixed
//! message and the grpc-status trailer), over the same HTTP/2 server stack
//! sluice's gRPC uses but without tonic or any inference: the gRPC ceiling.
//!
//! With `--model model.onnx` (and `ORT_DYLIB_PATH`), it runs the request
//! through that model in one ONNX Runtime session with sluice's settings, on
//! the connection's own thread, and answers with the real output: the least
//! any server serving that model must do. sluice's latency above it is its
//! own serving overhead; above the echo it is that plus the model call.

use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use serde::Deserialize;

// The same allocator as sluice, so the comparison is of request handling only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The ONNX session of `--model`, when given.
static MODEL: OnceLock<Mutex<Session>> = OnceLock::new();

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
const FIXED_OUTPUT: [f32; 2] = [0.41947192, 0.58052814];

/// Loads `path` with sluice's session settings (one intra-op thread, no
/// spinning, full graph optimisation).
fn load_model(path: &str) -> anyhow::Result<Session> {
    let library = std::env::var("ORT_DYLIB_PATH").map_err(|_| anyhow::anyhow!("--model needs ORT_DYLIB_PATH"))?;
    let environment = ort::init_from(library)?.with_name("axum-ceiling").build()?;
    Session::builder(&environment)
        .map_err(text)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(text)?
        .with_intra_threads(1)
        .map_err(text)?
        .with_inter_threads(1)
        .map_err(text)?
        .with_intra_op_spinning(false)
        .map_err(text)?
        .with_inter_op_spinning(false)
        .map_err(text)?
        .commit_from_file(path)
        .map_err(text)
}

/// Builder errors carry the builder, which is not `Send`: keep their text.
fn text(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

/// The model's output for `rows` rows of `features`, or the fixed answer
/// without `--model`.
fn outputs(rows: usize, features: Vec<f32>) -> Option<(Vec<i64>, Vec<f32>)> {
    let Some(model) = MODEL.get() else {
        return Some((vec![1, 2], FIXED_OUTPUT.to_vec()));
    };
    let width = features.len().checked_div(rows)?;
    let input = ort::value::Tensor::from_array((vec![rows as i64, width as i64], features)).ok()?;
    let mut session = model.lock().ok()?;
    let result = session.run(vec![("features", input.into_dyn())]).ok()?;
    let (shape, values) = result["probabilities"].try_extract_tensor::<f32>().ok()?;
    Some((shape.to_vec(), values.to_vec()))
}

async fn infer(body: Bytes) -> axum::response::Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    let answered = match serde_json::from_slice::<Request>(&body) {
        Ok(request) if !request.inputs.is_empty() => {
            let input = &request.inputs[0];
            let rows = input.shape.first().map_or(0, |&r| r.max(0) as usize);
            outputs(rows, input.data.iter().map(|&v| v as f32).collect())
        }
        _ => None,
    };
    match answered {
        Some(_) if MODEL.get().is_none() => (StatusCode::OK, json, RESPONSE.to_owned()).into_response(),
        Some((shape, data)) => {
            let body = serde_json::json!({ "model_name": "fraud-detection", "model_version": "2", "outputs": [
                { "name": "probabilities", "datatype": "FP32", "shape": shape, "data": data }] });
            (StatusCode::OK, json, body.to_string()).into_response()
        }
        None => (StatusCode::BAD_REQUEST, json, r#"{"error":"bad request"}"#.to_owned()).into_response(),
    }
}

/// The model's answer to a gRPC request: its rows' outputs, or `None` for
/// a request without inputs or a bad one.
fn grpc_outputs(request: &sluice_proto::ModelInferRequest) -> Option<(Vec<i64>, Vec<f32>)> {
    let rows = request.inputs.first()?.shape.first().map_or(0, |&r| r.max(0) as usize);
    let raw = request.raw_input_contents.first().map(|b| b.as_ref()).unwrap_or_default();
    outputs(rows, raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The ModelInferResponse carrying `outputs`.
fn grpc_response((shape, data): (Vec<i64>, Vec<f32>)) -> sluice_proto::ModelInferResponse {
    sluice_proto::ModelInferResponse {
        model_name: "fraud-detection".into(),
        model_version: "2".into(),
        outputs: vec![sluice_proto::model_infer_response::InferOutputTensor {
            name: "probabilities".into(),
            datatype: "FP32".into(),
            shape,
            ..Default::default()
        }],
        raw_output_contents: vec![data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()],
        ..Default::default()
    }
}

/// One gRPC ModelInfer: the framed request in, a framed answer and
/// `grpc-status` out.
async fn grpc_infer(body: Bytes) -> axum::response::Response {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use prost::Message;
    let decoded = body.get(5..).map(sluice_proto::ModelInferRequest::decode);
    let answered = match decoded {
        Some(Ok(request)) => grpc_outputs(&request),
        _ => None,
    };
    let status = if answered.is_some() { "0" } else { "3" };
    let answer = grpc_response(answered.unwrap_or_default()).encode_to_vec();
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

/// The same answer through tonic's unary handling (its codec, framing,
/// compression negotiation and status trailers), without sluice: the gap
/// between this and `grpc_infer` is tonic's, the rest above it sluice's own.
#[derive(Clone, Copy)]
struct TonicUnary;

impl tonic::server::UnaryService<sluice_proto::ModelInferRequest> for TonicUnary {
    type Response = sluice_proto::ModelInferResponse;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<sluice_proto::ModelInferRequest>) -> Self::Future {
        let answer = grpc_outputs(request.get_ref())
            .map(|outputs| tonic::Response::new(grpc_response(outputs)))
            .ok_or_else(|| tonic::Status::invalid_argument("bad request"));
        std::future::ready(answer)
    }
}

async fn tonic_infer(request: axum::extract::Request) -> axum::response::Response {
    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
    grpc.unary(TonicUnary, request).await.map(axum::body::Body::new)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--model") {
        let path = args.get(at + 1).cloned().ok_or_else(|| anyhow::anyhow!("--model needs a path"))?;
        let _ = MODEL.set(Mutex::new(load_model(&path)?));
        args.drain(at..at + 2);
    }
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:18090".into());
    let grpc_addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:18091".into());
    let app = Router::new().route("/v2/models/{model}/infer", post(infer));
    // TONIC=1 answers gRPC through tonic's unary handler instead of by hand.
    let grpc = if std::env::var_os("TONIC").is_some() {
        Router::new().route("/inference.GRPCInferenceService/ModelInfer", post(tonic_infer))
    } else {
        Router::new().route("/inference.GRPCInferenceService/ModelInfer", post(grpc_infer))
    };
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
