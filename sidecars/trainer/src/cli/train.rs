//! `sluice-trainer train`: its flags and the run that trains, gates and publishes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{ModelKind, TrainConfig};
use crate::destination::Destination;
use crate::gates::{Gates, table as gate_table};
use crate::metadata::Metadata;
use crate::pipeline::{TrainError, TrainRequest, train};
use crate::progress::Progress;
use crate::split::SplitKind;

#[derive(Args)]
pub(super) struct TrainArgs {
    /// Training data: CSV or Parquet with the feature columns and the label.
    #[arg(long, env = "SLUICE_TRAINER_DATA")]
    data: PathBuf,
    /// Model name in the repository.
    #[arg(long)]
    model: String,
    /// Repository to publish to: a directory, s3://BUCKET/PREFIX (gs://, az://), or mlflow+http://HOST:PORT.
    #[arg(long, env = "SLUICE_TRAINER_PUBLISH")]
    publish: String,
    /// Training config (YAML or TOML); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Quality gates (YAML).
    #[arg(long, env = "SLUICE_TRAINER_GATES")]
    gates: Option<PathBuf>,
    /// libonnxruntime.so for the latency measurement (default: ORT_DYLIB_PATH, then .venv).
    #[arg(long, env = "ORT_DYLIB_PATH")]
    onnxruntime_lib: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    overrides: ConfigFlags,
}

/// Every config field as a flag.
#[derive(Args, Default)]
pub struct ConfigFlags {
    /// Feature columns, comma-separated, in the served input's order.
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    #[arg(long)]
    label: Option<String>,
    #[arg(long)]
    time_column: Option<String>,
    #[arg(long)]
    min_rows: Option<usize>,
    #[arg(long, value_enum)]
    split: Option<SplitKind>,
    #[arg(long)]
    validation_fraction: Option<f64>,
    #[arg(long = "model-kind", value_enum)]
    model_kind: Option<ModelKind>,
    /// Hidden layer sizes, comma-separated (mlp).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    learning_rate: Option<f64>,
    #[arg(long)]
    weight_decay: Option<f64>,
    #[arg(long)]
    patience: Option<usize>,
    #[arg(long)]
    pos_weight: Option<f64>,
    #[arg(long)]
    threshold: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    reference_rows: Option<usize>,
    #[arg(long)]
    importance_repeats: Option<usize>,
    #[arg(long)]
    latency_samples: Option<usize>,
}

impl ConfigFlags {
    pub fn apply(self, c: &mut TrainConfig) {
        macro_rules! set {
            ($($flag:ident => $field:ident),*) => {$( if let Some(v) = self.$flag { c.$field = v; } )*};
        }
        set!(features => features, label => label, min_rows => min_rows, split => split,
            validation_fraction => validation_fraction, model_kind => model, hidden => hidden, epochs => epochs,
            batch_size => batch_size, learning_rate => learning_rate, weight_decay => weight_decay,
            patience => patience, threshold => threshold, seed => seed, reference_rows => reference_rows,
            importance_repeats => importance_repeats, latency_samples => latency_samples);
        if let Some(t) = self.time_column {
            c.time_column = (!t.is_empty()).then_some(t);
        }
        if self.pos_weight.is_some() {
            c.pos_weight = self.pos_weight;
        }
    }
}

pub(super) fn train_command(args: TrainArgs) -> ExitCode {
    let fail = |why: String| {
        eprintln!("error: {why}");
        ExitCode::FAILURE
    };
    let mut config = match &args.config {
        Some(path) => match TrainConfig::from_file(path) {
            Ok(c) => c,
            Err(why) => return fail(why),
        },
        None => TrainConfig::default(),
    };
    args.overrides.apply(&mut config);
    let gates = match &args.gates {
        Some(path) => match Gates::from_file(path) {
            Ok(g) => g,
            Err(why) => return fail(why),
        },
        None => Gates::default(),
    };
    let dest = match Destination::parse(&args.publish) {
        Ok(d) => d,
        Err(why) => return fail(why),
    };
    let request = TrainRequest {
        data: args.data,
        model: args.model,
        config,
        gates,
        onnxruntime_lib: args.onnxruntime_lib,
        trigger: None,
    };
    let mut progress = Progress::new(args.json);
    match train(&request, &dest, &mut progress) {
        Ok(metadata) => {
            if args.json {
                println!("{}", serde_json::json!({"published": true, "metadata": metadata}));
            } else {
                print_summary(&metadata);
                println!(
                    "published {} version {} to {} (status staged)",
                    metadata.model,
                    metadata.version,
                    dest.describe()
                );
            }
            ExitCode::SUCCESS
        }
        Err(TrainError::GatesFailed { results, metadata }) => {
            if args.json {
                println!("{}", serde_json::json!({"published": false, "gates": results, "metadata": metadata}));
            }
            eprintln!("{}", gate_table(&results));
            eprintln!("error: quality gates failed; nothing was published");
            ExitCode::from(2)
        }
        Err(why) => fail(why.to_string()),
    }
}

fn print_summary(m: &Metadata) {
    let metrics: Vec<String> = m.metrics.iter().map(|(k, v)| format!("  {k:<30} {v:.4}")).collect();
    println!(
        "validation metrics ({} rows, {} frauds):\n{}",
        m.data.validation_rows,
        m.data.validation_positives,
        metrics.join("\n")
    );
    if !m.gates.is_empty() {
        println!("{}", gate_table(&m.gates));
    }
}
