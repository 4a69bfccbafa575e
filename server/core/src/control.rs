//! Model control (Triton's meanings): what is loaded at start-up, whether the
//! registry is polled, and the repository API (index, load, unload).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::InferError;
use crate::inference::{Inference, ModelState};
use crate::load_override::LoadOverride;
use crate::model_config::{ModelConfig, VersionPolicy};
use crate::registry::{ModelRegistry, RegistryError};
use crate::swap::Retry;
use crate::uploads::{self, ModelFiles};

/// Longest wait between whole polls while the registry is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait between start-up attempts: readiness waits on them.
const MAX_STARTUP_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMode {
    /// Load everything at start-up; ignore later changes; refuse load/unload.
    None,
    /// Load everything at start-up, then apply the registry's changes every
    /// `--repository-poll-secs`; refuse load/unload.
    Poll,
    /// Load only what start-up names; load/unload through the API.
    Explicit,
}

impl ControlMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlMode::None => "none",
            ControlMode::Poll => "poll",
            ControlMode::Explicit => "explicit",
        }
    }
}

/// One row of the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: String,
    /// Empty for a model with no loaded or failed version.
    pub version: String,
    /// READY, LOADING or UNAVAILABLE.
    pub state: &'static str,
    pub reason: String,
}

struct Failure {
    fingerprint: String,
    config: ModelConfig,
    reason: String,
}

#[derive(Default)]
struct ModelControl {
    lock: Arc<tokio::sync::Mutex<()>>,
    failed: HashMap<u64, Failure>,
    /// The last model-level failure (bad model.toml), reported once.
    model_failure: Option<String>,
    load_override: Option<LoadOverride>,
    /// The directory of files the last load request uploaded.
    uploaded: Option<PathBuf>,
}

/// Per-model bookkeeping that is off the request path: one async lock per
/// model (a load, a poll and an unload never interleave), failed versions,
/// and version-policy overrides from load requests.
#[derive(Default)]
pub(crate) struct Control(Mutex<HashMap<String, ModelControl>>);

impl Control {
    fn models(&self) -> MutexGuard<'_, HashMap<String, ModelControl>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.models().entry(name.to_owned()).or_default().lock.clone()
    }

    pub(crate) fn load_override(&self, name: &str) -> Option<LoadOverride> {
        self.models().get(name).and_then(|m| m.load_override.clone())
    }

    fn set_load_override(&self, name: &str, load_override: Option<LoadOverride>) {
        self.models().entry(name.to_owned()).or_default().load_override = load_override;
    }

    pub(crate) fn uploaded(&self, name: &str) -> Option<PathBuf> {
        self.models().get(name).and_then(|m| m.uploaded.clone())
    }

    /// Sets the model's upload directory; returns the one it replaces.
    fn set_uploaded(&self, name: &str, dir: Option<PathBuf>) -> Option<PathBuf> {
        std::mem::replace(&mut self.models().entry(name.to_owned()).or_default().uploaded, dir)
    }

    pub(crate) fn known_failure(
        &self,
        name: &str,
        version: u64,
        fingerprint: &str,
        config: &ModelConfig,
    ) -> Option<String> {
        let models = self.models();
        let failure = models.get(name)?.failed.get(&version)?;
        (failure.fingerprint == fingerprint && failure.config == *config).then(|| failure.reason.clone())
    }

    pub(crate) fn remember_failure(
        &self,
        name: &str,
        version: u64,
        fingerprint: &str,
        config: &ModelConfig,
        why: &str,
    ) {
        let failure = Failure { fingerprint: fingerprint.to_owned(), config: config.clone(), reason: why.to_owned() };
        self.models().entry(name.to_owned()).or_default().failed.insert(version, failure);
    }

    pub(crate) fn forget_failure(&self, name: &str, version: u64) {
        if let Some(model) = self.models().get_mut(name) {
            model.failed.remove(&version);
        }
    }

    pub(crate) fn clear_model_failure(&self, name: &str) {
        if let Some(model) = self.models().get_mut(name) {
            model.model_failure = None;
        }
    }

    /// Records a model-level failure; true when it is new (not yet reported).
    pub(crate) fn remember_model_failure(&self, name: &str, why: &str) -> bool {
        let mut models = self.models();
        let model = models.entry(name.to_owned()).or_default();
        let new = model.model_failure.as_deref() != Some(why);
        model.model_failure = Some(why.to_owned());
        new
    }

    pub(crate) fn reset(&self, name: &str) {
        if let Some(model) = self.models().get_mut(name) {
            model.failed.clear();
            model.model_failure = None;
            model.load_override = None;
            if let Some(dir) = model.uploaded.take() {
                uploads::remove(&dir);
            }
        }
    }

    fn failed_versions(&self, name: &str) -> Vec<(u64, String)> {
        let models = self.models();
        let mut failed: Vec<(u64, String)> = models
            .get(name)
            .map(|m| m.failed.iter().map(|(v, f)| (*v, f.reason.clone())).collect())
            .unwrap_or_default();
        failed.sort();
        failed
    }
}

