//! Connection-level limits against a spawned server: thousands of idle and
//! slowloris connections neither starve real clients nor grow memory without
//! bound, and are closed at the header timeout; kept-alive connections close
//! when idle, but a long gRPC stream is not idle; beyond --max-connections a
//! client waits for a free slot.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn spawn_with(extra: &[&str]) -> Server {
    let mut args = vec!["--model-repository".to_string(), models_dir().display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let server = Server::spawn_binary(&args, &[]).await;
    server.wait_ready().await;
    server
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// The open-file limit of this process, which bounds how many connections
/// the test itself can hold.
fn open_file_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .expect("Max open files")
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Whether the server has closed this connection (read sees EOF or a reset).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // e.g. a 408 answer before the close
            Err(_) => return false,
        }
    }
}

async fn infer_once(client: &reqwest::Client, http: std::net::SocketAddr) -> (u16, Duration) {
    let body = json!({ "inputs": [fp32_input("features", 1, &features(1, 3))] });
    let started = Instant::now();
    let status = client
        .post(format!("http://{http}/v2/models/fraud-detection/infer"))
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_and_slowloris_connections_do_not_starve_real_clients() {
    // A header timeout long enough that opening thousands of connections on a
    // slow, shared CI machine still ends well before it.
    let server = spawn_with(&["--header-read-timeout-secs", "15", "--idle-timeout-secs", "60"]).await;
    let pid = server.pid();
    let total = 3000.min(open_file_limit().saturating_sub(300));
    assert!(total >= 500, "the open-file limit leaves room for only {total} connections");
    let rss_before = rss_mib(pid);

    // Two thirds never send a byte; one third send a request head one
    // header line at a time, slower than the timeout allows.
    let mut idle = Vec::new();
    let mut slow = Vec::new();
    let first_opened = Instant::now();
    for i in 0..total {
        let mut stream = TcpStream::connect(server.http).await.expect("connects");
        if i % 3 == 0 {
            stream
                .write_all(b"POST /v2/models/fraud-detection/infer HTTP/1.1\r\nHost: sluice\r\n")
                .await
                .expect("writes");
            slow.push(stream);
        } else {
            idle.push(stream);
        }
    }
    let opened = Instant::now();
    let trickle = tokio::spawn(async move {
        // Past the timeout: trickling headers does not extend it.
        for round in 0..22 {
            tokio::time::sleep(Duration::from_millis(800)).await;
            for stream in &mut slow {
                let _ = stream.write_all(format!("X-Slow-{round}: 1\r\n").as_bytes()).await;
            }
        }
        slow
    });

    // Real clients meanwhile: every request answered, promptly.
    let client = reqwest::Client::new();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while opened.elapsed() < Duration::from_millis(1500) {
        let (status, took) = infer_once(&client, server.http).await;
        assert_eq!(status, 200, "a real client was refused while {total} connections were held");
        answered += 1;
        slowest = slowest.max(took);
    }
    let text = server.metrics_text().await;
    let open = metric(&text, "sluice_open_connections{listener=\"rest\"}");
    let rss_loaded = rss_mib(pid);
    let held_for = first_opened.elapsed();
    assert!(held_for < Duration::from_secs(14), "opening took too long for this check: {held_for:?}");
    assert!(open >= total as f64, "the server held {open} of {total} connections");
    assert!(slowest < Duration::from_millis(500), "slowest real request {slowest:?}");
    // Each held connection may cost a read buffer and a task, not more.
    let per_connection_kib = (rss_loaded - rss_before) * 1024.0 / total as f64;
    assert!(per_connection_kib < 64.0, "{per_connection_kib:.1} KiB per idle connection");

    // At the header timeout, every one of them is closed by the server.
    let mut slow = trickle.await.expect("trickle");
    for stream in idle.iter_mut().chain(slow.iter_mut()) {
        assert!(closed_by_server(stream, Duration::from_secs(20)).await, "a stalled connection stayed open");
    }
    let closed_after = first_opened.elapsed();
    let text = server.metrics_text().await;
    let timed_out = metric(&text, "sluice_connections_closed_total{listener=\"rest\",reason=\"header_timeout\"}");
    assert!(timed_out >= total as f64, "{timed_out} header timeouts counted for {total} stalled connections");
    let (status, _) = infer_once(&client, server.http).await;
    assert_eq!(status, 200);
    eprintln!(
        "{total} stalled connections: {answered} real requests answered meanwhile (slowest {slowest:?}), \
         RSS {rss_before:.1} -> {rss_loaded:.1} MiB ({per_connection_kib:.1} KiB each), all closed after {closed_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_connections_close_but_a_long_grpc_stream_stays() {
    let server = spawn_with(&["--idle-timeout-secs", "1.5"]).await;

    // HTTP/1 keep-alive: one request, then nothing.
    let mut stream = TcpStream::connect(server.http).await.expect("connects");
    stream.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: sluice\r\n\r\n").await.expect("writes");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.expect("answered");
    assert_eq!(&head, b"HTTP/1.1 200");
    let started = Instant::now();
    assert!(closed_by_server(&mut stream, Duration::from_secs(10)).await, "the idle keep-alive connection stayed open");
    assert!(started.elapsed() >= Duration::from_secs(1), "closed before the idle timeout");

    // HTTP/2 (gRPC) with no stream: closed too (GOAWAY, then the socket).
    let tcp = TcpStream::connect(server.grpc).await.expect("connects");
    let (_send, connection) = hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2 handshake");
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection stayed open");

    // A ModelStreamInfer stream that lasts four idle timeouts, sending a
    // request every half second: in flight all along, never cut.
    let mut grpc = sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient::connect(format!(
        "http://{}",
        server.grpc
    ))
    .await
    .expect("gRPC connects");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut responses =
        grpc.model_stream_infer(tokio_stream::wrappers::ReceiverStream::new(rx)).await.expect("stream").into_inner();
    for i in 0..12 {
        tx.send(fraud_grpc_request("", 1, i)).await.expect("stream open");
        let answer = responses.message().await.expect("no stream error").expect("an answer");
        assert!(answer.error_message.is_empty(), "{}", answer.error_message);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(tx);
    let text = server.metrics_text().await;
    assert!(metric(&text, "sluice_connections_closed_total{listener=\"rest\",reason=\"idle\"}") >= 1.0, "{text}");
    assert!(metric(&text, "sluice_connections_closed_total{listener=\"grpc\",reason=\"idle\"}") >= 1.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_a_client_waits_for_a_free_slot() {
    let server = spawn_with(&["--max-connections", "8", "--header-read-timeout-secs", "2"]).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(server.http).await.expect("connects"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The ninth is accepted only once a held one times out and frees its slot.
    let client = reqwest::Client::new();
    let (status, took) = infer_once(&client, server.http).await;
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(1500), "answered after {took:?}: the limit was not applied");
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
}
