//! The MLflow Model Registry as a model source (`mlflow+http://host:5000`).
//! Each served model names a registered model and a version, an alias or
//! "latest"; versions are resolved through MLflow's REST API on every poll
//! (so moving an alias swaps the served version) and their artifacts are
//! downloaded through the tracking server's artifact proxy.

use std::path::PathBuf;
use std::time::Duration;

use sluice_core::lifecycle::registry::{BoxFuture, is_plain_name};
use sluice_core::model::repository::{CONFIG_FILE, ONNX_FILE};
use sluice_core::{ModelConfig, ModelListing, ModelRegistry, RegistryError};

use crate::cache::{VersionCache, safe_join, write_stream};
use crate::mlflow_wire::{self as wire, ArtifactList, ModelVersion, OneVersion, VersionList};

/// Which versions of a registered model to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Version(u64),
    Alias(String),
    /// Every READY version; model.toml's version policy picks among them.
    All,
}

/// One `--mlflow-model` entry: `[SERVED=]models:/NAME[/VERSION|@ALIAS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowModel {
    pub served: String,
    pub registered: String,
    pub selector: Selector,
}

impl MlflowModel {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (served, uri) = match spec.split_once('=') {
            Some((served, uri)) => (Some(served.trim()), uri.trim()),
            None => (None, spec.trim()),
        };
        let rest =
            uri.strip_prefix("models:/").ok_or_else(|| format!("'{spec}': expected models:/NAME[/VERSION|@ALIAS]"))?;
        let (registered, selector) = if let Some((name, alias)) = rest.split_once('@') {
            (name, Selector::Alias(alias.to_owned()))
        } else if let Some((name, version)) = rest.split_once('/') {
            let version =
                version.parse::<u64>().map_err(|_| format!("'{spec}': '{version}' is not a version number"))?;
            (name, Selector::Version(version))
        } else {
            (rest, Selector::All)
        };
        let served = served.unwrap_or(registered);
        let plain = |s: &str| is_plain_name(s) && !s.contains('@');
        if !plain(registered) || !plain(served) || matches!(&selector, Selector::Alias(a) if a.is_empty()) {
            return Err(format!("'{spec}': expected models:/NAME[/VERSION|@ALIAS]"));
        }
        Ok(MlflowModel { served: served.to_owned(), registered: registered.to_owned(), selector })
    }
}

pub struct MlflowRegistry {
    base: String,
    client: reqwest::Client,
    models: Vec<MlflowModel>,
    cache: VersionCache,
}

