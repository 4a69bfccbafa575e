//! A model repository on the local filesystem: a directory of models, or one
//! model directory (KServe's `/mnt/models` with `--model-name`).

use std::path::{Path, PathBuf};

use crate::lifecycle::registry::{BoxFuture, ModelListing, ModelRegistry, RegistryError, fingerprint, is_plain_name};
use crate::model::repository::{self, CONFIG_FILE, RepositoryError};

pub enum LocalRegistry {
    /// `<root>/<model>/model.toml` + `<root>/<model>/<version>/`.
    Repository(PathBuf),
    /// One model directory served under `name`.
    SingleModel { name: String, dir: PathBuf },
}

impl LocalRegistry {
    fn model_dir(&self, name: &str) -> Result<PathBuf, RegistryError> {
        match self {
            LocalRegistry::Repository(root) => {
                let dir = root.join(name);
                if is_plain_name(name) && dir.join(CONFIG_FILE).is_file() {
                    Ok(dir)
                } else {
                    Err(RegistryError::NotFound(format!("the repository {} has no model '{name}'", root.display())))
                }
            }
            LocalRegistry::SingleModel { name: served, dir } if served == name => Ok(dir.clone()),
            LocalRegistry::SingleModel { name: served, .. } => {
                Err(RegistryError::NotFound(format!("this server serves only '{served}', not '{name}'")))
            }
        }
    }

    fn list_now(&self) -> Result<Vec<String>, RegistryError> {
        match self {
            LocalRegistry::Repository(root) => {
                Ok(repository::model_names(root).map_err(|e| RegistryError::Unavailable(e.to_string()))?)
            }
            LocalRegistry::SingleModel { name, .. } => Ok(vec![name.clone()]),
        }
    }

    fn describe_now(&self, name: &str) -> Result<ModelListing, RegistryError> {
        let dir = self.model_dir(name)?;
        let source = repository::read_model(name, &dir).map_err(|e| match e {
            RepositoryError::Io { .. } => RegistryError::Unavailable(e.to_string()),
            _ => RegistryError::Invalid(e.to_string()),
        })?;
        let versions = source
            .versions
            .iter()
            .map(|(&version, path)| Ok((version, fingerprint_dir(path)?)))
            .collect::<Result<_, RegistryError>>()?;
        Ok(ModelListing { name: name.to_owned(), config: source.config, versions })
    }

    fn fetch_now(&self, name: &str, version: u64) -> Result<PathBuf, RegistryError> {
        let dir = self.model_dir(name)?;
        let source = repository::read_model(name, &dir).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        source
            .versions
            .get(&version)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("model '{name}' has no version {version} any more")))
    }
}

impl ModelRegistry for LocalRegistry {
    fn location(&self) -> String {
        match self {
            LocalRegistry::Repository(root) => root.display().to_string(),
            LocalRegistry::SingleModel { dir, .. } => dir.display().to_string(),
        }
    }

    fn source(&self) -> &'static str {
        "directory"
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
        Box::pin(async move { self.list_now() })
    }

    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ModelListing, RegistryError>> {
        Box::pin(async move { self.describe_now(name) })
    }

    fn fetch<'a>(&'a self, name: &'a str, version: u64, _: &'a str) -> BoxFuture<'a, Result<PathBuf, RegistryError>> {
        Box::pin(async move { self.fetch_now(name, version) })
    }
}

/// Names, sizes and modification times of every file under `dir`: cheap,
/// and it changes whenever a file is replaced or rewritten.
fn fingerprint_dir(dir: &Path) -> Result<String, RegistryError> {
    let mut entries = Vec::new();
    collect_files(dir, dir, &mut entries).map_err(|e| RegistryError::Unavailable(format!("{}: {e}", dir.display())))?;
    Ok(fingerprint(entries))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let path = entry.path();
        if meta.is_dir() {
            // A version served from the model directory itself (KServe) must
            // not fingerprint its sibling version directories.
            if dir != root || !is_version_dir(&path) {
                collect_files(root, &path, out)?;
            }
            continue;
        }
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let relative = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        out.push(format!("{relative}:{}:{}", meta.len(), modified.map_or(0, |d| d.as_nanos())));
    }
    Ok(())
}

fn is_version_dir(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.parse::<u64>().is_ok())
}