impl Inference {
    /// Serves exactly `version` of `name` (`--model-version`), as a load
    /// request's version-policy override would; set before `start`.
    pub fn pin_version(&self, name: &str, version: u64) {
        let pin = LoadOverride { version_policy: Some(VersionPolicy::Specific(vec![version])), ..Default::default() };
        self.control.set_load_override(name, Some(pin));
    }

    /// Start-up: loads every model the registry holds (`none`, `poll`) or
    /// those named (`explicit`). A model whose registry cannot be reached is
    /// retried in the background with backoff; readiness waits for it.
    pub async fn start(self: &Arc<Self>, named: &[String]) -> Result<(), InferError> {
        let names = match self.mode {
            ControlMode::Explicit => named.to_vec(),
            ControlMode::None | ControlMode::Poll => self.list_with_retry().await,
        };
        for name in &names {
            self.publish(name, |entry| entry.gates_readiness = true);
        }
        for name in names {
            match self.sync_model(&name, Retry::OnlyChanged).await {
                Err(InferError::Unavailable(_)) => {
                    let this = self.clone();
                    tokio::spawn(async move { this.retry_until_reachable(&name).await });
                }
                Err(e) => {
                    if let InferError::NotFound(why) = &e {
                        self.publish(&name, |entry| entry.state = ModelState::Failed(why.clone()));
                    }
                    tracing::error!(model = %name, error = %e, "model failed to load at start-up");
                }
                Ok(()) => {}
            }
        }
        self.finish_startup();
        if self.mode == ControlMode::Poll {
            tracing::info!(registry = %self.registry.location(), "polling the model registry for changes");
        }
        Ok(())
    }

