//! The command line: synth, train, promote, versions, predict.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::TrainConfig;
use crate::destination::Destination;
use crate::gates::Gates;
use crate::lifecycle::promote;
use crate::metadata::{Metadata, Status};
use crate::synth::{Drift, SynthSpec, generate, parse_knob, write_csv};

mod train;

use train::{TrainArgs, train_command};

#[derive(Parser)]
#[command(name = "sluice-trainer", version, about = "Train, gate, publish and promote sluice model versions")]
struct Cli {
    /// Log lines as JSON (for Kubernetes).
    #[arg(long, global = true, value_enum, default_value = "text", env = "SLUICE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a synthetic data set with the fraud data's columns.
    Synth(SynthArgs),
    /// Train a model, check it against the gates, publish it as the next version (status staged).
    Train(Box<TrainArgs>),
    /// Move a version through the lifecycle: staged -> canary -> production -> archived.
    Promote(PromoteArgs),
    /// List a model's versions with their status and headline metrics.
    Versions(VersionsArgs),
    /// Serve the retrain webhook (POST /v1/retrain, GET /v1/jobs/{id}, /metrics, /healthz).
    Serve(Box<ServeArgs>),
    /// Print a published version's fraud probabilities for a data file (candle forward pass), as JSON.
    Predict(PredictArgs),
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long)]
    rows: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CSV or Parquet, by extension.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0.01)]
    fraud_rate: f64,
    /// FEATURE=STDS: shift a feature by this many of its standard deviations (repeatable).
    #[arg(long, value_parser = parse_knob)]
    shift: Vec<(String, f64)>,
    /// FEATURE=FACTOR: scale a feature's spread (repeatable).
    #[arg(long, value_parser = parse_knob)]
    scale: Vec<(String, f64)>,
    /// FEATURE=FRACTION: that fraction of the feature's values become far out of range (repeatable).
    #[arg(long, value_parser = parse_knob)]
    rare: Vec<(String, f64)>,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "SLUICE_TRAINER_LISTEN", default_value = "0.0.0.0:8090")]
    listen: std::net::SocketAddr,
    /// Repository to publish to.
    #[arg(long, env = "SLUICE_TRAINER_PUBLISH")]
    publish: String,
    /// Training data each job reads (the latest labelled data, refreshed by your pipeline).
    #[arg(long, env = "SLUICE_TRAINER_DATA")]
    data: PathBuf,
    /// Models this trainer retrains (repeatable); others are answered 404.
    #[arg(long = "model", env = "SLUICE_TRAINER_MODELS", value_delimiter = ',', required = true)]
    models: Vec<String>,
    /// Training config for every job (default: the production version's, else the defaults).
    #[arg(long, env = "SLUICE_TRAINER_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "SLUICE_TRAINER_GATES")]
    gates: Option<PathBuf>,
    /// Bearer token required on /v1/* (not on /metrics and /healthz).
    #[arg(long, env = "SLUICE_TRAINER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The token from a file instead (a mounted Secret).
    #[arg(long, env = "SLUICE_TRAINER_TOKEN_FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    #[arg(long, env = "ORT_DYLIB_PATH")]
    onnxruntime_lib: Option<PathBuf>,
}