impl MlflowRegistry {
    pub fn new(base: &str, models: Vec<MlflowModel>, cache: VersionCache) -> Result<Self, String> {
        let url = url::Url::parse(base).map_err(|e| format!("invalid MLflow URI '{base}': {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("invalid MLflow URI '{base}': expected mlflow+http:// or mlflow+https://"));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(MlflowRegistry { base: base.trim_end_matches('/').to_owned(), client, models, cache })
    }

    fn model(&self, served: &str) -> Result<&MlflowModel, RegistryError> {
        self.models
            .iter()
            .find(|m| m.served == served)
            .ok_or_else(|| RegistryError::NotFound(format!("no --mlflow-model serves '{served}'")))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, RegistryError> {
        let url = format!("{}/api/2.0/{path}", self.base);
        let response = self.client.get(&url).query(query).send().await.map_err(|e| unreachable(&url, e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let why = format!("MLflow {path} answered {status}: {}", body.trim());
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                RegistryError::Unavailable(why)
            } else if status.as_u16() == 404 || body.contains("RESOURCE_DOES_NOT_EXIST") || body.contains("not found") {
                RegistryError::NotFound(why)
            } else {
                RegistryError::Invalid(why)
            });
        }
        response.json().await.map_err(|e| RegistryError::Unavailable(format!("MLflow {path}: bad response: {e}")))
    }

    /// One registered-model lookup: any answer but a server error (a 404
    /// included) means MLflow is up again.
    async fn probe_now(&self) -> Result<(), RegistryError> {
        let Some(model) = self.models.first() else { return Ok(()) };
        match self.get::<serde_json::Value>("mlflow/registered-models/get", &[("name", &model.registered)]).await {
            Err(e @ RegistryError::Unavailable(_)) => Err(e),
            Ok(_) | Err(RegistryError::NotFound(_) | RegistryError::Invalid(_) | RegistryError::Changed(_)) => Ok(()),
        }
    }

    async fn versions(&self, model: &MlflowModel) -> Result<Vec<ModelVersion>, RegistryError> {
        let name = model.registered.as_str();
        Ok(match &model.selector {
            Selector::Version(v) => {
                let v = v.to_string();
                vec![
                    self.get::<OneVersion>("mlflow/model-versions/get", &[("name", name), ("version", &v)])
                        .await?
                        .model_version,
                ]
            }
            Selector::Alias(alias) => {
                vec![
                    self.get::<OneVersion>("mlflow/registered-models/alias", &[("name", name), ("alias", alias)])
                        .await?
                        .model_version,
                ]
            }
            Selector::All => {
                let filter = format!("name='{}'", name.replace('\'', "\\'"));
                let list: VersionList =
                    self.get("mlflow/model-versions/search", &[("filter", &filter), ("max_results", "10000")]).await?;
                if list.model_versions.is_empty() {
                    return Err(RegistryError::NotFound(format!("MLflow has no versions of '{name}'")));
                }
                list.model_versions
            }
        })
    }

    /// The artifact-proxy path of a version's artifacts.
    pub fn artifact_path(source: &str) -> Result<String, RegistryError> {
        wire::artifact_path(source)
    }

    /// Every file under an artifact directory, recursively: (relative path, size).
    async fn list_artifacts(&self, root: &str) -> Result<Vec<(String, Option<u64>)>, RegistryError> {
        let mut files = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            let path = if dir.is_empty() { root.to_owned() } else { format!("{root}/{dir}") };
            let list: ArtifactList = self.get("mlflow-artifacts/artifacts", &[("path", &path)]).await?;
            for file in list.files {
                let relative = if dir.is_empty() { file.path.clone() } else { format!("{dir}/{}", file.path) };
                if file.is_dir {
                    pending.push(relative);
                } else {
                    files.push((relative, file.file_size));
                }
            }
        }
        Ok(files)
    }

    async fn download(&self, artifact: &str) -> Result<reqwest::Response, RegistryError> {
        let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{artifact}", self.base);
        let response = self.client.get(&url).send().await.map_err(|e| unreachable(&url, e))?;
        match response.status() {
            s if s.is_success() => Ok(response),
            s if s.is_server_error() => Err(RegistryError::Unavailable(format!("{url}: {s}"))),
            s => Err(RegistryError::NotFound(format!("{url}: {s}"))),
        }
    }

    /// model.toml from the version's artifacts; without one, an ONNX file
    /// (or an MLflow `onnx` flavor) means ONNX with defaults.
    async fn config(&self, served: &str, artifacts: &str) -> Result<ModelConfig, RegistryError> {
        let files = self.list_artifacts(artifacts).await?;
        let location = format!("{}: {served} ({artifacts})", self.base);
        if files.iter().any(|(f, _)| f == CONFIG_FILE) {
            let text = self
                .download(&format!("{artifacts}/{CONFIG_FILE}"))
                .await?
                .text()
                .await
                .map_err(|e| RegistryError::Unavailable(e.to_string()))?;
            return ModelConfig::from_toml(&text, &location).map_err(|e| RegistryError::Invalid(e.to_string()));
        }
        if files.iter().any(|(f, _)| f.ends_with(".onnx")) {
            return ModelConfig::from_toml("backend = \"onnx\"", &location)
                .map_err(|e| RegistryError::Invalid(e.to_string()));
        }
        Err(RegistryError::Invalid(format!("{location} has neither {CONFIG_FILE} nor an .onnx file")))
    }

    async fn describe_now(&self, served: &str) -> Result<ModelListing, RegistryError> {
        let model = self.model(served)?;
        let (versions, newest) = wire::ready_versions(self.versions(model).await?);
        let source =
            newest.ok_or_else(|| RegistryError::NotFound(format!("MLflow has no READY version for '{served}'")))?;
        let config = self.config(served, &Self::artifact_path(&source)?).await?;
        Ok(ModelListing { name: served.to_owned(), config, versions })
    }

    async fn fetch_now(&self, served: &str, version: u64, fingerprint: &str) -> Result<PathBuf, RegistryError> {
        let model = self.model(served)?;
        let number = version.to_string();
        let found: OneVersion =
            self.get("mlflow/model-versions/get", &[("name", model.registered.as_str()), ("version", &number)]).await?;
        let artifacts = Self::artifact_path(&found.model_version.source)?;
        self.cache
            .get_or_fill(served, version, fingerprint, |dir| async move {
                for (relative, size) in self.list_artifacts(&artifacts).await? {
                    let response = self.download(&format!("{artifacts}/{relative}")).await?;
                    let written = write_stream(&safe_join(&dir, &relative)?, response.bytes_stream()).await?;
                    if size.is_some_and(|size| size != written) {
                        return Err(RegistryError::Unavailable(format!(
                            "{relative}: downloaded {written} of {size:?} bytes"
                        )));
                    }
                }
                if !dir.join(ONNX_FILE).is_file() {
                    // An MLflow onnx flavor names its file in MLmodel; serve it as model.onnx.
                    if let Some(onnx) = find_onnx(&dir) {
                        let _ = std::fs::rename(onnx, dir.join(ONNX_FILE));
                    }
                }
                Ok(())
            })
            .await
    }
}

impl ModelRegistry for MlflowRegistry {
    fn location(&self) -> String {
        format!("mlflow+{}", self.base)
    }

    fn source(&self) -> &'static str {
        "mlflow"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(self.probe_now())
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
        Box::pin(async move { Ok(self.models.iter().map(|m| m.served.clone()).collect()) })
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

fn find_onnx(dir: &std::path::Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "onnx"))
}

fn unreachable(url: &str, e: reqwest::Error) -> RegistryError {
    RegistryError::Unavailable(format!("cannot reach MLflow at {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_uris() {
        let m = MlflowModel::parse("models:/fraud@champion").expect("alias");
        assert_eq!((m.served.as_str(), m.selector), ("fraud", Selector::Alias("champion".into())));
        let m = MlflowModel::parse("served=models:/fraud/3").expect("version");
        assert_eq!((m.served.as_str(), m.registered.as_str(), m.selector), ("served", "fraud", Selector::Version(3)));
        assert_eq!(MlflowModel::parse("models:/fraud").expect("all").selector, Selector::All);
        for bad in ["fraud", "models:/", "models:/fraud/x", "models:/fraud@", "a/b=models:/x"] {
            assert!(MlflowModel::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn artifact_paths_come_from_the_proxy_scheme() {
        assert_eq!(
            MlflowRegistry::artifact_path("mlflow-artifacts:/0/abc/artifacts/model").ok().as_deref(),
            Some("0/abc/artifacts/model")
        );
        assert_eq!(
            MlflowRegistry::artifact_path("mlflow-artifacts://host:5000/0/abc/artifacts/model/").ok().as_deref(),
            Some("0/abc/artifacts/model")
        );
        assert!(MlflowRegistry::artifact_path("s3://bucket/x").is_err());
    }
}