    async fn list_with_retry(&self) -> Vec<String> {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.registry.list().await {
                Ok(names) => {
                    if names.is_empty() {
                        tracing::warn!(registry = %self.registry.location(), "the model registry holds no model");
                    }
                    return names;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot list the model registry");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_STARTUP_BACKOFF);
                }
            }
        }
    }

    async fn retry_until_reachable(&self, name: &str) {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::time::sleep(backoff).await;
            match self.sync_model(name, Retry::OnlyChanged).await {
                Err(InferError::Unavailable(_)) => backoff = (backoff * 2).min(MAX_STARTUP_BACKOFF),
                _ => return,
            }
        }
    }

    /// Poll mode: every `every`, applies new, changed and removed versions and
    /// models. While the registry is unreachable the loaded versions keep
    /// serving, and instead of whole polls one cheap probe per interval
    /// watches for its return; the first probe answered resumes polling at
    /// once. A registry that answers probes but fails polls (a partial
    /// outage) gets whole polls backing off, doubling up to a minute.
    pub async fn poll(self: Arc<Self>, every: Duration) {
        let mut backoff = every;
        let mut next_poll = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            if self.registry.is_down() && self.registry.probe().await.is_err() {
                continue;
            }
            if Instant::now() < next_poll {
                continue;
            }
            backoff = match self.poll_once().await {
                Ok(()) => every,
                Err(why) => {
                    let next = (backoff * 2).clamp(every, MAX_BACKOFF.max(every));
                    tracing::warn!(
                        error = %why,
                        next_poll_ms = next.as_millis() as u64,
                        "model registry poll failed; probing it every poll interval meanwhile"
                    );
                    next
                }
            };
            next_poll = Instant::now() + backoff;
        }
    }

    async fn poll_once(&self) -> Result<(), InferError> {
        let listed = self.registry.list().await.map_err(|e| InferError::Unavailable(e.to_string()))?;
        let mut outage = None;
        for name in &listed {
            if let Err(e @ InferError::Unavailable(_)) = self.sync_model(name, Retry::OnlyChanged).await {
                outage = Some(e);
            }
        }
        for gone in self.model_names().into_iter().filter(|n| !listed.contains(n)) {
            tracing::info!(model = %gone, "model removed from the registry; unloading it");
            self.unload_model(&gone, false).await;
        }
        outage.map_or(Ok(()), Err)
    }

    /// Triton's repository index: each loaded (or failed) version, and each
    /// model of the registry that serves nothing.
    pub async fn repository_index(&self, ready_only: bool) -> Vec<IndexEntry> {
        let listed = match self.registry.list().await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the model registry; the index shows loaded models only");
                Vec::new()
            }
        };
        let mut names: Vec<String> = listed.into_iter().chain(self.model_names()).collect();
        names.sort();
        names.dedup();
        let mut index = Vec::new();
        for name in names {
            let entry = self.entry(&name);
            let mut rows = Vec::new();
            if let Some(entry) = &entry {
                for version in entry.versions.keys() {
                    rows.push(row(&name, version.to_string(), "READY", String::new()));
                }
            }
            for (version, reason) in self.control.failed_versions(&name) {
                if !entry.as_ref().is_some_and(|e| e.versions.contains_key(&version)) {
                    rows.push(row(&name, version.to_string(), "UNAVAILABLE", reason));
                }
            }
            if rows.is_empty() {
                rows.push(match entry.map(|e| e.state) {
                    Some(ModelState::Loading) => row(&name, String::new(), "LOADING", String::new()),
                    Some(ModelState::Failed(why)) => row(&name, String::new(), "UNAVAILABLE", why),
                    Some(ModelState::Unloaded) => row(&name, String::new(), "UNAVAILABLE", "unloaded".into()),
                    Some(ModelState::Ready) | None => row(&name, String::new(), "UNAVAILABLE", "not loaded".into()),
                });
            }
            index.extend(rows.into_iter().filter(|r| !ready_only || r.state == "READY"));
        }
        index
    }

    /// Loads (or reloads) a model from the registry, explicit mode only.
    /// `overrides` (version policy, batching, instances) replace model.toml's
    /// settings until the next load. Returns once the new versions serve; the
    /// replaced ones drain behind.
    ///
    /// `files` (path inside the model directory, content) replace the
    /// repository as the model's source, as Triton's `file:` parameters do;
    /// a later load without files goes back to the repository.
    pub async fn load(&self, name: &str, overrides: Option<LoadOverride>, files: ModelFiles) -> Result<(), InferError> {
        self.check_explicit("load")?;
        let upload = if files.is_empty() {
            None
        } else {
            let owned = name.to_owned();
            let written = tokio::task::spawn_blocking(move || uploads::write_model_files(&owned, &files)).await;
            Some(written.map_err(|e| InferError::Backend(format!("upload thread failed: {e}")))??)
        };
        let lock = self.control.lock_for(name);
        let previous_override = self.control.load_override(name);
        let previous_upload = {
            let _guard = lock.lock().await;
            self.control.set_load_override(name, overrides);
            self.control.set_uploaded(name, upload.clone())
        };
        let result = self.sync_model(name, Retry::Always).await;
        match &result {
            Ok(()) => {
                if let Some(old) = previous_upload.filter(|old| Some(old) != upload.as_ref()) {
                    uploads::remove(&old);
                }
            }
            Err(InferError::NotFound(_)) if upload.is_none() => self.control.reset(name),
            // A load that fails changes nothing: the old source and
            // overrides stay for the versions still serving.
            Err(_) => {
                let _guard = lock.lock().await;
                self.control.set_load_override(name, previous_override);
                if let Some(failed) = self.control.set_uploaded(name, previous_upload) {
                    uploads::remove(&failed);
                }
            }
        }
        result
    }

    /// Unloads every version of a model, explicit mode only; returns once
    /// their queued and in-flight requests are answered and memory is freed.
    pub async fn unload(&self, name: &str) -> Result<(), InferError> {
        self.check_explicit("unload")?;
        if self.entry(name).is_none() {
            return match self.registry.describe(name).await {
                Ok(_) => Ok(()),
                Err(RegistryError::NotFound(why)) => Err(InferError::NotFound(why)),
                Err(e) => Err(InferError::Unavailable(e.to_string())),
            };
        }
        self.unload_model(name, true).await;
        Ok(())
    }

    fn check_explicit(&self, what: &str) -> Result<(), InferError> {
        if self.mode == ControlMode::Explicit {
            return Ok(());
        }
        Err(InferError::InvalidInput(format!(
            "explicit model {what} is not allowed in --model-control-mode {}; start sluice with \
             --model-control-mode explicit",
            self.mode.as_str()
        )))
    }
}

fn row(name: &str, version: String, state: &'static str, reason: String) -> IndexEntry {
    IndexEntry { name: name.to_owned(), version, state, reason }
}
