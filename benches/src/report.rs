//! Latency percentiles, throughput, refusals and errors of one run.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::Args;
use crate::transport::Outcome;

/// Raw observations, split by outcome.
#[derive(Debug, Default)]
pub struct Samples {
    ok: Vec<Duration>,
    refused: Vec<Duration>,
    failed: usize,
    /// Open loop: how far behind schedule requests were dispatched.
    max_lag: Duration,
}

impl Samples {
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => self.ok.push(latency),
            Outcome::Refused => self.refused.push(latency),
            Outcome::Failed => self.failed += 1,
        }
    }

    pub fn record_lag(&mut self, lag: Duration) {
        self.max_lag = self.max_lag.max(lag);
    }

    pub fn merge(&mut self, other: Samples) {
        self.ok.extend(other.ok);
        self.refused.extend(other.refused);
        self.failed += other.failed;
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub protocol: String,
    pub model: String,
    pub mode: String,
    pub requests: usize,
    pub refused: usize,
    pub errors: usize,
    pub seconds: f64,
    pub throughput_rps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    pub refused_p50_us: f64,
    pub refused_p99_us: f64,
    pub refused_max_us: f64,
    pub max_dispatch_lag_us: f64,
    /// `--control-every` calls made during the run, and how many failed.
    pub control_calls: usize,
    pub control_failures: usize,
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    micros(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl Report {
    pub fn new(args: &Args, mut samples: Samples, elapsed: Duration) -> Self {
        samples.ok.sort_unstable();
        samples.refused.sort_unstable();
        let ok = &samples.ok;
        let total: Duration = ok.iter().sum();
        Report {
            protocol: format!("{:?}", args.protocol),
            model: args.model.clone(),
            mode: match args.rate {
                Some(rate) => format!("open loop {rate:.0}/s"),
                None => format!("closed loop c={}", args.concurrency),
            },
            requests: ok.len(),
            refused: samples.refused.len(),
            errors: samples.failed,
            seconds: elapsed.as_secs_f64(),
            throughput_rps: ok.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_us: percentile(ok, 50.0),
            p90_us: percentile(ok, 90.0),
            p99_us: percentile(ok, 99.0),
            max_us: ok.last().map_or(0.0, |d| micros(*d)),
            mean_us: if ok.is_empty() { 0.0 } else { micros(total) / ok.len() as f64 },
            refused_p50_us: percentile(&samples.refused, 50.0),
            refused_p99_us: percentile(&samples.refused, 99.0),
            refused_max_us: samples.refused.last().map_or(0.0, |d| micros(*d)),
            max_dispatch_lag_us: micros(samples.max_lag),
            control_calls: 0,
            control_failures: 0,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {} ok, {} refused, {} errors in {:.2}s = {:.0} req/s | p50 {:.0}us p90 {:.0}us p99 {:.0}us max {:.0}us",
            self.protocol,
            self.model,
            self.mode,
            self.requests,
            self.refused,
            self.errors,
            self.seconds,
            self.throughput_rps,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.max_us
        )?;
        if self.max_dispatch_lag_us > 0.0 {
            write!(f, " | generator lag max {:.0}us", self.max_dispatch_lag_us)?;
        }
        if self.refused > 0 {
            write!(
                f,
                " | refusals p50 {:.0}us p99 {:.0}us max {:.0}us",
                self.refused_p50_us, self.refused_p99_us, self.refused_max_us
            )?;
        }
        Ok(())
    }
}
