//! Remote model sources behind sluice-core's `ModelRegistry`: object storage
//! through the `object_store` crate, and the MLflow Model Registry through
//! its REST API. Both download a version into a local cache (a temporary
//! directory, verified, then renamed), so a half-downloaded or tampered
//! version is never what gets loaded.

mod cache;
mod mlflow;
pub mod mlflow_wire;
mod object_store_registry;

use std::path::PathBuf;
use std::sync::Arc;

use sluice_core::ModelRegistry;

pub use cache::{VersionCache, safe_join};
pub use mlflow::{MlflowModel, MlflowRegistry};
pub use object_store_registry::{ObjectStoreRegistry, open_store};

/// Whether `repository` names a remote source rather than a directory.
pub fn is_remote(repository: &str) -> bool {
    ["s3://", "gs://", "az://", "azure://", "abfs://", "abfss://", "mlflow+http://", "mlflow+https://"]
        .iter()
        .any(|scheme| repository.starts_with(scheme))
}

/// Opens a remote registry. `cache_dir` defaults to a directory under the
/// system temp dir; `mlflow_models` are the `--mlflow-model` specs.
pub fn open(
    repository: &str,
    cache_dir: Option<PathBuf>,
    mlflow_models: &[String],
) -> Result<Arc<dyn ModelRegistry>, String> {
    let cache = VersionCache::new(cache_dir.unwrap_or_else(|| std::env::temp_dir().join("sluice-model-cache")))?;
    if let Some(base) = repository.strip_prefix("mlflow+") {
        let models = mlflow_models.iter().map(|spec| MlflowModel::parse(spec)).collect::<Result<Vec<_>, _>>()?;
        if models.is_empty() {
            return Err("an MLflow registry needs the models to serve: --mlflow-model models:/NAME@ALIAS".into());
        }
        return Ok(Arc::new(MlflowRegistry::new(base, models, cache)?));
    }
    if !mlflow_models.is_empty() {
        return Err("--mlflow-model needs --model-repository mlflow+http://HOST:PORT".into());
    }
    Ok(Arc::new(ObjectStoreRegistry::open(repository, cache)?))
}
