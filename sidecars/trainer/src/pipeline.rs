//! One training run, start to publish: read and check the data, split, fit,
//! export, evaluate (quality, latency, size, importance), gate, publish.
//! Nothing reaches the destination unless every step and every gate passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::TrainConfig;
use crate::destination::Destination;
use crate::fit::fit;
use crate::gates::{GateResult, Gates};
use crate::importance::permutation_importance;
use crate::metadata::{
    Artifact, DataInfo, FeatureInfo, FeatureSchema, Metadata, Reference, SCHEMA_VERSION, Status, TrainingInfo, Trigger,
    git_commit, reproducible, timestamp,
};
use crate::metrics::{quality, spearman};
use crate::network::Served;
use crate::onnx_export::{self, INPUT, OUTPUT};
use crate::parquet_io::{self, OutColumn};
use crate::progress::Progress;
use crate::rng::Rng;
use crate::schema::{Dataset, SchemaSpec, validate};
use crate::split::split;
use crate::{data_file, latency, table};

pub const ONNX_FILE: &str = "model.onnx";
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const CANDLE_SPEC_FILE: &str = "model.candle.toml";
pub const REFERENCE_FILE: &str = "reference.parquet";
pub const PREDICTION_COLUMN: &str = "prediction";

pub struct TrainRequest {
    pub data: PathBuf,
    pub model: String,
    pub config: TrainConfig,
    pub gates: Gates,
    pub onnxruntime_lib: Option<PathBuf>,
    pub trigger: Option<Trigger>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Data(#[from] table::DataError),
    #[error("{0}")]
    Invalid(String),
    #[error("quality gates failed: {}", failed_names(.results))]
    GatesFailed { results: Vec<GateResult>, metadata: Box<Metadata> },
    #[error("{0}")]
    Failed(String),
}

fn failed_names(results: &[GateResult]) -> String {
    crate::gates::failed_summary(results)
}

fn failed(e: impl std::fmt::Display) -> TrainError {
    TrainError::Failed(e.to_string())
}

/// Removes the staging directory unless the version was published from it.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn train(request: &TrainRequest, dest: &Destination, progress: &mut Progress) -> Result<Metadata, TrainError> {
    let config = &request.config;
    config.check().map_err(TrainError::Invalid)?;
    let raw = data_file::read(&request.data)?;
    let spec = SchemaSpec {
        features: &config.features,
        label: &config.label,
        time_column: config.time_column.as_deref(),
        min_rows: config.min_rows,
    };
    let data = validate(&raw, &spec)?;
    drop(raw);
    let parts = split(&data, config.split, config.validation_fraction, config.seed).map_err(TrainError::Invalid)?;
    tracing::info!(
        rows = data.rows(),
        train = parts.train.rows(),
        validation = parts.validation.rows(),
        frauds = data.positives(),
        "data checked and split"
    );
    let started = Instant::now();
    let fitted = fit(config, &parts.train, &parts.validation, progress).map_err(failed)?;
    let train_seconds = started.elapsed().as_secs_f64();

    let staging = Staging(dest.staging_dir(&request.model).map_err(TrainError::Failed)?);
    let dir = staging.0.as_path();
    let (mean, std) = fitted.network.mean_std().map_err(failed)?;
    let onnx = onnx_export::export(&mean, &std, &fitted.network.export_layers().map_err(failed)?);
    std::fs::write(dir.join(ONNX_FILE), &onnx).map_err(failed)?;
    fitted.served.save(&dir.join(SAFETENSORS_FILE)).map_err(failed)?;
    std::fs::write(dir.join(CANDLE_SPEC_FILE), candle_spec(data.width(), fitted.served.layer_count()))
        .map_err(failed)?;
    let reference_rows = write_reference(dir, config, &parts.train, &fitted.served)?;
    make_readable(dir)?;

