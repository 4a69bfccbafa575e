//! The table of models, shared by the request side (`Inference`, which reads
//! it on every request) and the lifecycle (`Lifecycle`, which loads, swaps
//! and unloads versions and publishes each change in one atomic swap).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

use crate::error::InferError;
use crate::serving::handle::ModelHandle;

/// Where a configured model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Loading,
    Ready,
    Failed(String),
    /// Unloaded through the repository API: not served, not awaited.
    Unloaded,
}

#[derive(Clone)]
pub(crate) struct ModelEntry {
    pub(crate) state: ModelState,
    pub(crate) versions: BTreeMap<u64, Arc<ModelHandle>>,
    /// Whether readiness waits for this model: models configured at start-up
    /// and any model once it has served. A model added later whose first load
    /// fails is reported, but does not take a serving pod out of its Service.
    pub(crate) gates_readiness: bool,
}

impl ModelEntry {
    fn loading() -> Self {
        ModelEntry { state: ModelState::Loading, versions: BTreeMap::new(), gates_readiness: false }
    }
}

pub(crate) type Models = HashMap<String, ModelEntry>;

/// Every model by name, read lock-free and replaced whole on each change.
#[derive(Default)]
pub struct ModelTable {
    models: ArcSwap<Models>,
    /// Set once start-up has tried every configured model.
    startup_done: AtomicBool,
}

impl ModelTable {
    /// A snapshot of the whole table: consistent for as long as it is held.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Models>> {
        self.models.load()
    }

    pub(crate) fn entry(&self, name: &str) -> Option<ModelEntry> {
        self.models.load().get(name).cloned()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.models.load().keys().cloned().collect()
    }

    /// Replaces one model's entry (or creates it) in one atomic publish.
    pub(crate) fn publish(&self, name: &str, change: impl Fn(&mut ModelEntry)) {
        self.models.rcu(|models| {
            let mut models = (**models).clone();
            change(models.entry(name.to_owned()).or_insert_with(ModelEntry::loading));
            models
        });
    }

    /// Drops a model's entry; returns the versions it was serving.
    pub(crate) fn remove(&self, name: &str) -> Vec<Arc<ModelHandle>> {
        let old = self.models.rcu(|models| {
            let mut models = (**models).clone();
            models.remove(name);
            models
        });
        old.get(name).map(|e| e.versions.values().cloned().collect()).unwrap_or_default()
    }

    pub(crate) fn finish_startup(&self) {
        self.startup_done.store(true, Ordering::Release);
    }

    /// Start-up is over and every model readiness waits for serves a version.
    pub(crate) fn all_loaded(&self) -> bool {
        self.startup_done.load(Ordering::Acquire)
            && self
                .models
                .load()
                .values()
                .all(|e| !e.gates_readiness || e.state == ModelState::Unloaded || !e.versions.is_empty())
    }
}

pub(crate) fn unknown_model(name: &str, models: &Models) -> InferError {
    let mut known: Vec<&str> = models.keys().map(String::as_str).collect();
    known.sort_unstable();
    InferError::NotFound(format!("unknown model '{name}' (serving: {})", known.join(", ")))
}
