//! Reading a running server: its metrics, its served versions, its
//! repository index, and waiting for them to change.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Server;

impl Server {
    pub async fn metrics_text(&self) -> String {
        self.client.get(self.url("/metrics")).send().await.expect("GET /metrics").text().await.expect("text")
    }

    /// The value of the sample `name` whose labels include `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(&self.metrics_text().await, name, labels)
    }
}

/// The sum of the samples of `name` whose labels include `labels`, in
/// Prometheus text exposition format; None when no series matches.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let present: Vec<(String, String)> = label_text
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            let matches = labels.iter().all(|(k, v)| present.iter().any(|(pk, pv)| pk == k && pv == v));
            if matches { value.parse().ok() } else { None }
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

impl Server {
    /// Waits (up to 30 s) until the model's metadata lists exactly `want`.
    pub async fn wait_versions(&self, model: &str, want: &[u64]) {
        let want: Vec<String> = want.iter().map(u64::to_string).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(&format!("/v2/models/{model}")).await;
            let versions: Vec<String> = body["versions"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if status == 200 && versions == want {
                return;
            }
            assert!(Instant::now() < deadline, "{model} never served {want:?} (last: {status} {body})");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (up to 30 s) until `name{labels}` reaches at least `at_least`.
    pub async fn wait_metric(&self, name: &str, labels: &[(&str, &str)], at_least: f64) {
        self.wait_metric_until(name, labels, Duration::from_secs(30), |v| v >= at_least).await;
    }

    /// Waits up to `within` until `name{labels}` (0 when absent) satisfies `ok`.
    pub async fn wait_metric_until(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        within: Duration,
        ok: impl Fn(f64) -> bool,
    ) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.metric(name, labels).await.unwrap_or(0.0);
            if ok(value) {
                return;
            }
            assert!(Instant::now() < deadline, "{name}{labels:?} still {value} after {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST /v2/repository/index` rows for `model`.
    pub async fn index_rows(&self, model: &str, token: Option<&str>) -> Vec<Value> {
        let mut request = self.client.post(self.url("/v2/repository/index")).json(&json!({}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await.expect("index").json().await.expect("json");
        body.as_array().expect("index is an array").iter().filter(|r| r["name"] == model).cloned().collect()
    }

    /// `model` failed to load, and the index's reason says `why`.
    pub async fn assert_unavailable_because(&self, model: &str, why: &str) {
        let rows = self.index_rows(model, None).await;
        let row = rows.first().unwrap_or_else(|| panic!("{model} is in the index"));
        assert_eq!(row["state"], "UNAVAILABLE", "{model}: {row}");
        let reason = row["reason"].as_str().expect("reason");
        assert!(reason.contains(why), "{model}: {reason}");
    }
}
