//! Registry availability, observed at one place: every call to the registry
//! goes through `ObservedRegistry`, which keeps `model_registry_up{source}`
//! and `model_registry_errors_total{source}` current and logs an outage's
//! start, end and length once each (not once per failed poll).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::{IntCounter, IntGauge};

use crate::lifecycle::registry::{BoxFuture, ModelListing, ModelRegistry, RegistryError};
use crate::metrics::Metrics;

pub struct ObservedRegistry {
    inner: Arc<dyn ModelRegistry>,
    up: IntGauge,
    errors: IntCounter,
    /// When the current outage began; None while the registry answers.
    down_since: Mutex<Option<Instant>>,
}

impl ObservedRegistry {
    pub fn new(inner: Arc<dyn ModelRegistry>, metrics: &Metrics) -> Self {
        let up = metrics.registry_up.with_label_values(&[inner.source()]);
        up.set(1);
        let errors = metrics.registry_errors.with_label_values(&[inner.source()]);
        ObservedRegistry { inner, up, errors, down_since: Mutex::new(None) }
    }

    /// Whether the last call found the registry unreachable.
    pub fn is_down(&self) -> bool {
        self.down_since.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn observe<T>(&self, result: Result<T, RegistryError>) -> Result<T, RegistryError> {
        let mut down_since = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
        match (&result, *down_since) {
            (Err(RegistryError::Unavailable(why)), None) => {
                self.errors.inc();
                self.up.set(0);
                *down_since = Some(Instant::now());
                tracing::warn!(registry = %self.inner.location(), error = %why, "model registry outage began");
            }
            (Err(RegistryError::Unavailable(_)), Some(_)) => self.errors.inc(),
            // Any other answer (a model or version not found, an invalid
            // model) comes from a registry that is up.
            (_, Some(since)) => {
                self.up.set(1);
                *down_since = None;
                let secs = since.elapsed().as_secs_f64();
                tracing::info!(registry = %self.inner.location(), outage_secs = secs, "model registry is back");
            }
            (_, None) => {}
        }
        result
    }
}

impl ModelRegistry for ObservedRegistry {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn source(&self) -> &'static str {
        self.inner.source()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(async move { self.observe(self.inner.probe().await) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
        Box::pin(async move { self.observe(self.inner.list().await) })
    }

    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ModelListing, RegistryError>> {
        Box::pin(async move { self.observe(self.inner.describe(name).await) })
    }

    fn fetch<'a>(
        &'a self,
        name: &'a str,
        version: u64,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<PathBuf, RegistryError>> {
        Box::pin(async move { self.observe(self.inner.fetch(name, version, fingerprint).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A registry whose reachability the test switches.
    struct Switch(AtomicBool);

    impl ModelRegistry for Switch {
        fn location(&self) -> String {
            "switch".into()
        }
        fn source(&self) -> &'static str {
            "test"
        }
        fn list(&self) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
            let up = self.0.load(Ordering::SeqCst);
            Box::pin(async move { if up { Ok(vec![]) } else { Err(RegistryError::Unavailable("down".into())) } })
        }
        fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ModelListing, RegistryError>> {
            Box::pin(async move { Err(RegistryError::NotFound(name.to_owned())) })
        }
        fn fetch<'a>(&'a self, _: &'a str, _: u64, _: &'a str) -> BoxFuture<'a, Result<PathBuf, RegistryError>> {
            Box::pin(async move { Err(RegistryError::NotFound("none".into())) })
        }
    }

    #[tokio::test]
    async fn outages_flip_the_gauge_and_count_each_failed_call() {
        let metrics = Metrics::unregistered();
        let inner = Arc::new(Switch(AtomicBool::new(true)));
        let observed = ObservedRegistry::new(inner.clone(), &metrics);
        let up = || metrics.registry_up.with_label_values(&["test"]).get();
        let errors = || metrics.registry_errors.with_label_values(&["test"]).get();
        assert!(observed.probe().await.is_ok());
        assert_eq!((up(), errors(), observed.is_down()), (1, 0, false));
        inner.0.store(false, Ordering::SeqCst);
        assert!(observed.list().await.is_err());
        assert!(observed.probe().await.is_err());
        assert_eq!((up(), errors(), observed.is_down()), (0, 2, true));
        // A "not found" is an answer: the registry is up again.
        assert!(matches!(observed.describe("m").await, Err(RegistryError::NotFound(_))));
        assert_eq!((up(), errors(), observed.is_down()), (1, 2, false));
    }
}
