//! Bringing one model in line with its registry: load what is new or changed
//! beside what serves, warm it up, publish both changes in one atomic swap,
//! then drain and unload what is no longer selected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Lifecycle;
use super::local_registry::LocalRegistry;
use super::registry::{ModelListing, ModelRegistry, RegistryError};
use crate::error::{InferError, LoadError};
use crate::metrics::loaded_series::LoadedKey;
use crate::metrics::{Metrics, VersionMetrics};
use crate::serving::handle::{LoadedVersion, ModelHandle, load_instances, start_handle};
use crate::serving::model_table::ModelState;

/// How long a drained version is polled for its last in-flight request.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// How a sync treats versions that failed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Skip a version that failed with the same content (polling).
    OnlyChanged,
    /// Try again regardless (an explicit load request).
    Always,
}

impl Lifecycle {
    /// Loads the selected versions that are new or changed, publishes them,
    /// and retires the versions no longer selected, but only once every
    /// selected version has loaded: a failure never takes a working version
    /// away. Errors say what failed; what still serves keeps serving.
    pub(super) async fn sync_model(&self, name: &str, retry: Retry) -> Result<(), InferError> {
        let lock = self.control.lock_for(name);
        let _guard = lock.lock().await;
        let source = self.source_of(name);
        let mut listing = match source.describe(name).await {
            Ok(listing) => listing,
            Err(e) => return Err(self.describe_failed(name, e)),
        };
        if let Some(overrides) = self.control.load_override(name) {
            listing.config = overrides.apply(&listing.config)?;
        }
        self.control.clear_model_failure(name);
        let policy = listing.config.version_policy.clone();
        let selected = policy.select(&listing.version_numbers());
        let entry = self.table.entry(name);
        let current = entry.as_ref().map(|e| e.versions.clone()).unwrap_or_default();
        if selected.is_empty() {
            let why =
                format!("the version policy {policy:?} selects none of the versions {:?}", listing.version_numbers());
            return Err(self.describe_failed(name, RegistryError::Invalid(why)));
        }
        let changed: Vec<u64> =
            selected.iter().copied().filter(|v| !is_current(current.get(v), &listing, *v)).collect();
        if changed.is_empty() && current.keys().all(|v| selected.contains(v)) {
            // Nothing to swap; a poll of an unchanged model publishes nothing.
            if entry.is_some_and(|e| e.state != ModelState::Ready) {
                self.table.publish(name, |entry| entry.state = ModelState::Ready);
            }
            return Ok(());
        }
        if current.is_empty() {
            self.table.publish(name, |entry| entry.state = ModelState::Loading);
        }
        let mut fresh = BTreeMap::new();
        let mut failures = Vec::new();
        for version in changed {
            let fingerprint = &listing.versions[&version];
            if retry == Retry::OnlyChanged
                && let Some(why) = self.control.known_failure(name, version, fingerprint, &listing.config)
            {
                failures.push(format!("version {version}: {why}"));
                continue;
            }
            match self.load_version(source.as_ref(), &listing, version, fingerprint).await {
                Ok(handle) => {
                    self.control.forget_failure(name, version);
                    fresh.insert(version, handle);
                }
                Err(failure) if failure.is_transient() => {
                    tracing::warn!(model = name, version, error = %failure, "version not fetched; keeping the loaded versions");
                    failures.push(format!("version {version}: {failure}"));
                }
                Err(failure) => {
                    self.metrics.swaps_total.with_label_values(&[name, "failed"]).inc();
                    tracing::error!(
                        model = name,
                        version,
                        stage = failure.stage(),
                        error = %failure,
                        "model version failed to load; the versions already loaded keep serving"
                    );
                    let why = failure.to_string();
                    self.control.remember_failure(name, version, fingerprint, &listing.config, &why);
                    failures.push(format!("version {version}: {why}"));
                }
            }
        }
        let complete = failures.is_empty();
        let mut next: BTreeMap<u64, Arc<ModelHandle>> =
            current.iter().filter(|(v, _)| !complete || selected.contains(v)).map(|(v, h)| (*v, h.clone())).collect();
        for (version, handle) in &fresh {
            next.insert(*version, handle.clone());
        }
        let retired: Vec<Arc<ModelHandle>> =
            current.values().filter(|old| !next.values().any(|h| Arc::ptr_eq(h, old))).cloned().collect();
        let state = match (next.is_empty(), failures.first()) {
            (false, _) => ModelState::Ready,
            (true, Some(why)) => ModelState::Failed(why.clone()),
            (true, None) => ModelState::Loading,
        };
        self.table.publish(name, |entry| {
            entry.versions = next.clone();
            entry.state = state.clone();
            entry.gates_readiness |= !next.is_empty();
        });
        for handle in &fresh {
            self.metrics.swaps_total.with_label_values(&[name, "loaded"]).inc();
            tracing::info!(model = name, version = handle.0, "model version published");
        }
        for handle in retired {
            tokio::spawn(retire(self.metrics.clone(), handle));
        }
        if complete { Ok(()) } else { Err(InferError::Backend(format!("model '{name}': {}", failures.join("; ")))) }
    }

    /// Where a model's versions come from: the files its last load request
    /// uploaded, if any, else the registry.
    fn source_of(&self, name: &str) -> Arc<dyn ModelRegistry> {
        match self.control.uploaded(name) {
            Some(dir) => Arc::new(LocalRegistry::SingleModel { name: name.to_owned(), dir }),
            None => self.registry.clone(),
        }
    }

