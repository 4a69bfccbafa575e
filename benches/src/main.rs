//! `sluice-bench`: a closed-loop load generator for the v2 protocol.
//!
//! N workers each keep one request in flight (one keep-alive connection per
//! worker for REST, one shared HTTP/2 channel for gRPC) until the request
//! count or the duration is reached, then latency percentiles and throughput
//! are printed (or emitted as JSON with `--json`).

mod payload;
mod report;
mod transport;

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use report::Report;
use transport::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// POST /v2/models/{m}/infer with JSON data.
    RestJson,
    /// POST with the binary tensor extension, both ways.
    RestBinary,
    /// gRPC ModelInfer with raw_input_contents.
    Grpc,
}

#[derive(Debug, Parser)]
#[command(name = "sluice-bench", about = "Closed-loop load generator for Open Inference Protocol v2 servers")]
pub struct Args {
    /// host:port of the REST endpoint.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    /// host:port of the gRPC endpoint.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub grpc: String,
    #[arg(long, value_enum, default_value = "rest-json")]
    pub protocol: Protocol,
    /// Model to call; its input is `features` FP32 [rows, 30].
    #[arg(long, default_value = "fraud-detection")]
    pub model: String,
    /// Rows per request.
    #[arg(long, default_value_t = 1)]
    pub rows: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Total requests to send (after warm-up).
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Stop after this many seconds even if requests remain.
    #[arg(long, default_value_t = 120.0)]
    pub max_seconds: f64,
    /// Requests sent first and not measured.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client::connect(&args).await?;
    for _ in 0..args.warmup {
        client.call().await?;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.max_seconds);
    let per_worker = args.requests.div_ceil(args.concurrency.max(1));
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency.max(1) {
        let client = client.clone_for_worker(&args).await?;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            let mut errors = 0usize;
            for _ in 0..per_worker {
                if Instant::now() > deadline {
                    break;
                }
                let sent = Instant::now();
                match client.call().await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    let report = Report::new(&args, latencies, errors, started.elapsed());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
