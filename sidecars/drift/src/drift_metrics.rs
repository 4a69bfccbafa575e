//! The sidecar's Prometheus metrics (names are part of the interface:
//! DESIGN.md), on a registry of its own.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::score::DriftReport;

pub struct DriftMetrics {
    pub metrics_registry: Registry,
    pub feature_score: GaugeVec,
    pub share: GaugeVec,
    pub detected: IntGaugeVec,
    pub window: IntGaugeVec,
    pub triggers: IntCounterVec,
    pub skipped: IntCounterVec,
}

impl DriftMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let metrics_registry = Registry::new();
        let feature_score = GaugeVec::new(
            Opts::new("model_feature_drift_score", "Drift score of one feature against the version's reference"),
            &["model", "version", "feature", "method"],
        )?;
        let share =
            GaugeVec::new(Opts::new("model_drift_share", "Share of features that drifted"), &["model", "version"])?;
        let detected = IntGaugeVec::new(
            Opts::new("model_drift_detected", "1 when the dataset rule says drift"),
            &["model", "version"],
        )?;
        let window = IntGaugeVec::new(
            Opts::new("model_drift_window_samples", "Sampled rows in the current window"),
            &["model", "version"],
        )?;
        let triggers = IntCounterVec::new(
            Opts::new("model_retrain_triggers_total", "Retraining triggers sent, by target and result"),
            &["model", "target", "result"],
        )?;
        let skipped = IntCounterVec::new(
            Opts::new("model_drift_samples_skipped_total", "Sampled rows left out, by reason"),
            &["model", "reason"],
        )?;
        metrics_registry.register(Box::new(feature_score.clone()))?;
        metrics_registry.register(Box::new(share.clone()))?;
        metrics_registry.register(Box::new(detected.clone()))?;
        metrics_registry.register(Box::new(window.clone()))?;
        metrics_registry.register(Box::new(triggers.clone()))?;
        metrics_registry.register(Box::new(skipped.clone()))?;
        Ok(DriftMetrics { metrics_registry, feature_score, share, detected, window, triggers, skipped })
    }

    pub fn record(&self, model: &str, version: u64, report: &DriftReport) {
        let v = version.to_string();
        for (feature, drift) in &report.features {
            self.feature_score.with_label_values(&[model, &v, feature, drift.method.name()]).set(drift.score);
        }
        self.share.with_label_values(&[model, &v]).set(report.drift_share);
        self.detected.with_label_values(&[model, &v]).set(i64::from(report.dataset_drift));
    }

    /// A new version is watched: the old version's series go.
    pub fn forget_version(&self, model: &str, version: u64, last: Option<&DriftReport>) {
        let v = version.to_string();
        for (feature, drift) in last.map(|r| &r.features).into_iter().flatten() {
            let _ = self.feature_score.remove_label_values(&[model, &v, feature, drift.method.name()]);
        }
        let _ = self.share.remove_label_values(&[model, &v]);
        let _ = self.detected.remove_label_values(&[model, &v]);
        let _ = self.window.remove_label_values(&[model, &v]);
    }

    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.metrics_registry.gather()).unwrap_or_default()
    }
}