    /// Maps a failed `describe`, marking a model that serves nothing failed.
    fn describe_failed(&self, name: &str, error: RegistryError) -> InferError {
        match error {
            RegistryError::Unavailable(why) => {
                tracing::warn!(model = name, error = %why, "registry unavailable; keeping the loaded versions");
                InferError::Unavailable(format!("the model registry is unavailable: {why}"))
            }
            RegistryError::Changed(why) => InferError::Unavailable(why),
            RegistryError::NotFound(why) => InferError::NotFound(why),
            RegistryError::Invalid(why) => {
                if self.table.entry(name).is_none_or(|e| e.versions.is_empty()) {
                    self.table.publish(name, |entry| entry.state = ModelState::Failed(why.clone()));
                }
                if self.control.remember_model_failure(name, &why) {
                    self.metrics.swaps_total.with_label_values(&[name, "failed"]).inc();
                    tracing::error!(model = name, error = %why, "model cannot be loaded");
                }
                InferError::Backend(format!("model '{name}': {why}"))
            }
        }
    }

    /// Fetches, verifies, loads and warms up one version, and starts its
    /// queue; it is not published yet.
    async fn load_version(
        &self,
        source: &dyn ModelRegistry,
        listing: &ModelListing,
        version: u64,
        fingerprint: &str,
    ) -> Result<Arc<ModelHandle>, LoadError> {
        let started = Instant::now();
        let name = listing.name.as_str();
        let dir = source.fetch(name, version, fingerprint).await.map_err(|e| match e {
            RegistryError::Unavailable(why) | RegistryError::NotFound(why) | RegistryError::Changed(why) => {
                LoadError::Download(why)
            }
            RegistryError::Invalid(why) => LoadError::Verify(why),
        })?;
        let (loaders, config, owned_name) = (self.loaders.clone(), listing.config.clone(), name.to_owned());
        let (defaults, gpu_memory) = (self.model_defaults, self.gpu_memory.clone());
        let (loaded, gpu_charge) = tokio::task::spawn_blocking(move || {
            gpu_memory.load(&owned_name, version, &config.instances.gpus(), || {
                load_instances(&loaders, &owned_name, version, &dir, &config, defaults)
            })
        })
        .await
        .map_err(|e| LoadError::Start(format!("loader thread failed: {e}")))??;
        let metrics = VersionMetrics::new(self.metrics.clone(), Arc::default(), name, version);
        let loaded = LoadedVersion {
            name: name.to_owned(),
            version,
            fingerprint: fingerprint.to_owned(),
            config: loaded.config,
            listed_config: listing.config.clone(),
            metadata: loaded.metadata,
            labels: loaded.labels,
            instances: loaded.instances,
            gpu_charge,
        };
        let mut handle = start_handle(loaded, metrics)?;
        let backend = listing.config.backend.to_string();
        self.metrics.load_duration.with_label_values(&[name, &backend]).observe(started.elapsed().as_secs_f64());
        let key =
            LoadedKey { model: name.to_owned(), version: version.to_string(), backend, device: handle.devices_label() };
        self.metrics.mark_loaded(key.clone());
        handle.loaded_key = Some(key);
        tracing::info!(
            model = name,
            version,
            backend = %handle.backend(),
            device = %handle.devices_label(),
            ms = started.elapsed().as_millis() as u64,
            "model version loaded and warmed up"
        );
        Ok(Arc::new(handle))
    }

    /// Takes every version of a model out of service and waits until each
    /// has answered what it had queued and released its memory.
    pub(super) async fn unload_model(&self, name: &str, keep_entry: bool) {
        let lock = self.control.lock_for(name);
        let _guard = lock.lock().await;
        let retired = if keep_entry {
            let old = self.table.entry(name).map(|e| e.versions).unwrap_or_default();
            self.table.publish(name, |entry| {
                entry.versions.clear();
                entry.state = ModelState::Unloaded;
            });
            old.into_values().collect()
        } else {
            self.table.remove(name)
        };
        self.control.reset(name);
        for handle in retired {
            retire(self.metrics.clone(), handle).await;
        }
        tracing::info!(model = name, "model unloaded");
    }
}

/// Whether the loaded handle still matches what the registry holds.
fn is_current(handle: Option<&Arc<ModelHandle>>, listing: &ModelListing, version: u64) -> bool {
    handle.is_some_and(|h| Some(&h.fingerprint) == listing.versions.get(&version) && h.listed_config == listing.config)
}

/// Waits for the last request holding `handle` to finish, then closes its
/// queue, waits for the instance threads to drop their backends, and only
/// then clears its `model_loaded` series.
pub(crate) async fn retire(metrics: Arc<Metrics>, handle: Arc<ModelHandle>) {
    let loaded_key = handle.loaded_key.clone();
    let mut handle = handle;
    let owned = loop {
        match Arc::try_unwrap(handle) {
            Ok(owned) => break owned,
            Err(shared) => {
                handle = shared;
                tokio::time::sleep(DRAIN_POLL).await;
            }
        }
    };
    let (name, version) = (owned.name.clone(), owned.version);
    let ModelHandle { scheduler, gpu_charge, .. } = owned;
    scheduler.shutdown().await;
    // The instances have dropped their sessions: their device memory is back.
    drop(gpu_charge);
    let _ = tokio::task::spawn_blocking(crate::memory::release_free_memory).await;
    if let Some(key) = &loaded_key {
        metrics.mark_unloaded(key);
    }
    metrics.swaps_total.with_label_values(&[&name, "unloaded"]).inc();
    tracing::info!(model = %name, version, "model version drained and unloaded");
}
