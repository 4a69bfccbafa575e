//! `sluice-bench`: a load generator for Open Inference Protocol v2 servers.
//!
//! Closed loop (`--concurrency N`): N workers each keep one request in
//! flight. Open loop (`--rate R`): requests are sent on a fixed schedule
//! whatever the server does, and latency is measured from each request's
//! scheduled time, so a slow server cannot hide its queueing (no coordinated
//! omission). Prints throughput, latency percentiles, refusals and errors,
//! or one JSON object with `--json`.

mod control;
mod payload;
mod report;
mod transport;

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use report::{Report, Samples};
use transport::{Client, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// POST /v2/models/{m}/infer with JSON data.
    RestJson,
    /// POST with the binary tensor extension.
    RestBinary,
    /// KServe v1: POST /v1/models/{m}:predict with {"instances": rows}.
    V1,
    /// gRPC ModelInfer with raw_input_contents.
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrpcClientKind {
    /// tonic's generated client (a Channel with its buffer task).
    Tonic,
    /// Hand-framed calls on hyper's HTTP/2 client.
    Raw,
}

#[derive(Debug, Parser)]
#[command(name = "sluice-bench", about = "Load generator for Open Inference Protocol v2 servers")]
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
    /// Closed loop: requests in flight at once (open loop: connections opened
    /// during warm-up).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// gRPC: which client sends the calls.
    #[arg(long, value_enum, default_value = "tonic")]
    pub grpc_client: GrpcClientKind,
    /// gRPC: HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 1)]
    pub grpc_connections: usize,
    /// Closed loop: total requests to send (after warm-up).
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Open loop: requests per second, sent on a fixed schedule.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: how long to send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop a closed-loop run after this many seconds even if requests remain.
    #[arg(long, default_value_t = 120.0)]
    pub max_seconds: f64,
    /// Requests sent first and not measured.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// During the measured run, make a control-plane call this often (seconds).
    #[arg(long)]
    pub control_every: Option<f64>,
    /// Which control call: a swap, or an index call as its baseline.
    #[arg(long, value_enum, default_value = "swap")]
    pub control: control::ControlKind,
    /// The two versions a swap alternates between.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub swap_versions: Vec<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client::connect(&args).await?;
    warm_up(&client, &args).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let control = args.control_every.map(|every| {
        let versions =
            [args.swap_versions.first().copied().unwrap_or(1), args.swap_versions.get(1).copied().unwrap_or(2)];
        let every = Duration::from_secs_f64(every);
        tokio::spawn(control::run(args.http.clone(), args.model.clone(), args.control, versions, every, stop.clone()))
    });
    let started = Instant::now();
    let samples = match args.rate {
        Some(rate) => open_loop(&client, rate, Duration::from_secs_f64(args.duration)).await,
        None => closed_loop(&client, &args).await?,
    };
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut report = Report::new(&args, samples, elapsed);
    if let Some(control) = control {
        let count = control.await?;
        (report.control_calls, report.control_failures) = (count.calls, count.failures);
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Unmeasured requests from `concurrency` workers at once, which also opens
/// the connections the measured run will reuse.
async fn warm_up(client: &Client, args: &Args) {
    let workers = args.concurrency.max(1);
    let per_worker = args.warmup.div_ceil(workers).max(1);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    client.call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

async fn closed_loop(client: &Client, args: &Args) -> anyhow::Result<Samples> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let workers = args.concurrency.max(1);
    let per_worker = args.requests.div_ceil(workers);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                for _ in 0..per_worker {
                    if Instant::now() > deadline {
                        break;
                    }
                    let sent = Instant::now();
                    let outcome = client.call().await;
                    samples.record(outcome, sent.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await?);
    }
    Ok(all)
}

async fn open_loop(client: &Client, rate: f64, duration: Duration) -> Samples {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Outcome, Duration, Duration)>();
    let start = Instant::now();
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let mut sent = 0u64;
    while sent < total {
        // Send everything due by now, then sleep until the next one is due.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while sent < due {
            let scheduled = start + Duration::from_secs_f64(sent as f64 / rate);
            let (client, tx) = (client.clone(), tx.clone());
            tokio::spawn(async move {
                // Timed from dispatch: tokio's 1 ms timer makes dispatch run
                // up to a tick behind schedule, which is the generator's lag,
                // not the server's; that lag is reported separately.
                let dispatched = Instant::now();
                let lag = dispatched.saturating_duration_since(scheduled);
                let outcome = client.call().await;
                let _ = tx.send((outcome, dispatched.elapsed(), lag));
            });
            sent += 1;
        }
        let next = start + Duration::from_secs_f64(sent as f64 / rate);
        tokio::time::sleep_until(next.into()).await;
    }
    drop(tx);
    let mut samples = Samples::default();
    while let Some((outcome, latency, lag)) = rx.recv().await {
        samples.record(outcome, latency);
        samples.record_lag(lag);
    }
    samples
}
