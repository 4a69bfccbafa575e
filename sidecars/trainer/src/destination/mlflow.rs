//! The MLflow Model Registry through its REST API: a version is a run (the
//! training config as params, the metrics, the artifacts uploaded through the
//! tracking server's artifact proxy under `model/`) registered as the next
//! version of the registered model. MLflow deprecated stages for aliases and
//! tags, so the lifecycle lives there: a `status` tag on every version, the
//! `canary` alias on the canary, `champion` on production. The server's
//! MLflow source serves `models:/NAME@champion` (or `@canary`) unchanged.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::metadata::{self, Metadata, Status};

use super::{MODEL_TOML, MODEL_TOML_FILE, upload_order};

pub const CANARY_ALIAS: &str = "canary";
pub const PRODUCTION_ALIAS: &str = "champion";
pub const STATUS_TAG: &str = "status";
/// Where a version's files sit within its run's artifacts.
const ARTIFACT_DIR: &str = "model";

pub struct MlflowRepo {
    base: String,
    client: reqwest::Client,
}

/// MLflow's answer to a call that failed, kept whole for the error message.
struct Refused {
    status: u16,
    body: String,
}

impl MlflowRepo {
    pub fn new(base: &str) -> Result<Self, String> {
        let url = url_ok(base)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(MlflowRepo { base: url, client })
    }

    pub fn describe(&self) -> String {
        format!("mlflow+{}", self.base)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        query: &[(&str, &str)],
    ) -> Result<Value, Result<Refused, String>> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let mut request = self.client.request(method, &url).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| Err(format!("MLflow at {}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Err(format!("MLflow {path}: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(Ok(Refused { status, body: text }));
        }
        if text.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(&text).map_err(|e| Err(format!("MLflow {path}: bad response: {e}")))
    }

