//! Model control (Triton's meanings): the control modes, the repository
//! index's rows, and per-model bookkeeping off the request path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::uploads;
use crate::model::ModelConfig;
use crate::model::load_override::LoadOverride;

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

/// A row's state in the repository index, as Triton names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    Ready,
    Loading,
    Unavailable,
}

impl IndexState {
    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::Ready => "READY",
            IndexState::Loading => "LOADING",
            IndexState::Unavailable => "UNAVAILABLE",
        }
    }
}

/// One row of the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: String,
    /// None for a model with no loaded or failed version.
    pub version: Option<u64>,
    pub state: IndexState,
    /// Why the row is not ready; empty when it is.
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
pub(super) struct Control(Mutex<HashMap<String, ModelControl>>);

impl Control {
    fn models(&self) -> MutexGuard<'_, HashMap<String, ModelControl>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.models().entry(name.to_owned()).or_default().lock.clone()
    }

    pub(super) fn load_override(&self, name: &str) -> Option<LoadOverride> {
        self.models().get(name).and_then(|m| m.load_override.clone())
    }

    pub(super) fn set_load_override(&self, name: &str, load_override: Option<LoadOverride>) {
        self.models().entry(name.to_owned()).or_default().load_override = load_override;
    }

    pub(super) fn uploaded(&self, name: &str) -> Option<PathBuf> {
        self.models().get(name).and_then(|m| m.uploaded.clone())
    }

    /// Sets the model's upload directory; returns the one it replaces.
    pub(super) fn set_uploaded(&self, name: &str, dir: Option<PathBuf>) -> Option<PathBuf> {
        std::mem::replace(&mut self.models().entry(name.to_owned()).or_default().uploaded, dir)
    }

    pub(super) fn known_failure(
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

    pub(super) fn remember_failure(
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

    pub(super) fn forget_failure(&self, name: &str, version: u64) {
        if let Some(model) = self.models().get_mut(name) {
            model.failed.remove(&version);
        }
    }

    pub(super) fn clear_model_failure(&self, name: &str) {
        if let Some(model) = self.models().get_mut(name) {
            model.model_failure = None;
        }
    }

    /// Records a model-level failure; true when it is new (not yet reported).
    pub(super) fn remember_model_failure(&self, name: &str, why: &str) -> bool {
        let mut models = self.models();
        let model = models.entry(name.to_owned()).or_default();
        let new = model.model_failure.as_deref() != Some(why);
        model.model_failure = Some(why.to_owned());
        new
    }

    pub(super) fn reset(&self, name: &str) {
        if let Some(model) = self.models().get_mut(name) {
            model.failed.clear();
            model.model_failure = None;
            model.load_override = None;
            if let Some(dir) = model.uploaded.take() {
                uploads::remove(&dir);
            }
        }
    }

    pub(super) fn failed_versions(&self, name: &str) -> Vec<(u64, String)> {
        let models = self.models();
        let mut failed: Vec<(u64, String)> = models
            .get(name)
            .map(|m| m.failed.iter().map(|(v, f)| (*v, f.reason.clone())).collect())
            .unwrap_or_default();
        failed.sort();
        failed
    }
}
