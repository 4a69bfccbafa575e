//! Where model versions come from. The core asks a registry what a model
//! holds (`describe`) and for a local, verified directory of one version
//! (`fetch`); it never sees whether that is a local directory, an object
//! store or the MLflow Model Registry.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use sha2::{Digest, Sha256};

use crate::model::config::ModelConfig;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One model as the registry holds it now.
#[derive(Debug, Clone)]
pub struct ModelListing {
    pub name: String,
    pub config: ModelConfig,
    /// Every version present, with a fingerprint that changes whenever the
    /// version's content does (sizes and mtimes, ETags, MLflow run ids).
    pub versions: BTreeMap<u64, String>,
}

impl ModelListing {
    pub fn version_numbers(&self) -> Vec<u64> {
        self.versions.keys().copied().collect()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or answered with a server error:
    /// keep serving what is loaded and try again later.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// The registry answered, but a version changed while it was being
    /// downloaded (sizes or fingerprint moved): retried on the next poll.
    #[error("{0}")]
    Changed(String),
    /// The registry holds no such model (or version).
    #[error("{0}")]
    NotFound(String),
    /// The registry answered, but what it holds cannot be served (a bad
    /// model.toml, a digest mismatch): retried only once it changes.
    #[error("{0}")]
    Invalid(String),
}

/// A source of model versions.
pub trait ModelRegistry: Send + Sync + 'static {
    /// Where the models come from, for logs and the index.
    fn location(&self) -> String;

    /// The kind of source, as the `source` label of the registry metrics
    /// (`directory`, `s3`, `gcs`, `azure`, `mlflow`).
    fn source(&self) -> &'static str;

    /// One cheap request that tells whether the registry answers, used while
    /// it is down instead of a whole poll. Listing is the default.
    fn probe(&self) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(async move { self.list().await.map(|_| ()) })
    }

    /// The names of the models the registry holds.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, RegistryError>>;

    /// One model's configuration and versions.
    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ModelListing, RegistryError>>;

    /// A local directory holding exactly that version (as fingerprinted),
    /// complete and with its digests verified.
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        version: u64,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<PathBuf, RegistryError>>;
}

/// Whether `name` is one path component without separators or a leading
/// dot: safe to use as a model name, a directory name or an object key part.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

/// A short, order-independent digest of what identifies a version's content
/// (file names with sizes and mtimes, ETags, registry ids).
pub fn fingerprint(entries: impl IntoIterator<Item = String>) -> String {
    let mut entries: Vec<String> = entries.into_iter().collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for entry in entries {
        hasher.update(entry.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..12])
}
