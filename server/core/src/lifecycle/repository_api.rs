//! Triton's model-repository extension: the index, and explicit load and
//! unload (allowed in `--model-control-mode explicit` only).

use super::Lifecycle;
use super::control::{ControlMode, IndexEntry, IndexState};
use super::registry::{ModelRegistry, RegistryError};
use super::swap::Retry;
use super::uploads::{self, ModelFiles};
use crate::error::InferError;
use crate::model::load_override::LoadOverride;
use crate::serving::model_table::ModelState;

impl Lifecycle {
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
        let mut names: Vec<String> = listed.into_iter().chain(self.table.names()).collect();
        names.sort();
        names.dedup();
        let mut index = Vec::new();
        for name in names {
            let entry = self.table.entry(&name);
            let mut rows = Vec::new();
            if let Some(entry) = &entry {
                for version in entry.versions.keys() {
                    rows.push(row(&name, Some(*version), IndexState::Ready, String::new()));
                }
            }
            for (version, reason) in self.control.failed_versions(&name) {
                if !entry.as_ref().is_some_and(|e| e.versions.contains_key(&version)) {
                    rows.push(row(&name, Some(version), IndexState::Unavailable, reason));
                }
            }
            if rows.is_empty() {
                let (state, reason) = match entry.map(|e| e.state) {
                    Some(ModelState::Loading) => (IndexState::Loading, String::new()),
                    Some(ModelState::Failed(why)) => (IndexState::Unavailable, why),
                    Some(ModelState::Unloaded) => (IndexState::Unavailable, "unloaded".into()),
                    Some(ModelState::Ready) | None => (IndexState::Unavailable, "not loaded".into()),
                };
                rows.push(row(&name, None, state, reason));
            }
            index.extend(rows.into_iter().filter(|r| !ready_only || r.state == IndexState::Ready));
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
        if self.table.entry(name).is_none() {
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

fn row(name: &str, version: Option<u64>, state: IndexState, reason: String) -> IndexEntry {
    IndexEntry { name: name.to_owned(), version, state, reason }
}
