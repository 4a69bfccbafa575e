//! Kubernetes-style termination under load: at SIGTERM readiness turns
//! false at once while requests are still answered for
//! --shutdown-delay-secs (the "endpoints controller" below stops routing when
//! it sees readiness drop, as Kubernetes does); then the listeners close and
//! a request still being received is finished. No request fails, and the
//! process exits 0 within delay + drain.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DELAY_SECS: f64 = 2.0;

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    ok_after_sigterm: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_fails_no_request() {
    let server = Server::spawn_binary(
        &[
            "--model-repository".into(),
            models_dir().display().to_string(),
            "--shutdown-delay-secs".into(),
            DELAY_SECS.to_string(),
            "--shutdown-drain-secs".into(),
            "10".into(),
        ],
        &[],
    )
    .await;
    server.wait_ready().await;
    let server = Arc::new(tokio::sync::Mutex::new(server));
    let (http, grpc_addr) = {
        let s = server.lock().await;
        (s.http, s.grpc)
    };

    let routed = Arc::new(AtomicBool::new(true));
    let terminated = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut load = Vec::new();
    for worker in 0..6u64 {
        let (routed, terminated, tally) = (routed.clone(), terminated.clone(), tally.clone());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let url = format!("http://{http}/v2/models/fraud-detection/infer");
            let body = json!({ "inputs": [fp32_input("features", 4, &features(4, worker))] });
            while routed.load(Ordering::Acquire) {
                let answered = client.post(&url).json(&body).send().await;
                let ok = matches!(&answered, Ok(r) if r.status().as_u16() == 200);
                let counter = if ok { &tally.ok } else { &tally.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                if ok && terminated.load(Ordering::Acquire) {
                    tally.ok_after_sigterm.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    {
        let (routed, terminated, tally) = (routed.clone(), terminated.clone(), tally.clone());
        load.push(tokio::spawn(async move {
            let mut grpc = sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient::connect(format!(
                "http://{grpc_addr}"
            ))
            .await
            .expect("gRPC connects");
            while routed.load(Ordering::Acquire) {
                let ok = grpc.model_infer(fraud_grpc_request("", 4, 9)).await.is_ok();
                let counter = if ok { &tally.ok } else { &tally.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                if ok && terminated.load(Ordering::Acquire) {
                    tally.ok_after_sigterm.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The endpoints controller: routes to the pod only while it is ready.
    let controller = {
        let routed = routed.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let ready = client.get(format!("http://{http}/v2/health/ready")).send().await;
                if !matches!(ready, Ok(r) if r.status().as_u16() == 200) {
                    routed.store(false, Ordering::Release);
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // A request whose body is still arriving when the listeners close.
    let rows = 2;
    let slow_body =
        serde_json::to_vec(&json!({ "inputs": [fp32_input("features", rows, &features(rows, 5))] })).expect("json");
    let mut slow = tokio::net::TcpStream::connect(http).await.expect("connect");
    let head = format!(
        "POST /v2/models/fraud-detection/infer HTTP/1.1\r\nhost: {http}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        slow_body.len()
    );
    slow.write_all(head.as_bytes()).await.expect("head");
    slow.write_all(&slow_body[..10]).await.expect("first bytes");

    let sigterm_at = Instant::now();
    server.lock().await.terminate();
    terminated.store(true, Ordering::Release);

    let unrouted_at = controller.await.expect("controller");
    assert!(unrouted_at - sigterm_at < Duration::from_secs(1), "readiness turned false at once");
    for task in load {
        task.await.expect("load task");
    }

    // Past the delay: the listeners are closed, the slow request is not.
    tokio::time::sleep(Duration::from_secs_f64(DELAY_SECS + 0.5).saturating_sub(sigterm_at.elapsed())).await;
    assert!(tokio::net::TcpStream::connect(http).await.is_err(), "no new connections after the delay");
    slow.write_all(&slow_body[10..]).await.expect("rest of the body");
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "the in-flight request is finished: {answer}");
    assert!(answer.contains("\"outputs\""), "{answer}");

    let status = server.lock().await.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "clean exit: {status}");
    let elapsed = sigterm_at.elapsed();
    assert!(elapsed >= Duration::from_secs_f64(DELAY_SECS), "served through the delay ({elapsed:?})");

    let (ok, failed, after) = (
        tally.ok.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.ok_after_sigterm.load(Ordering::Relaxed),
    );
    println!("SIGTERM under load: {ok} ok ({after} after SIGTERM), {failed} failed");
    assert_eq!(failed, 0, "no request fails across SIGTERM ({ok} ok)");
    assert!(ok > 100 && after > 0, "load ran on both sides of SIGTERM: {ok} ok, {after} after");
}
