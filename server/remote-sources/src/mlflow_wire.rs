//! MLflow REST answers and what is read from them, without I/O, so they can
//! be tested and fuzzed alone.

use std::collections::BTreeMap;

use serde::Deserialize;
use sluice_core::RegistryError;
use sluice_core::lifecycle::registry::fingerprint;

#[derive(Debug, Deserialize)]
pub struct ModelVersion {
    pub version: String,
    pub source: String,
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub status: String,
}

/// `model-versions/get` and `registered-models/alias`.
#[derive(Debug, Deserialize)]
pub struct OneVersion {
    pub model_version: ModelVersion,
}

/// `model-versions/search`.
#[derive(Debug, Deserialize)]
pub struct VersionList {
    #[serde(default)]
    pub model_versions: Vec<ModelVersion>,
}

/// `mlflow-artifacts/artifacts` (one directory level).
#[derive(Debug, Deserialize)]
pub struct ArtifactList {
    #[serde(default)]
    pub files: Vec<ArtifactFile>,
}

#[derive(Debug, Deserialize)]
pub struct ArtifactFile {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// The READY versions with numeric names (number -> fingerprint) and the
/// newest one's artifact source.
pub fn ready_versions(found: Vec<ModelVersion>) -> (BTreeMap<u64, String>, Option<String>) {
    let mut versions = BTreeMap::new();
    let mut newest: Option<(u64, String)> = None;
    for found in found {
        if !found.status.is_empty() && found.status != "READY" {
            continue;
        }
        let Ok(number) = found.version.parse::<u64>() else { continue };
        // MLflow versions are immutable: where they live says it all.
        let fingerprint = fingerprint([format!("{}|{}", found.source, found.run_id)]);
        if newest.as_ref().is_none_or(|(n, _)| number > *n) {
            newest = Some((number, found.source));
        }
        versions.insert(number, fingerprint);
    }
    (versions, newest.map(|(_, source)| source))
}

/// The artifact-proxy path of a version's artifacts.
pub fn artifact_path(source: &str) -> Result<String, RegistryError> {
    let rest = source
        .strip_prefix("mlflow-artifacts:")
        .ok_or_else(|| {
            RegistryError::Invalid(format!(
                "artifact location '{source}' is not served by the MLflow tracking server; start it with \
                 --serve-artifacts (the default)"
            ))
        })?
        .trim_start_matches('/');
    // mlflow-artifacts://host:port/path carries the server address first.
    let rest = if source.starts_with("mlflow-artifacts://") { rest.split_once('/').map_or("", |r| r.1) } else { rest };
    Ok(rest.trim_end_matches('/').to_owned())
}
