//! A model repository in object storage (`s3://bucket/prefix`, `gs://`,
//! `az://`), laid out like a local one: `<prefix>/<model>/model.toml` and
//! `<prefix>/<model>/<version>/...`. Credentials and endpoints come from the
//! usual environment variables (AWS_*, GOOGLE_*, AZURE_*).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{BackoffConfig, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};
use sluice_core::lifecycle::registry::{BoxFuture, fingerprint, is_plain_name};
use sluice_core::model::repository::CONFIG_FILE;
use sluice_core::{ModelConfig, ModelListing, ModelRegistry, RegistryError};

use crate::cache::{VersionCache, safe_join, write_stream};

/// Retries inside one call: enough for a dropped connection, short enough
/// that an outage reaches the poll loop (which backs off and probes) in
/// seconds rather than object_store's default three minutes.
const CALL_RETRIES: RetryConfig = RetryConfig {
    backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(2), base: 2.0 },
    max_retries: 3,
    retry_timeout: Duration::from_secs(10),
};

pub struct ObjectStoreRegistry {
    store: Arc<dyn ObjectStore>,
    /// The same store without retries: one probe is one request.
    probe_store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    uri: String,
    /// The `source` label: s3, gcs or azure.
    source: &'static str,
    cache: VersionCache,
}

impl ObjectStoreRegistry {
    pub fn open(uri: &str, cache: VersionCache) -> Result<Self, String> {
        let url = url::Url::parse(uri).map_err(|e| format!("invalid model repository URI '{uri}': {e}"))?;
        let (store, source) = build_store(uri, url.scheme(), CALL_RETRIES)?;
        let (probe_store, _) = build_store(uri, url.scheme(), RetryConfig { max_retries: 0, ..CALL_RETRIES })?;
        let prefix = StorePath::from(url.path().trim_matches('/'));
        Ok(ObjectStoreRegistry { store, probe_store, prefix, uri: uri.to_owned(), source, cache })
    }

    fn model_prefix(&self, name: &str) -> Result<StorePath, RegistryError> {
        if !is_plain_name(name) {
            return Err(RegistryError::NotFound(format!("'{name}' is not a model name")));
        }
        Ok(self.prefix.clone().join(name))
    }

