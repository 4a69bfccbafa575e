//! A model repository in object storage, laid out like a directory one:
//! `<prefix>/<model>/model.toml`, `<prefix>/<model>/<version>/...`. Objects
//! cannot be renamed into place, so a version's files go up metadata.json
//! last (the server verifies every digest it lists) and the model's
//! model.toml after its first version.

use std::path::Path;
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::metadata::{self, Metadata};

use super::{MODEL_TOML, MODEL_TOML_FILE, upload_order};

pub struct ObjectRepo {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    uri: String,
}

impl ObjectRepo {
    pub fn open(uri: &str) -> Result<Self, String> {
        let (store, prefix) = sluice_remote_sources::open_store(uri)?;
        Ok(ObjectRepo { store, prefix, uri: uri.to_string() })
    }

    pub fn describe(&self) -> String {
        self.uri.clone()
    }

    fn key(&self, parts: &[&str]) -> StorePath {
        parts.iter().fold(self.prefix.clone(), |p, part| p.join(*part))
    }

    async fn get_text(&self, key: &StorePath) -> Result<Option<String>, String> {
        match self.store.get(key).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(|e| format!("{}: {e}", self.uri))?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("{}: {e}", self.uri)),
        }
    }

    async fn put(&self, key: &StorePath, bytes: Vec<u8>) -> Result<(), String> {
        self.store
            .put(key, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: cannot write {key}: {e}", self.uri))
    }

    pub async fn versions(&self, model: &str) -> Result<Vec<(u64, Option<Metadata>)>, String> {
        let model_prefix = self.key(&[model]);
        let objects: Vec<_> =
            self.store.list(Some(&model_prefix)).try_collect().await.map_err(|e| format!("{}: {e}", self.uri))?;
        let mut numbers: Vec<u64> = objects
            .iter()
            .filter_map(|meta| meta.location.prefix_match(&model_prefix)?.next())
            .filter_map(|first| first.as_ref().parse::<u64>().ok())
            .filter(|&v| v > 0)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut versions = Vec::with_capacity(numbers.len());
        for version in numbers {
            let key = self.key(&[model, &version.to_string(), metadata::FILE]);
            let meta = self.get_text(&key).await?.and_then(|text| Metadata::parse(&text, key.as_ref()).ok());
            versions.push((version, meta));
        }
        Ok(versions)
    }

    pub async fn publish(&self, model: &str, staged: &Path, metadata: &mut Metadata) -> Result<u64, String> {
        let version = self.versions(model).await?.last().map_or(1, |(v, _)| v + 1);
        metadata.version = version;
        std::fs::write(staged.join(metadata::FILE), metadata.to_json()).map_err(|e| e.to_string())?;
        for file in upload_order(staged)? {
            let bytes = std::fs::read(staged.join(&file)).map_err(|e| format!("cannot read {file}: {e}"))?;
            self.put(&self.key(&[model, &version.to_string(), &file]), bytes).await?;
        }
        let config = self.key(&[model, MODEL_TOML_FILE]);
        if self.get_text(&config).await?.is_none() {
            self.put(&config, MODEL_TOML.as_bytes().to_vec()).await?;
        }
        Ok(version)
    }

    pub async fn read_file(&self, model: &str, version: u64, file: &str) -> Result<Vec<u8>, String> {
        let key = self.key(&[model, &version.to_string(), file]);
        let found = self.store.get(&key).await.map_err(|e| format!("{}: {key}: {e}", self.uri))?;
        Ok(found.bytes().await.map_err(|e| format!("{}: {key}: {e}", self.uri))?.to_vec())
    }

    pub async fn write_metadata(&self, model: &str, metadata: &Metadata) -> Result<(), String> {
        let key = self.key(&[model, &metadata.version.to_string(), metadata::FILE]);
        self.put(&key, metadata.to_json().into_bytes()).await
    }
}
