//! Reading a local model repository:
//! `<repo>/<model>/model.toml` and `<repo>/<model>/<version>/...`.
//!
//! A single-model directory (KServe's `/mnt/models`) is read the same way,
//! with the name given on the command line; there `model.toml` may be absent
//! for an ONNX model, and the model file may sit directly in the directory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::model::backend::BackendKind;
use crate::model::config::{ConfigError, ModelConfig};

/// File name of the ONNX artifact in a version directory.
pub const ONNX_FILE: &str = "model.onnx";
/// File name of the safetensors artifact in a version directory.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "model.toml";
pub const METADATA_FILE: &str = "metadata.json";

/// One model as found on disk.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub name: String,
    pub config: ModelConfig,
    /// Every version directory present, by version number.
    pub versions: BTreeMap<u64, PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("cannot read model repository {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path} has no {CONFIG_FILE} and no {ONNX_FILE} to infer one from")]
    NoConfig { path: String },
    #[error("model '{name}' in {path} has no version to serve (expected numbered directories such as 1/)")]
    NoVersions { name: String, path: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RepositoryError + '_ {
    move |source| RepositoryError::Io { path: path.display().to_string(), source }
}

/// The names of the model directories under `root` (those with a
/// `model.toml`), sorted.
pub fn model_names(root: &Path) -> Result<Vec<String>, RepositoryError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io_err(root))? {
        let entry = entry.map_err(io_err(root))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !path.is_dir() || name.starts_with('.') {
            continue;
        }
        if !path.join(CONFIG_FILE).is_file() {
            tracing::debug!(dir = %path.display(), "skipping directory without {CONFIG_FILE}");
            continue;
        }
        names.push(name.to_owned());
    }
    names.sort();
    Ok(names)
}

/// Reads one model directory. Without `model.toml`, an ONNX file implies
/// `backend = "onnx"` with defaults; without numbered directories, a model
/// file in `dir` itself is version 1.
pub fn read_model(name: &str, dir: &Path) -> Result<ModelSource, RepositoryError> {
    let config_path = dir.join(CONFIG_FILE);
    let mut versions = numbered_dirs(dir)?;
    let config = if config_path.is_file() {
        ModelConfig::load(&config_path)?
    } else if dir.join(ONNX_FILE).is_file() || versions.values().any(|v| v.join(ONNX_FILE).is_file()) {
        ModelConfig::from_toml("backend = \"onnx\"", &config_path.display().to_string())?
    } else {
        return Err(RepositoryError::NoConfig { path: dir.display().to_string() });
    };
    if versions.is_empty() && has_artifact(dir, config.backend) {
        versions.insert(1, dir.to_path_buf());
    }
    if versions.is_empty() {
        return Err(RepositoryError::NoVersions { name: name.to_owned(), path: dir.display().to_string() });
    }
    Ok(ModelSource { name: name.to_owned(), config, versions })
}

fn has_artifact(dir: &Path, backend: BackendKind) -> bool {
    match backend {
        BackendKind::Onnx => dir.join(ONNX_FILE).is_file(),
        BackendKind::Candle => dir.join(SAFETENSORS_FILE).is_file(),
    }
}

fn numbered_dirs(dir: &Path) -> Result<BTreeMap<u64, PathBuf>, RepositoryError> {
    let mut versions = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let version = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u64>().ok()).filter(|&v| v > 0);
        if let (Some(version), true) = (version, path.is_dir()) {
            versions.insert(version, path);
        }
    }
    Ok(versions)
}

/// `metadata.json` of a version, as far as loading cares.
#[derive(Debug, Default, serde::Deserialize)]
struct VersionMetadata {
    #[serde(default)]
    artifacts: BTreeMap<String, ArtifactDigest>,
}

#[derive(Debug, serde::Deserialize)]
struct ArtifactDigest {
    sha256: String,
}

/// Checks every artifact digest listed in the version's `metadata.json`.
/// A version without the file, or without digests, passes.
pub fn verify_artifacts(version_dir: &Path) -> Result<(), String> {
    let path = version_dir.join(METADATA_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let digests = artifact_digests(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (relative, digest) in digests {
        let actual = sha256_file(&version_dir.join(&relative))?;
        if !actual.eq_ignore_ascii_case(digest.trim()) {
            return Err(format!(
                "sha256 mismatch for {}: metadata.json says {digest}, the file hashes to {actual}",
                version_dir.join(relative).display(),
            ));
        }
    }
    Ok(())
}

/// The artifact digests `metadata.json` lists: (relative path, sha256).
/// Every path must stay inside the version directory.
pub fn artifact_digests(text: &str) -> Result<Vec<(PathBuf, String)>, String> {
    let metadata: VersionMetadata = serde_json::from_str(text).map_err(|e| format!("invalid {METADATA_FILE}: {e}"))?;
    metadata
        .artifacts
        .into_iter()
        .map(|(file, digest)| {
            let relative = PathBuf::from(&file);
            if file.is_empty() || relative.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(format!("artifact path '{file}' must stay inside the version directory"));
            }
            Ok((relative, digest.sha256))
        })
        .collect()
}

/// Hex sha256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("sluice-repo-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn scans_models_and_versions() {
        let tmp = TempDir::new("scan");
        write(&tmp.0.join("a/model.toml"), "backend = \"onnx\"\nversion_policy = \"all\"");
        write(&tmp.0.join("a/1/model.onnx"), "x");
        write(&tmp.0.join("a/3/model.onnx"), "x");
        write(&tmp.0.join("a/notes/readme"), "x");
        write(&tmp.0.join("stray/readme"), "x");
        let names = model_names(&tmp.0).expect("scans");
        assert_eq!(names.len(), 1);
        let model = read_model(&names[0], &tmp.0.join(&names[0])).expect("reads");
        let available: Vec<u64> = model.versions.keys().copied().collect();
        assert_eq!(model.config.version_policy.select(&available), vec![3, 1]);
    }

    #[test]
    fn single_model_dir_without_config_or_versions() {
        let tmp = TempDir::new("single");
        write(&tmp.0.join("model.onnx"), "x");
        let model = read_model("m", &tmp.0).expect("reads");
        assert_eq!(model.config.backend, BackendKind::Onnx);
        assert_eq!(model.versions.get(&1), Some(&tmp.0));
        let empty = TempDir::new("empty");
        assert!(matches!(read_model("m", &empty.0), Err(RepositoryError::NoConfig { .. })));
    }

    #[test]
    fn verifies_sha256_digests() {
        let tmp = TempDir::new("sha");
        write(&tmp.0.join("model.onnx"), "hello");
        let good = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        write(&tmp.0.join("metadata.json"), &format!(r#"{{"artifacts": {{"model.onnx": {{"sha256": "{good}"}}}}}}"#));
        assert_eq!(verify_artifacts(&tmp.0), Ok(()));
        write(&tmp.0.join("model.onnx"), "tampered");
        let err = verify_artifacts(&tmp.0).expect_err("mismatch");
        assert!(err.contains("sha256 mismatch"), "{err}");
        write(&tmp.0.join("metadata.json"), r#"{"artifacts": {"../x": {"sha256": "00"}}}"#);
        assert!(verify_artifacts(&tmp.0).is_err());
    }
}
