//! The request-handling ceiling: a bare axum server that parses a v2 JSON
//! inference request and returns a fixed response, doing no inference.
//! sluice's REST throughput is compared against it.

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18090".into());
    let app = Router::new().route("/v2/models/{model}/infer", post(infer));
    let listener = tokio::net::TcpListener::bind(&addr).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("axum-ceiling listening on {addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
