//! The command line: `score` compares two data files; `watch` is the
//! long-running sidecar; `check` is one round for a Kubernetes CronJob.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::drift_metrics::DriftMetrics;
use crate::monitor::{Health, Monitor, WatchConfig};
use crate::score::{Column, DriftOptions, DriftReport, ShareComparison, dataset_drift};
use crate::server_client::ServerClient;
use crate::server_tls::ServerTlsArgs;
use crate::stats::Method;
use crate::trigger::{Target, TargetKind};
use sluice_core::secret_file::token_from;

#[derive(Parser)]
#[command(name = "sluice-drift", version, about = "Input drift against a model's training reference")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drift of CURRENT against REFERENCE (CSV or Parquet), per feature and overall.
    Score(ScoreArgs),
    /// A self-contained HTML page: each feature's reference and current histograms, score and verdict.
    Report(ReportArgs),
    /// The sidecar: follow the served version's samples, export drift scores, trigger retraining.
    Watch(Box<WatchArgs>),
    /// One round for a CronJob: print the JSON report; exit 0 no drift, 3 drift (triggered), 1 error.
    Check(Box<WatchArgs>),
}

/// Exit status of `check` when the data set drifted.
pub const EXIT_DRIFT: u8 = 3;

#[derive(Args)]
struct WatchArgs {
    /// The inference server (host:port or URL).
    #[arg(long, env = "MODEL_ENDPOINT")]
    model_endpoint: String,
    #[arg(long, env = "MODEL_NAME")]
    model: String,
    /// Bearer token for the server's samples endpoint (its --admin-token).
    #[arg(long, env = "SLUICE_DRIFT_SERVER_TOKEN", hide_env_values = true)]
    server_token: Option<String>,
    /// The server token from a file instead (a mounted Secret).
    #[arg(long, env = "SLUICE_DRIFT_SERVER_TOKEN_FILE", conflicts_with = "server_token")]
    server_token_file: Option<PathBuf>,
    /// The model input holding the feature rows.
    #[arg(long, env = "SLUICE_DRIFT_INPUT", default_value = "features")]
    input: String,
    /// The repository the server serves (a directory, s3://, gs://, az://, mlflow+http://): each
    /// served version's metadata.json names its reference.
    #[arg(long, env = "SLUICE_DRIFT_REPOSITORY")]
    repository: Option<String>,
    /// A fixed reference file instead (CSV or Parquet, columns in the input's order).
    #[arg(long, env = "SLUICE_DRIFT_REFERENCE")]
    reference: Option<PathBuf>,
    /// Nothing is judged below this many sampled rows.
    #[arg(long, env = "SLUICE_DRIFT_MIN_SAMPLES", default_value_t = 10_000)]
    min_samples: usize,
    /// Rows in the window (default: --min-samples).
    #[arg(long, env = "SLUICE_DRIFT_WINDOW")]
    window: Option<usize>,
    /// A time window too: rows served longer ago than this are dropped.
    #[arg(long, env = "SLUICE_DRIFT_WINDOW_SECS")]
    window_secs: Option<f64>,
    #[arg(long, env = "SLUICE_DRIFT_INTERVAL_SECS", default_value_t = 30.0)]
    interval_secs: f64,
    /// After a trigger, no other for this long (one drift episode, one retraining).
    #[arg(long, env = "SLUICE_DRIFT_COOLDOWN_SECS", default_value_t = 3600.0)]
    cooldown_secs: f64,
    /// Where retraining is triggered.
    #[arg(long, env = "RETRAIN_PIPELINE_URL")]
    retrain_url: Option<String>,
    #[arg(long, value_enum, env = "SLUICE_DRIFT_TRIGGER_KIND", default_value = "webhook")]
    trigger_kind: TargetKind,
    #[arg(long, env = "SLUICE_DRIFT_TRIGGER_TOKEN", hide_env_values = true)]
    trigger_token: Option<String>,
    /// The trigger token from a file instead (a mounted Secret).
    #[arg(long, env = "SLUICE_DRIFT_TRIGGER_TOKEN_FILE", conflicts_with = "trigger_token")]
    trigger_token_file: Option<PathBuf>,
    /// Kubeflow pipeline id / Argo namespace.
    #[arg(long, env = "SLUICE_DRIFT_PIPELINE_ID", alias = "argo-namespace")]
    pipeline_id: Option<String>,
    /// Kubeflow pipeline version id / Argo WorkflowTemplate name.
    #[arg(long, env = "SLUICE_DRIFT_PIPELINE_VERSION_ID", alias = "argo-template")]
    pipeline_version_id: Option<String>,
    #[arg(long, env = "SLUICE_DRIFT_TRIGGER_RETRIES", default_value_t = 3)]
    trigger_retries: u32,
    /// watch: where /metrics and /healthz listen.
    #[arg(long, env = "SLUICE_DRIFT_LISTEN", default_value = "0.0.0.0:8092")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    drift: DriftFlags,
    #[command(flatten)]
    server_tls: ServerTlsArgs,
}