#[derive(Args)]
struct PromoteArgs {
    /// The repository holding the model.
    #[arg(long, env = "SLUICE_TRAINER_PUBLISH")]
    registry: String,
    model: String,
    version: u64,
    #[arg(long, value_enum)]
    to: Status,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VersionsArgs {
    #[arg(long, env = "SLUICE_TRAINER_PUBLISH")]
    registry: String,
    model: String,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// A published version directory (holding model.safetensors).
    #[arg(long)]
    model_dir: PathBuf,
    #[arg(long)]
    data: PathBuf,
    /// Feature columns (default: the version's metadata.json feature schema).
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // Remote destinations and the webhook do their I/O on this runtime.
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _entered = runtime.enter();
    let result = match cli.command {
        Command::Synth(args) => synth(args),
        Command::Train(args) => return train_command(*args),
        Command::Promote(args) => promote_command(args),
        Command::Versions(args) => versions_command(args),
        Command::Predict(args) => predict_command(args),
        Command::Serve(args) => serve_command(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn synth(args: SynthArgs) -> Result<(), String> {
    let spec = SynthSpec {
        rows: args.rows,
        seed: args.seed,
        fraud_rate: args.fraud_rate,
        drift: Drift { shift: args.shift, scale: args.scale, rare: args.rare },
    };
    let table = generate(&spec)?;
    match args.out.extension().and_then(|e| e.to_str()) {
        Some("parquet") => {
            let columns = table
                .names
                .iter()
                .zip(&table.columns)
                .map(|(n, c)| crate::parquet_io::OutColumn::Float(n, c.iter().map(|&v| v as f32).collect()))
                .collect();
            crate::parquet_io::write(&args.out, columns)?
        }
        Some("csv") => write_csv(&table, &args.out)?,
        _ => return Err(format!("{}: name the output .csv or .parquet", args.out.display())),
    }
    eprintln!("wrote {} rows to {}", table.rows(), args.out.display());
    Ok(())
}

fn serve_command(args: ServeArgs) -> Result<(), String> {
    let config = args.config.as_deref().map(TrainConfig::from_file).transpose()?;
    let gates = args.gates.as_deref().map(Gates::from_file).transpose()?.unwrap_or_default();
    let webhook = crate::webhook::WebhookConfig {
        publish: args.publish,
        data: args.data,
        config,
        gates,
        models: args.models,
        token: sluice_core::secret_file::token_from(args.token, args.token_file.as_deref())?.filter(|t| !t.is_empty()),
        onnxruntime_lib: args.onnxruntime_lib,
    };
    tokio::runtime::Handle::current()
        .block_on(crate::webhook::serve(args.listen, webhook))
        .map_err(|e| format!("{e:#}"))
}

fn promote_command(args: PromoteArgs) -> Result<(), String> {
    let dest = Destination::parse(&args.registry)?;
    let changes = promote(&dest, &args.model, args.version, args.to)?;
    if args.json {
        let list: Vec<_> =
            changes.iter().map(|(v, from, to)| serde_json::json!({"version": v, "from": from, "to": to})).collect();
        println!("{}", serde_json::json!({"model": args.model, "changes": list}));
    } else {
        for (v, from, to) in changes {
            println!("{} version {v}: {from} -> {to}", args.model);
        }
    }
    Ok(())
}

fn versions_command(args: VersionsArgs) -> Result<(), String> {
    let dest = Destination::parse(&args.registry)?;
    let versions = dest.versions(&args.model)?;
    if args.json {
        let list: Vec<_> = versions
            .iter()
            .map(|(v, m)| {
                serde_json::json!({"version": v, "status": m.as_ref().map(|m| m.status), "created_at": m.as_ref().map(|m| &m.created_at),
                    "metrics": m.as_ref().map(|m| &m.metrics)})
            })
            .collect();
        println!("{}", serde_json::json!({"model": args.model, "versions": list}));
        return Ok(());
    }
    for (v, m) in versions {
        match m {
            Some(m) => println!(
                "{v:>4}  {:<10}  {}  pr_auc {:.4}  roc_auc {:.4}",
                m.status.to_string(),
                m.created_at,
                m.metrics.get("pr_auc").copied().unwrap_or(f64::NAN),
                m.metrics.get("roc_auc").copied().unwrap_or(f64::NAN)
            ),
            None => println!("{v:>4}  (no trainer metadata)"),
        }
    }
    Ok(())
}

fn predict_command(args: PredictArgs) -> Result<(), String> {
    let features = match args.features {
        Some(f) => f,
        None => {
            let path = args.model_dir.join(crate::metadata::FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Metadata::parse(&text, &path.display().to_string())?
                .feature_schema
                .features
                .into_iter()
                .map(|f| f.name)
                .collect()
        }
    };
    let table = crate::data_file::read(&args.data).map_err(|e| e.to_string())?;
    let columns: Vec<&[f64]> = features
        .iter()
        .map(|f| table.column(f).ok_or_else(|| format!("{}: no column '{f}'", args.data.display())))
        .collect::<Result<_, _>>()?;
    let x: Vec<f32> = (0..table.rows()).flat_map(|r| columns.iter().map(move |c| c[r] as f32)).collect();
    let model = crate::network::Served::load(&args.model_dir.join(crate::pipeline::SAFETENSORS_FILE))
        .map_err(|e| e.to_string())?;
    let probabilities = model.probabilities(&x, features.len()).map_err(|e| e.to_string())?;
    let rows: Vec<&[f32]> = probabilities.chunks(2).collect();
    println!("{}", serde_json::json!({"probabilities": rows}));
    Ok(())
}