    /// Every object under `prefix`, with its path relative to it.
    async fn list_under(&self, prefix: &StorePath) -> Result<Vec<(String, ObjectMeta)>, RegistryError> {
        let objects: Vec<ObjectMeta> = self.store.list(Some(prefix)).try_collect().await.map_err(store_error)?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let relative = meta.location.prefix_match(prefix)?.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>();
                Some((relative.join("/"), meta))
            })
            .collect())
    }

    async fn list_now(&self) -> Result<Vec<String>, RegistryError> {
        let mut names: Vec<String> = self
            .list_under(&self.prefix)
            .await?
            .into_iter()
            .filter_map(|(relative, _)| relative.strip_suffix(&format!("/{CONFIG_FILE}")).map(str::to_owned))
            .filter(|name| !name.contains('/') && !name.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn describe_now(&self, name: &str) -> Result<ModelListing, RegistryError> {
        let model = self.model_prefix(name)?;
        let objects = self.list_under(&model).await?;
        if !objects.iter().any(|(relative, _)| relative == CONFIG_FILE) {
            return Err(RegistryError::NotFound(format!("{} has no model '{name}' ({CONFIG_FILE} missing)", self.uri)));
        }
        let text = self
            .store
            .get(&model.clone().join(CONFIG_FILE))
            .await
            .map_err(store_error)?
            .bytes()
            .await
            .map_err(store_error)?;
        let text = String::from_utf8(text.to_vec())
            .map_err(|_| RegistryError::Invalid(format!("{name}/{CONFIG_FILE} is not UTF-8")))?;
        let config = ModelConfig::from_toml(&text, &format!("{}/{name}/{CONFIG_FILE}", self.uri))
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let mut files: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (relative, meta) in &objects {
            let Some((first, rest)) = relative.split_once('/') else { continue };
            if let Some(version) = first.parse::<u64>().ok().filter(|&v| v > 0) {
                let tag = meta.e_tag.clone().unwrap_or_else(|| meta.last_modified.to_rfc3339());
                files.entry(version).or_default().push(format!("{rest}:{}:{tag}", meta.size));
            }
        }
        let versions = files.into_iter().map(|(version, entries)| (version, fingerprint(entries))).collect();
        Ok(ModelListing { name: name.to_owned(), config, versions })
    }

    async fn fetch_now(&self, name: &str, version: u64, expected: &str) -> Result<PathBuf, RegistryError> {
        let prefix = self.model_prefix(name)?.join(version.to_string().as_str());
        self.cache
            .get_or_fill(name, version, expected, |dir| async move {
                let objects = self.list_under(&prefix).await?;
                let mut entries = Vec::new();
                for (relative, meta) in &objects {
                    let tag = meta.e_tag.clone().unwrap_or_else(|| meta.last_modified.to_rfc3339());
                    entries.push(format!("{relative}:{}:{tag}", meta.size));
                    let stream = self.store.get(&meta.location).await.map_err(store_error)?.into_stream();
                    let written = write_stream(&safe_join(&dir, relative)?, stream).await?;
                    if written != meta.size {
                        return Err(RegistryError::Changed(format!(
                            "{relative}: downloaded {written} of {} bytes",
                            meta.size
                        )));
                    }
                }
                // Changed while being downloaded: the next poll sees the new
                // fingerprint and fetches again.
                if fingerprint(entries) != expected {
                    return Err(RegistryError::Changed(format!("version {version} changed during download")));
                }
                Ok(())
            })
            .await
    }
}

impl ModelRegistry for ObjectStoreRegistry {
    fn location(&self) -> String {
        self.uri.clone()
    }

    fn source(&self) -> &'static str {
        self.source
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(async move {
            self.probe_store.list_with_delimiter(Some(&self.prefix)).await.map(|_| ()).map_err(store_error)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
        Box::pin(self.list_now())
    }

    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ModelListing, RegistryError>> {
        Box::pin(self.describe_now(name))
    }

    fn fetch<'a>(
        &'a self,
        name: &'a str,
        version: u64,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<PathBuf, RegistryError>> {
        Box::pin(self.fetch_now(name, version, fingerprint))
    }
}

/// The store `uri` names, configured from the environment (AWS_*, GOOGLE_*,
/// AZURE_*), and its `source` label.
/// The store and key prefix a repository URI names (`s3://bucket/prefix`,
/// `gs://`, `az://`), configured from the environment like the server's
/// source, for writers of the same layout (sluice-trainer).
pub fn open_store(uri: &str) -> Result<(Arc<dyn ObjectStore>, StorePath), String> {
    let url = url::Url::parse(uri).map_err(|e| format!("invalid repository URI '{uri}': {e}"))?;
    let (store, _) = build_store(uri, url.scheme(), CALL_RETRIES)?;
    Ok((store, StorePath::from(url.path().trim_matches('/'))))
}

fn build_store(uri: &str, scheme: &str, retry: RetryConfig) -> Result<(Arc<dyn ObjectStore>, &'static str), String> {
    Ok(match scheme {
        "s3" => {
            let store = object_store::aws::AmazonS3Builder::from_env().with_url(uri).with_retry(retry).build();
            (Arc::new(store.map_err(|e| e.to_string())?), "s3")
        }
        "gs" => {
            let store =
                object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(uri).with_retry(retry).build();
            (Arc::new(store.map_err(|e| e.to_string())?), "gcs")
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let store = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(uri).with_retry(retry).build();
            (Arc::new(store.map_err(|e| e.to_string())?), "azure")
        }
        other => return Err(format!("unsupported model repository scheme '{other}://'")),
    })
}

fn store_error(e: object_store::Error) -> RegistryError {
    match e {
        object_store::Error::NotFound { path, .. } => RegistryError::NotFound(format!("{path} not found")),
        other => RegistryError::Unavailable(other.to_string()),
    }
}