impl WatchArgs {
    /// Reads the token files once, so the rest sees plain tokens.
    fn resolve_tokens(mut self) -> Result<Self, String> {
        self.server_token = token_from(self.server_token.take(), self.server_token_file.as_deref())?;
        self.trigger_token = token_from(self.trigger_token.take(), self.trigger_token_file.as_deref())?;
        Ok(self)
    }

    fn watch_config(&self) -> WatchConfig {
        let targets = self
            .retrain_url
            .iter()
            .map(|url| Target {
                kind: self.trigger_kind.clone(),
                url: url.clone(),
                token: self.trigger_token.clone(),
                pipeline: self.pipeline_id.clone(),
                pipeline_version: self.pipeline_version_id.clone(),
                retries: self.trigger_retries,
            })
            .collect();
        WatchConfig {
            model: self.model.clone(),
            input: self.input.clone(),
            repository: self.repository.clone(),
            reference_file: self.reference.clone(),
            min_samples: self.min_samples,
            window: self.window.unwrap_or(self.min_samples),
            window_span: self.window_secs.map(|s| Duration::from_secs_f64(s.max(0.0))),
            interval: Duration::from_secs_f64(self.interval_secs.max(0.05)),
            cooldown: Duration::from_secs_f64(self.cooldown_secs.max(0.0)),
            options: self.drift.options(),
            targets,
        }
    }
}

#[derive(Args)]
pub struct DriftFlags {
    /// One test for every feature (default: Evidently's choice per feature).
    #[arg(long, value_enum, env = "SLUICE_DRIFT_METHOD")]
    pub method: Option<Method>,
    /// Per-feature threshold (default: the test's own: 0.1 for distances, 0.05 for p-values).
    #[arg(long, env = "DRIFT_THRESHOLD")]
    pub threshold: Option<f64>,
    /// Share of drifted features that means the data set drifted.
    #[arg(long, env = "SLUICE_DRIFT_SHARE", default_value_t = 0.5)]
    pub drift_share: f64,
    /// gte: share >= drift-share (Evidently); gt: more than drift-share of the features.
    #[arg(long, value_enum, env = "SLUICE_DRIFT_SHARE_COMPARISON", default_value = "gte")]
    pub share_comparison: ShareComparison,
    /// Columns to compare as categories (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
}

impl DriftFlags {
    pub fn options(&self) -> DriftOptions {
        DriftOptions {
            method: self.method,
            threshold: self.threshold,
            share: self.drift_share,
            share_comparison: self.share_comparison,
            categorical: self.categorical.clone(),
        }
    }
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    score: ScoreArgs,
    /// Where to write the page.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "Input drift")]
    title: String,
}

#[derive(Args)]
struct ScoreArgs {
    #[arg(long)]
    reference: PathBuf,
    #[arg(long)]
    current: PathBuf,
    /// Columns to compare (default: every column both files have).
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Columns to leave out (a label, an id).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    #[command(flatten)]
    drift: DriftFlags,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match cli.command {
        Command::Score(args) => score(args),
        Command::Report(args) => report(args),
        Command::Watch(args) => runtime().and_then(|rt| rt.block_on(watch(*args))),
        Command::Check(args) => {
            return runtime().and_then(|rt| rt.block_on(check(*args))).unwrap_or_else(|why| {
                eprintln!("error: {why}");
                ExitCode::FAILURE
            });
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))
}

