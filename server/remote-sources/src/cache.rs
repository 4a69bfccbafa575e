//! The local copy of remote versions: `<root>/<model>/<version>/<fingerprint>/`.
//! A version is downloaded into `<root>/.partial/`, its sha256 digests are
//! checked, and only then is it renamed into place: a directory under its
//! final name is always complete and verified.

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_core::RegistryError;
use sluice_core::lifecycle::registry::is_plain_name;
use sluice_core::model::repository::verify_artifacts;

pub struct VersionCache {
    root: PathBuf,
    partial_seq: AtomicU64,
}

impl VersionCache {
    pub fn new(root: PathBuf) -> Result<Self, String> {
        let partial = root.join(".partial");
        // Leftovers of a previous process that stopped mid-download.
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial)
            .map_err(|e| format!("cannot create the model cache {}: {e}", partial.display()))?;
        Ok(VersionCache { root, partial_seq: AtomicU64::new(0) })
    }

    /// The verified directory of a version, downloading it with `fill` (which
    /// writes the version's files into the directory it is given) unless an
    /// identical copy is already cached. Older copies of the version go.
    pub async fn get_or_fill<F, Fut>(
        &self,
        model: &str,
        version: u64,
        fingerprint: &str,
        fill: F,
    ) -> Result<PathBuf, RegistryError>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: Future<Output = Result<(), RegistryError>>,
    {
        if !is_plain_name(model) || !is_plain_name(fingerprint) {
            return Err(RegistryError::Invalid(format!("'{model}' / '{fingerprint}' cannot name a cache directory")));
        }
        let version_dir = self.root.join(model).join(version.to_string());
        let target = version_dir.join(fingerprint);
        if target.is_dir() {
            return Ok(target);
        }
        let seq = self.partial_seq.fetch_add(1, Ordering::Relaxed);
        let partial = self.root.join(".partial").join(format!("{model}-{version}-{}-{seq}", std::process::id()));
        let io = |what: &str, path: &Path, e: std::io::Error| {
            RegistryError::Unavailable(format!("model cache: cannot {what} {}: {e}", path.display()))
        };
        tokio::fs::create_dir_all(&partial).await.map_err(|e| io("create", &partial, e))?;
        let filled = fill(partial.clone()).await;
        let verified = filled.and_then(|()| {
            verify_artifacts(&partial).map_err(|why| RegistryError::Invalid(format!("version {version}: {why}")))
        });
        if let Err(e) = verified {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            return Err(e);
        }
        // Only the current copy of a version is kept; a loaded model does not
        // need its files any more.
        let _ = tokio::fs::remove_dir_all(&version_dir).await;
        tokio::fs::create_dir_all(&version_dir).await.map_err(|e| io("create", &version_dir, e))?;
        tokio::fs::rename(&partial, &target).await.map_err(|e| io("move into place", &target, e))?;
        tracing::info!(model, version, dir = %target.display(), "version downloaded and verified");
        Ok(target)
    }
}

/// `relative` joined under `dir`, refusing anything that would escape it.
pub fn safe_join(dir: &Path, relative: &str) -> Result<PathBuf, RegistryError> {
    let rel = Path::new(relative);
    if relative.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(RegistryError::Invalid(format!("refusing artifact path '{relative}'")));
    }
    Ok(dir.join(rel))
}

/// Writes a stream of chunks to `path`, creating parent directories.
pub async fn write_stream<S, E>(path: &Path, mut chunks: S) -> Result<u64, RegistryError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| RegistryError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
    }
    let write_err = |e: std::io::Error| RegistryError::Unavailable(format!("cannot write {}: {e}", path.display()));
    let mut file = tokio::fs::File::create(path).await.map_err(write_err)?;
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| RegistryError::Unavailable(format!("download of {} failed: {e}", path.display())))?;
        written += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(write_err)?;
    }
    file.flush().await.map_err(write_err)?;
    file.sync_all().await.map_err(write_err)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_verified_copies_reach_their_final_name() {
        let root = std::env::temp_dir().join(format!("sluice-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cache = VersionCache::new(root.clone()).expect("cache");
        let bad = cache
            .get_or_fill("m", 1, "fp1", |dir| async move {
                std::fs::write(dir.join("model.onnx"), b"tampered").expect("write");
                std::fs::write(dir.join("metadata.json"), r#"{"artifacts": {"model.onnx": {"sha256": "00"}}}"#)
                    .expect("write");
                Ok(())
            })
            .await;
        assert!(matches!(bad, Err(RegistryError::Invalid(_))), "{bad:?}");
        assert!(!root.join("m/1/fp1").exists());
        let good = cache
            .get_or_fill("m", 1, "fp2", |dir| async move {
                std::fs::write(dir.join("model.onnx"), b"ok").expect("write");
                Ok(())
            })
            .await
            .expect("installs");
        assert_eq!(good, root.join("m/1/fp2"));
        let again = cache.get_or_fill("m", 1, "fp2", |_| async { panic!("must come from the cache") }).await;
        assert_eq!(again.ok(), Some(good));
        assert!(cache.get_or_fill("../x", 1, "fp", |_| async { Ok(()) }).await.is_err());
        assert!(safe_join(&root, "../etc/passwd").is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