    /// A call whose every refusal is an error.
    async fn must(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        query: &[(&str, &str)],
    ) -> Result<Value, String> {
        self.call(method, path, body, query).await.map_err(|e| match e {
            Ok(refused) => format!("MLflow {path} answered {}: {}", refused.status, refused.body.trim()),
            Err(why) => why,
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.must(reqwest::Method::POST, path, Some(body), &[]).await
    }

    async fn ensure_registered_model(&self, model: &str) -> Result<(), String> {
        match self.call(reqwest::Method::POST, "registered-models/create", Some(json!({"name": model})), &[]).await {
            Ok(_) => Ok(()),
            Err(Ok(refused)) if refused.body.contains("RESOURCE_ALREADY_EXISTS") => Ok(()),
            Err(Ok(refused)) => {
                Err(format!("MLflow registered-models/create answered {}: {}", refused.status, refused.body))
            }
            Err(Err(why)) => Err(why),
        }
    }

    async fn experiment_id(&self, model: &str) -> Result<String, String> {
        let name = format!("sluice-trainer/{model}");
        match self.call(reqwest::Method::GET, "experiments/get-by-name", None, &[("experiment_name", &name)]).await {
            Ok(found) => return str_field(&found["experiment"]["experiment_id"], "experiment_id"),
            Err(Ok(refused)) if refused.body.contains("RESOURCE_DOES_NOT_EXIST") => {}
            Err(Ok(refused)) => {
                return Err(format!("MLflow experiments/get-by-name answered {}: {}", refused.status, refused.body));
            }
            Err(Err(why)) => return Err(why),
        }
        let created = self.post("experiments/create", json!({"name": name})).await?;
        str_field(&created["experiment_id"], "experiment_id")
    }

    /// Every version of `model`: (number, source, status tag).
    async fn model_versions(&self, model: &str) -> Result<Vec<(u64, String, Option<String>)>, String> {
        let filter = format!("name='{}'", model.replace('\'', "\\'"));
        let found = self
            .must(reqwest::Method::GET, "model-versions/search", None, &[("filter", &filter), ("max_results", "10000")])
            .await?;
        let mut versions = Vec::new();
        for v in found["model_versions"].as_array().into_iter().flatten() {
            let Some(number) = v["version"].as_str().and_then(|s| s.parse::<u64>().ok()) else { continue };
            let status = v["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["key"] == STATUS_TAG)
                .and_then(|t| t["value"].as_str())
                .map(str::to_string);
            versions.push((number, v["source"].as_str().unwrap_or_default().to_string(), status));
        }
        versions.sort_by_key(|(n, _, _)| *n);
        Ok(versions)
    }

    fn artifact_url(&self, source: &str, file: &str) -> Result<String, String> {
        let path = sluice_remote_sources::MlflowRegistry::artifact_path(source).map_err(|e| e.to_string())?;
        Ok(format!("{}/api/2.0/mlflow-artifacts/artifacts/{path}/{file}", self.base))
    }

    pub async fn versions(&self, model: &str) -> Result<Vec<(u64, Option<Metadata>)>, String> {
        let mut out = Vec::new();
        for (number, source, status) in self.model_versions(model).await? {
            let url = self.artifact_url(&source, metadata::FILE)?;
            let response = self.client.get(&url).send().await.map_err(|e| format!("MLflow at {}: {e}", self.base))?;
            let meta = if response.status().is_success() {
                let text = response.text().await.map_err(|e| e.to_string())?;
                Metadata::parse(&text, &url).ok().map(|mut m| {
                    // MLflow's tag is the lifecycle's truth; the artifact says how the version started.
                    if let Some(s) = status.as_deref().and_then(parse_status) {
                        m.status = s;
                    }
                    m.version = number;
                    m
                })
            } else {
                None
            };
            out.push((number, meta));
        }
        Ok(out)
    }

    pub async fn read_file(&self, model: &str, version: u64, file: &str) -> Result<Vec<u8>, String> {
        let found = self
            .must(
                reqwest::Method::GET,
                "model-versions/get",
                None,
                &[("name", model), ("version", &version.to_string())],
            )
            .await?;
        let source = str_field(&found["model_version"]["source"], "source")?;
        let url = self.artifact_url(&source, file)?;
        let response = self.client.get(&url).send().await.map_err(|e| format!("MLflow at {}: {e}", self.base))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
    }

    async fn upload(&self, url: &str, bytes: Vec<u8>) -> Result<(), String> {
        let response =
            self.client.put(url).body(bytes).send().await.map_err(|e| format!("MLflow at {}: {e}", self.base))?;
        if !response.status().is_success() {
            return Err(format!("MLflow artifact upload {url} answered {}", response.status()));
        }
        Ok(())
    }

    pub async fn publish(&self, model: &str, staged: &Path, metadata: &mut Metadata) -> Result<u64, String> {
        self.ensure_registered_model(model).await?;
        let experiment_id = self.experiment_id(model).await?;
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let run = self
            .post(
                "runs/create",
                json!({"experiment_id": experiment_id, "start_time": now_ms, "run_name": format!("{model}-training"),
                       "tags": [{"key": "sluice.model", "value": model}]}),
            )
            .await?;
        let run_id = str_field(&run["run"]["info"]["run_id"], "run_id")?;
        let artifact_uri = str_field(&run["run"]["info"]["artifact_uri"], "artifact_uri")?;
        self.post("runs/log-batch", log_batch(&run_id, metadata, now_ms)).await?;

        let source = format!("{artifact_uri}/{ARTIFACT_DIR}");
        std::fs::write(staged.join(MODEL_TOML_FILE), MODEL_TOML).map_err(|e| e.to_string())?;
        // MLflow numbers versions itself, one past the highest: record that number, check it after.
        let expected = self.model_versions(model).await?.last().map_or(1, |(n, _, _)| n + 1);
        metadata.version = expected;
        std::fs::write(staged.join(metadata::FILE), metadata.to_json()).map_err(|e| e.to_string())?;
        for file in upload_order(staged)? {
            let bytes = std::fs::read(staged.join(&file)).map_err(|e| format!("cannot read {file}: {e}"))?;
            self.upload(&self.artifact_url(&source, &file)?, bytes).await?;
        }
        let created = self
            .post(
                "model-versions/create",
                json!({"name": model, "source": source, "run_id": run_id,
                       "tags": [{"key": STATUS_TAG, "value": Status::Staged.to_string()}],
                       "description": format!("trained by sluice-trainer from {} ({} rows)", metadata.data.file, metadata.data.rows)}),
            )
            .await?;
        let version = str_field(&created["model_version"]["version"], "version")?
            .parse::<u64>()
            .map_err(|e| format!("MLflow gave a version that is not a number: {e}"))?;
        if version != expected {
            metadata.version = version;
            self.upload(&self.artifact_url(&source, metadata::FILE)?, metadata.to_json().into_bytes()).await?;
        }
        self.post("runs/update", json!({"run_id": run_id, "status": "FINISHED", "end_time": now_ms})).await?;
        Ok(version)
    }

    async fn alias_target(&self, model: &str, alias: &str) -> Result<Option<u64>, String> {
        match self
            .call(reqwest::Method::GET, "registered-models/alias", None, &[("name", model), ("alias", alias)])
            .await
        {
            Ok(found) => Ok(found["model_version"]["version"].as_str().and_then(|v| v.parse().ok())),
            // MLflow 3 answers a missing alias with 400 "... alias X not found".
            Err(Ok(refused))
                if refused.status == 404
                    || refused.body.contains("RESOURCE_DOES_NOT_EXIST")
                    || refused.body.contains("not found") =>
            {
                Ok(None)
            }
            Err(Ok(refused)) => {
                Err(format!("MLflow registered-models/alias answered {}: {}", refused.status, refused.body))
            }
            Err(Err(why)) => Err(why),
        }
    }

    /// The status tag, then the aliases: setting an alias moves it
    /// atomically, so the served version never goes missing.
    pub async fn set_status(&self, model: &str, version: u64, to: Status) -> Result<(), String> {
        let v = version.to_string();
        self.post(
            "model-versions/set-tag",
            json!({"name": model, "version": v, "key": STATUS_TAG, "value": to.to_string()}),
        )
        .await?;
        let set = |alias: &'static str| json!({"name": model, "alias": alias, "version": v});
        match to {
            Status::Canary => {
                self.post("registered-models/alias", set(CANARY_ALIAS)).await?;
            }
            Status::Production => {
                self.post("registered-models/alias", set(PRODUCTION_ALIAS)).await?;
            }
            Status::Staged | Status::Archived => {}
        }
        // Aliases this version no longer holds (a promoted canary, an archived one).
        for (alias, keeps) in [(CANARY_ALIAS, Status::Canary), (PRODUCTION_ALIAS, Status::Production)] {
            if to != keeps && self.alias_target(model, alias).await? == Some(version) {
                self.must(
                    reqwest::Method::DELETE,
                    "registered-models/alias",
                    Some(json!({"name": model, "alias": alias})),
                    &[],
                )
                .await?;
            }
        }
        Ok(())
    }
}

fn url_ok(base: &str) -> Result<String, String> {
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!("invalid MLflow destination 'mlflow+{base}': expected mlflow+http(s)://HOST:PORT"));
    }
    Ok(base.trim_end_matches('/').to_string())
}

fn str_field(value: &Value, name: &str) -> Result<String, String> {
    value.as_str().map(str::to_string).ok_or_else(|| format!("MLflow answered without {name}"))
}

fn parse_status(text: &str) -> Option<Status> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

/// The run's record: the training config as params, the metrics, lineage tags.
fn log_batch(run_id: &str, metadata: &Metadata, now_ms: i64) -> Value {
    let config = serde_json::to_value(&metadata.training_config).unwrap_or_default();
    let params: Vec<Value> = config
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!({"key": k, "value": text.chars().take(6000).collect::<String>()})
        })
        .collect();
    let metrics: Vec<Value> = metadata
        .metrics
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| json!({"key": k, "value": v, "timestamp": now_ms, "step": 0}))
        .collect();
    let mut tags = vec![
        json!({"key": "sluice.data.sha256", "value": metadata.data.sha256}),
        json!({"key": "sluice.data.rows", "value": metadata.data.rows.to_string()}),
    ];
    if let Some(commit) = &metadata.git_commit {
        tags.push(json!({"key": "mlflow.source.git.commit", "value": commit}));
    }
    json!({"run_id": run_id, "params": params, "metrics": metrics, "tags": tags})
}