async fn watch(args: WatchArgs) -> Result<(), String> {
    let args = args.resolve_tokens()?;
    let metrics = Arc::new(DriftMetrics::new().map_err(|e| e.to_string())?);
    let health = Arc::new(Mutex::new(Health::default()));
    let server = ServerClient::new(&args.model_endpoint, args.server_token.clone(), &args.server_tls)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let router = crate::watch_server::router(metrics.clone(), health.clone());
    tokio::spawn(async move {
        if let Err(e) = crate::watch_server::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Monitor::new(args.watch_config(), server, metrics, health).run().await;
    Ok(())
}

/// One round: score what the server has sampled now, trigger on drift.
async fn check(args: WatchArgs) -> Result<ExitCode, String> {
    let args = args.resolve_tokens()?;
    let metrics = Arc::new(DriftMetrics::new().map_err(|e| e.to_string())?);
    let server = ServerClient::new(&args.model_endpoint, args.server_token.clone(), &args.server_tls)?;
    let mut config = args.watch_config();
    config.cooldown = Duration::ZERO;
    let mut monitor = Monitor::new(config, server, metrics.clone(), Arc::new(Mutex::new(Health::default())));
    monitor.tick().await?;
    let failed_triggers = metrics.triggers.with_label_values(&[&args.model, "webhook", "failure"]).get()
        + metrics.triggers.with_label_values(&[&args.model, "kubeflow", "failure"]).get()
        + metrics.triggers.with_label_values(&[&args.model, "argo", "failure"]).get();
    let report = monitor.last_report().cloned();
    let drift = report.as_ref().is_some_and(|r| r.dataset_drift);
    let out = serde_json::json!({
        "model": args.model,
        "version": monitor.version(),
        "window_samples": monitor.window_samples(),
        "min_samples": args.min_samples,
        "judged": report.is_some(),
        "report": report,
        "triggered": monitor.triggered() && failed_triggers == 0,
    });
    println!("{out}");
    if drift && failed_triggers > 0 {
        return Err("drift detected, but the retraining trigger failed".into());
    }
    Ok(if drift { ExitCode::from(EXIT_DRIFT) } else { ExitCode::SUCCESS })
}

fn report(args: ReportArgs) -> Result<(), String> {
    let (reference, current) = read_pair(&args.score)?;
    let columns = columns(&args.score, &reference, &current)?;
    let report = dataset_drift(&columns, &args.score.drift.options())?;
    let html = crate::html_report::render(&args.title, &columns, &report);
    std::fs::write(&args.out, html).map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} features, dataset drift: {})",
        args.out.display(),
        report.features.len(),
        report.dataset_drift
    );
    Ok(())
}

type Table = sluice_trainer::table::Table;

fn read_pair(args: &ScoreArgs) -> Result<(Table, Table), String> {
    let reference = sluice_trainer::data_file::read(&args.reference).map_err(|e| e.to_string())?;
    let current = sluice_trainer::data_file::read(&args.current).map_err(|e| e.to_string())?;
    Ok((reference, current))
}

fn columns<'a>(args: &'a ScoreArgs, reference: &'a Table, current: &'a Table) -> Result<Vec<Column<'a>>, String> {
    let names: Vec<&'a String> = if args.columns.is_empty() {
        reference.names.iter().filter(|n| current.column(n).is_some()).collect()
    } else {
        args.columns.iter().collect()
    };
    let mut columns = Vec::new();
    for name in names.into_iter().filter(|n| !args.exclude.contains(n)) {
        let missing = |file: &PathBuf| format!("{}: no column '{name}'", file.display());
        columns.push(Column {
            name,
            reference: reference.column(name).ok_or_else(|| missing(&args.reference))?,
            current: current.column(name).ok_or_else(|| missing(&args.current))?,
        });
    }
    Ok(columns)
}

fn score(args: ScoreArgs) -> Result<(), String> {
    let (reference, current) = read_pair(&args)?;
    let columns = columns(&args, &reference, &current)?;
    let report = dataset_drift(&columns, &args.drift.options())?;
    if args.json {
        println!("{}", serde_json::to_string(&report).map_err(|e| e.to_string())?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(report: &DriftReport) {
    println!("{:<24} {:<14} {:>12} {:>10}  drifted", "feature", "method", "score", "threshold");
    for (name, f) in &report.features {
        println!(
            "{name:<24} {:<14} {:>12.6} {:>10}  {}",
            f.method.name(),
            f.score,
            f.threshold,
            if f.drifted { "yes" } else { "no" }
        );
    }
    println!(
        "drift share {:.3} ({} of {} features): dataset drift {}",
        report.drift_share,
        report.drifted_features.len(),
        report.features.len(),
        if report.dataset_drift { "YES" } else { "no" }
    );
}
