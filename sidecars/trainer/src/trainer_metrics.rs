//! The webhook's Prometheus metrics, on a registry of its own.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

pub struct TrainerMetrics {
    pub metrics_registry: Registry,
    /// Finished jobs by model and result (succeeded, gates_failed, failed).
    pub jobs: IntCounterVec,
    pub duration: HistogramVec,
    pub running: IntGaugeVec,
    pub last_published_version: IntGaugeVec,
    /// Failed gates by model and metric.
    pub gate_failures: IntCounterVec,
}

impl TrainerMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let metrics_registry = Registry::new();
        let jobs = IntCounterVec::new(
            Opts::new("trainer_jobs_total", "Retraining jobs finished, by result"),
            &["model", "result"],
        )?;
        let buckets = vec![1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];
        let duration = HistogramVec::new(
            HistogramOpts::new("trainer_job_duration_seconds", "Wall time of a retraining job, data read to publish")
                .buckets(buckets),
            &["model"],
        )?;
        let running = IntGaugeVec::new(Opts::new("trainer_jobs_running", "Retraining jobs running now"), &["model"])?;
        let last_published_version = IntGaugeVec::new(
            Opts::new("trainer_last_published_version", "Version number the last successful job published"),
            &["model"],
        )?;
        let gate_failures = IntCounterVec::new(
            Opts::new("trainer_gate_failures_total", "Quality gates failed, by metric"),
            &["model", "metric"],
        )?;
        metrics_registry.register(Box::new(jobs.clone()))?;
        metrics_registry.register(Box::new(duration.clone()))?;
        metrics_registry.register(Box::new(running.clone()))?;
        metrics_registry.register(Box::new(last_published_version.clone()))?;
        metrics_registry.register(Box::new(gate_failures.clone()))?;
        Ok(TrainerMetrics { metrics_registry, jobs, duration, running, last_published_version, gate_failures })
    }

    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.metrics_registry.gather()).unwrap_or_default()
    }
}
