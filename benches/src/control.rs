//! Control-plane calls during a measured run, made from this process so no
//! extra client processes disturb the machine: every `--control-every`
//! seconds either a swap (a repository-API load flipping between two
//! versions) or, for the baseline, a repository index.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ControlKind {
    /// POST /v2/repository/models/{m}/load, alternating the two --swap-versions.
    Swap,
    /// POST /v2/repository/index: the same cadence without a swap.
    Index,
}

/// Calls made and calls that failed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ControlCount {
    pub calls: usize,
    pub failures: usize,
}

pub async fn run(
    addr: String,
    model: String,
    kind: ControlKind,
    versions: [u64; 2],
    every: Duration,
    stop: Arc<AtomicBool>,
) -> ControlCount {
    let mut count = ControlCount::default();
    while !stop.load(Ordering::Acquire) {
        tokio::time::sleep(every).await;
        let (path, body) = match kind {
            ControlKind::Swap => {
                let version = versions[count.calls % 2];
                let config = format!(r#"{{"version_policy": {{"specific": [{version}]}}}}"#);
                let body = serde_json::json!({ "parameters": { "config": config } }).to_string();
                (format!("/v2/repository/models/{model}/load"), body)
            }
            ControlKind::Index => ("/v2/repository/index".to_owned(), "{}".to_owned()),
        };
        count.calls += 1;
        if let Err(e) = post(&addr, &path, body).await {
            eprintln!("control call {path} failed: {e}");
            count.failures += 1;
        }
    }
    count
}

async fn post(addr: &str, path: &str, body: String) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::post(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let text = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&text));
    Ok(())
}
