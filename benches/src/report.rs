//! Latency percentiles and throughput of one run.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::Args;

#[derive(Debug, Serialize)]
pub struct Report {
    pub protocol: String,
    pub model: String,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub throughput_rps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

impl Report {
    pub fn new(args: &Args, mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let n = latencies.len();
        let total: Duration = latencies.iter().sum();
        Report {
            protocol: format!("{:?}", args.protocol),
            model: args.model.clone(),
            concurrency: args.concurrency,
            requests: n,
            errors,
            seconds: elapsed.as_secs_f64(),
            throughput_rps: n as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_us: percentile(&latencies, 50.0),
            p90_us: percentile(&latencies, 90.0),
            p99_us: percentile(&latencies, 99.0),
            max_us: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
            mean_us: if n == 0 { 0.0 } else { total.as_secs_f64() * 1e6 / n as f64 },
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} c={}: {} ok, {} errors in {:.2}s = {:.0} req/s | p50 {:.0}us p90 {:.0}us p99 {:.0}us max {:.0}us",
            self.protocol,
            self.model,
            self.concurrency,
            self.requests,
            self.errors,
            self.seconds,
            self.throughput_rps,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.max_us
        )
    }
}
