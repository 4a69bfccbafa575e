//! `model_loaded`: one series per loaded version, labelled with the role the
//! server has now. Argo Rollouts relabels a canary pod `stable` in place on
//! promotion; the versions it already serves must follow, or a query for the
//! stable pods' loaded models misses them. A version reloaded in place
//! shares its series with its predecessor until that one is retired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus::IntGaugeVec;

use super::Role;

/// What identifies a loaded version's series, the role aside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoadedKey {
    pub model: String,
    pub version: String,
    pub backend: String,
    pub device: String,
}

impl LoadedKey {
    fn labels<'a>(&'a self, role: &'a str) -> [&'a str; 5] {
        [&self.model, &self.version, role, &self.backend, &self.device]
    }
}

/// The series written so far: the role each carries and how many loaded
/// copies use it.
pub struct LoadedSeries {
    gauge: IntGaugeVec,
    written: Mutex<HashMap<LoadedKey, (Arc<String>, usize)>>,
}

impl LoadedSeries {
    pub fn new(gauge: IntGaugeVec) -> Self {
        LoadedSeries { gauge, written: Mutex::default() }
    }

    fn written(&self) -> MutexGuard<'_, HashMap<LoadedKey, (Arc<String>, usize)>> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One more loaded copy of `key`. The role is read under the lock, so a
    /// role change racing with the load cannot leave the series behind.
    pub fn loaded(&self, key: LoadedKey, role: &Role) {
        let mut written = self.written();
        let entry = written.entry(key.clone()).or_insert_with(|| (role.get(), 0));
        entry.1 += 1;
        self.gauge.with_label_values(&key.labels(&entry.0)).set(1);
    }

    pub fn unloaded(&self, key: &LoadedKey) {
        let mut written = self.written();
        let Some(entry) = written.get_mut(key) else { return };
        entry.1 -= 1;
        if entry.1 == 0 {
            let _ = self.gauge.remove_label_values(&key.labels(&entry.0));
            written.remove(key);
        }
    }

    /// Moves every series to `role`.
    pub fn relabel(&self, role: &Arc<String>) {
        for (key, (written_role, _)) in self.written().iter_mut() {
            if written_role != role {
                let _ = self.gauge.remove_label_values(&key.labels(written_role));
                self.gauge.with_label_values(&key.labels(role)).set(1);
                *written_role = role.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;

    fn key(version: &str) -> LoadedKey {
        LoadedKey { model: "fraud".into(), version: version.into(), backend: "onnx".into(), device: "cpu".into() }
    }

    fn series(gauge: &IntGaugeVec) -> Vec<(String, String)> {
        use prometheus::core::Collector;
        let mut found: Vec<(String, String)> = gauge.collect()[0]
            .get_metric()
            .iter()
            .map(|m| {
                let label = |name: &str| {
                    m.get_label().iter().find(|l| l.name() == name).map(|l| l.value().to_owned()).unwrap_or_default()
                };
                (label("version"), label("role"))
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn series_follow_the_role_and_leave_with_their_last_copy() {
        let gauge =
            IntGaugeVec::new(Opts::new("model_loaded", "test"), &["model", "version", "role", "backend", "device"])
                .expect("gauge");
        let loaded = LoadedSeries::new(gauge.clone());
        let role = Role::new("canary");
        loaded.loaded(key("2"), &role);
        loaded.loaded(key("3"), &role);
        loaded.loaded(key("3"), &role);
        role.set("stable");
        loaded.relabel(&role.get());
        assert_eq!(series(&gauge), [("2".into(), "stable".into()), ("3".into(), "stable".into())]);
        loaded.unloaded(&key("3"));
        assert_eq!(series(&gauge).len(), 2, "a reloaded copy of version 3 still serves");
        loaded.unloaded(&key("3"));
        loaded.unloaded(&key("2"));
        assert!(series(&gauge).is_empty());
    }
}