    let width = data.width();
    let scores = fitted.served.fraud_scores(&parts.validation.x, width).map_err(failed)?;
    let q = quality(&scores, &parts.validation.y, config.threshold);
    let mut metrics: BTreeMap<String, f64> = [
        ("accuracy", q.accuracy),
        ("precision", q.precision),
        ("recall", q.recall),
        ("f1", q.f1),
        ("roc_auc", q.roc_auc),
        ("pr_auc", q.pr_auc),
        ("log_loss", q.log_loss),
        ("model_size_mb", onnx.len() as f64 / 1e6),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if config.latency_samples > 0 && !reproducible() {
        let measured = latency::measure(
            dir,
            &parts.validation.x,
            width,
            config.latency_samples,
            request.onnxruntime_lib.as_deref(),
        )
        .map_err(TrainError::Failed)?;
        metrics.insert("latency_p50_ms".into(), measured.p50_ms);
        metrics.insert("latency_p95_ms".into(), measured.p95_ms);
    }
    let importances = permutation_importance(&fitted.served, &parts.validation, config.importance_repeats, config.seed)
        .map_err(failed)?;
    let feature_importance: BTreeMap<String, f64> =
        data.features.iter().cloned().zip(importances.iter().copied()).collect();

    let production = dest
        .versions(&request.model)
        .map_err(TrainError::Failed)?
        .into_iter()
        .filter_map(|(_, m)| m)
        .find(|m| m.status == Status::Production);
    if let Some(baseline) = &production {
        let aligned: Option<Vec<f64>> =
            data.features.iter().map(|f| baseline.feature_importance.get(f).copied()).collect();
        if let Some(previous) = aligned {
            metrics.insert("feature_importance_stability".into(), spearman(&importances, &previous));
        }
    }
    let gate_results = request.gates.evaluate(&metrics, production.as_ref().map(|m| &m.metrics));

    let mut artifacts = BTreeMap::new();
    for file in [ONNX_FILE, SAFETENSORS_FILE, CANDLE_SPEC_FILE, REFERENCE_FILE] {
        let sha256 = sluice_core::model::repository::sha256_file(&dir.join(file)).map_err(TrainError::Failed)?;
        artifacts.insert(file.to_string(), Artifact { sha256 });
    }
    let created_at = timestamp();
    let mut metadata = Metadata {
        schema_version: SCHEMA_VERSION,
        model: request.model.clone(),
        version: 0,
        created_at: created_at.clone(),
        git_commit: git_commit(),
        status: Status::Staged,
        status_history: Vec::new(),
        data: DataInfo {
            file: request.data.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            sha256: sluice_core::model::repository::sha256_file(&request.data).map_err(TrainError::Failed)?,
            rows: data.rows(),
            positives: data.positives(),
            train_rows: parts.train.rows(),
            validation_rows: parts.validation.rows(),
            validation_positives: parts.validation.positives(),
        },
        training_config: config.clone(),
        training: TrainingInfo {
            best_epoch: fitted.best_epoch,
            epochs_run: fitted.epochs_run,
            pos_weight: fitted.pos_weight,
            train_seconds: (!reproducible()).then_some(train_seconds),
        },
        trigger: request.trigger.clone(),
        metrics,
        gates: gate_results.clone(),
        feature_schema: FeatureSchema {
            input: INPUT.into(),
            output: OUTPUT.into(),
            features: data
                .features
                .iter()
                .zip(mean.iter().zip(&std))
                .map(|(name, (m, s))| FeatureInfo {
                    name: name.clone(),
                    dtype: "FP32".into(),
                    mean: f64::from(*m),
                    std: f64::from(*s),
                })
                .collect(),
        },
        feature_importance,
        reference: Reference {
            file: REFERENCE_FILE.into(),
            rows: reference_rows,
            label_column: config.label.clone(),
            prediction_column: PREDICTION_COLUMN.into(),
        },
        artifacts,
    };
    metadata.set_status(Status::Staged, &created_at);
    if gate_results.iter().any(|r| !r.passed) {
        return Err(TrainError::GatesFailed { results: gate_results, metadata: Box::new(metadata) });
    }
    dest.publish(&request.model, dir, &mut metadata).map_err(TrainError::Failed)?;
    Ok(metadata)
}

/// Server and trainer may run as different users on a shared volume.
fn make_readable(dir: &Path) -> Result<(), TrainError> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).map_err(failed)?.flatten() {
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(failed)
}

/// The `[candle]` model.toml that serves `model.safetensors` with sluice's candle backend.
fn candle_spec(width: usize, layers: usize) -> String {
    let mut text = format!(
        "# Serve this version with sluice's candle backend: use this file as the model's model.toml.\n\
         backend = \"candle\"\nmax_batch_size = 64\n\n\
         [[inputs]]\nname = \"{INPUT}\"\ndatatype = \"FP32\"\nshape = [-1, {width}]\n\n\
         [[outputs]]\nname = \"{OUTPUT}\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n\n\
         [candle]\nscaler = {{ mean = \"{}\", std = \"{}\" }}\nlayers = [\n",
        crate::network::MEAN_TENSOR,
        crate::network::STD_TENSOR
    );
    for i in 0..layers {
        let (w, b) = crate::network::layer_names(i);
        let activation = if i + 1 < layers { "relu" } else { "softmax" };
        text.push_str(&format!("  {{ weight = \"{w}\", bias = \"{b}\", activation = \"{activation}\" }},\n"));
    }
    text.push_str("]\n");
    text
}

/// A seeded sample of the training inputs, their labels and the model's
/// predictions: what the drift detector compares live traffic with.
fn write_reference(dir: &Path, config: &TrainConfig, train: &Dataset, model: &Served) -> Result<usize, TrainError> {
    let mut rows: Vec<usize> = (0..train.rows()).collect();
    Rng::new(config.seed ^ 0x5EED).shuffle(&mut rows);
    rows.truncate(config.reference_rows);
    rows.sort_unstable();
    let sample = train.subset(&rows);
    let predictions = model.fraud_scores(&sample.x, sample.width()).map_err(failed)?;
    let mut columns: Vec<OutColumn> = sample
        .features
        .iter()
        .enumerate()
        .map(|(j, name)| OutColumn::Float(name, sample.x.iter().skip(j).step_by(sample.width()).copied().collect()))
        .collect();
    columns.push(OutColumn::Int(&config.label, sample.y.iter().map(|&y| i32::from(y)).collect()));
    columns.push(OutColumn::Float(PREDICTION_COLUMN, predictions));
    parquet_io::write(&dir.join(REFERENCE_FILE), columns).map_err(TrainError::Failed)?;
    Ok(rows.len())
}
