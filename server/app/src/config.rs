//! Command line and environment configuration (`SLUICE_*`), parsed once into
//! one `Config` passed to `App::build`.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::seconds_arg::{parse_positive_seconds, parse_seconds};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "An Open Inference Protocol v2 server (REST + gRPC) for ONNX Runtime and candle models",
    long_about = "sluice serves versioned models from a model repository over the Open Inference \
                  Protocol v2 (KServe / Triton compatible): REST on --http-port, gRPC on --grpc-port.\n\n\
                  Every flag can also be set with the environment variable shown next to it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a model repository (or one KServe model directory).
    Serve(Box<Config>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelControlMode {
    None,
    Poll,
    Explicit,
}

impl From<ModelControlMode> for sluice_core::ControlMode {
    fn from(mode: ModelControlMode) -> Self {
        match mode {
            ModelControlMode::None => sluice_core::ControlMode::None,
            ModelControlMode::Poll => sluice_core::ControlMode::Poll,
            ModelControlMode::Explicit => sluice_core::ControlMode::Explicit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the server needs to start.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Model repository: a directory (one directory per model, each with model.toml and numbered version
    /// directories), an object-store URI (s3://bucket/prefix, gs://, az://) or an MLflow Model Registry
    /// (mlflow+http://host:5000, with --mlflow-model).
    #[arg(
        long,
        alias = "model-store",
        env = "SLUICE_MODEL_REPOSITORY",
        value_name = "DIR|URI",
        required_unless_present_any = ["model_dir", "model_path"],
        conflicts_with = "model_dir",
        help_heading = "Models"
    )]
    pub model_repository: Option<String>,

    /// Serve the single model in this directory (KServe's /mnt/models); needs --model-name.
    #[arg(
        long,
        alias = "model_dir",
        env = "SLUICE_MODEL_DIR",
        value_name = "DIR",
        requires = "model_name",
        help_heading = "Models"
    )]
    pub model_dir: Option<PathBuf>,

    /// Models for deployments configured the KServe / TF Serving way (env MODEL_PATH): a repository (a
    /// directory of model directories) or one model's directory, served under --model-name (default: the
    /// directory's name). --model-repository and --model-dir win over it.
    #[arg(long, env = "MODEL_PATH", value_name = "DIR", help_heading = "Models")]
    pub model_path: Option<PathBuf>,

    /// max_batch_size of models whose model.toml sets none (env MAX_BATCH_SIZE); applies only to models whose
    /// tensors have a dynamic first dimension.
    #[arg(long, env = "MAX_BATCH_SIZE", value_name = "N", help_heading = "Models")]
    pub default_max_batch_size: Option<usize>,

    /// Instances of models whose model.toml sets no instance count (env WORKERS).
    #[arg(long, env = "WORKERS", value_name = "N", help_heading = "Models")]
    pub default_instances: Option<usize>,

    /// Share of requests whose inputs and outputs are kept for drift detection, 0..1 (0: off); model.toml's
    /// [sampling] rate overrides it per model.
    #[arg(long, env = "SLUICE_SAMPLE_RATE", default_value_t = 0.0, value_parser = parse_rate, help_heading = "Models")]
    pub sample_rate: f64,

    /// Sampled rows kept per model version (oldest dropped first); [sampling] buffer_rows overrides it.
    #[arg(long, env = "SLUICE_SAMPLE_BUFFER_ROWS", default_value_t = sluice_core::defaults::SAMPLE_BUFFER_ROWS, help_heading = "Models")]
    pub sample_buffer_rows: usize,

    /// Name to serve the --model-dir model under.
    #[arg(long, alias = "model_name", env = "SLUICE_MODEL_NAME", value_name = "NAME", help_heading = "Models")]
    pub model_name: Option<String>,

    /// none: load everything at start-up, then ignore changes; poll: also apply the repository's changes every
    /// --repository-poll-secs; explicit: load what --load-model names, then load/unload through the API.
    #[arg(long, env = "SLUICE_MODEL_CONTROL_MODE", value_enum, default_value = "none", help_heading = "Models")]
    pub model_control_mode: ModelControlMode,

    /// Seconds between repository polls (--model-control-mode poll).
    #[arg(long, env = "SLUICE_REPOSITORY_POLL_SECS", default_value_t = 15.0, value_parser = parse_positive_seconds,
          help_heading = "Models")]
    pub repository_poll_secs: f64,

    /// Model to load at start-up in explicit mode (repeatable, or comma-separated in the variable).
    #[arg(long, env = "SLUICE_LOAD_MODEL", value_delimiter = ',', value_name = "NAME", help_heading = "Models")]
    pub load_model: Vec<String>,

    /// Serve exactly this version of a model, whatever model.toml's version policy says (repeatable, or
    /// comma-separated in the variable): how a Deployment or an Argo Rollout pins the version its pods serve, so
    /// a new version is a new pod template. A repository load request's own policy replaces it.
    #[arg(
        long,
        env = "SLUICE_MODEL_VERSIONS",
        value_delimiter = ',',
        value_name = "NAME=VERSION",
        value_parser = parse_pinned_version,
        help_heading = "Models"
    )]
    pub model_version: Vec<(String, u64)>,

    /// MLflow registered model to serve: models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME (latest);
    /// prefix SERVED= to serve it under another name (repeatable, or comma-separated in the variable).
    #[arg(
        long,
        env = "SLUICE_MLFLOW_MODELS",
        value_delimiter = ',',
        value_name = "[SERVED=]models:/..",
        help_heading = "Models"
    )]
    pub mlflow_model: Vec<String>,

    /// Local cache for versions downloaded from object storage or MLflow.
    #[arg(long, env = "SLUICE_MODEL_CACHE_DIR", value_name = "DIR", help_heading = "Models")]
    pub model_cache_dir: Option<PathBuf>,

    /// Bearer token the repository API (index, load, unload) requires; unset leaves it open.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true, help_heading = "Security")]
    pub admin_token: Option<String>,

    /// The admin token from a file instead (a mounted Secret), read once at start-up.
    #[arg(
        long,
        env = "SLUICE_ADMIN_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "admin_token",
        help_heading = "Security"
    )]
    pub admin_token_file: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, env = "SLUICE_HOST", default_value = "0.0.0.0", help_heading = "Network")]
    pub host: IpAddr,

    /// REST port.
    #[arg(long, alias = "http_port", env = "SLUICE_HTTP_PORT", default_value_t = 8080, help_heading = "Network")]
    pub http_port: u16,

    /// gRPC port.
    #[arg(long, alias = "grpc_port", env = "SLUICE_GRPC_PORT", default_value_t = 8081, help_heading = "Network")]
    pub grpc_port: u16,

    /// After SIGTERM: seconds sluice reports not-ready while still serving, so Kubernetes takes the pod out of its
    /// endpoints before the listeners close (the pod's terminationGracePeriodSeconds must cover delay + drain).
    #[arg(long, env = "SLUICE_SHUTDOWN_DELAY_SECS", default_value_t = 5.0, value_parser = parse_seconds,
          help_heading = "Network")]
    pub shutdown_delay_secs: f64,

    /// Then: seconds in-flight requests get to finish once the listeners close; past it they are abandoned.
    #[arg(long, env = "SLUICE_SHUTDOWN_DRAIN_SECS", default_value_t = 30.0, value_parser = parse_seconds,
          help_heading = "Network")]
    pub shutdown_drain_secs: f64,

    /// Largest accepted request body (REST) or message (gRPC), in bytes.
    #[arg(long, env = "SLUICE_MAX_REQUEST_BYTES", default_value_t = 64 << 20, help_heading = "Limits")]
    pub max_request_bytes: usize,

    /// Deepest nesting of arrays and objects accepted in a JSON request body.
    #[arg(long, env = "SLUICE_MAX_JSON_DEPTH", default_value_t = 100, help_heading = "Limits")]
    pub max_json_depth: usize,

    /// Requests one gRPC ModelStreamInfer stream may have in flight; beyond it the stream is read no further
    /// until some are answered.
    #[arg(long, env = "SLUICE_MAX_STREAM_REQUESTS", default_value_t = 1024, help_heading = "Limits")]
    pub max_stream_requests: usize,

    #[command(flatten)]
    pub connections: crate::connections::args::ConnectionArgs,

    /// Largest accepted number of elements in one input tensor.
    #[arg(long, env = "SLUICE_MAX_TENSOR_ELEMENTS", default_value_t = sluice_core::defaults::MAX_TENSOR_ELEMENTS,
          help_heading = "Limits")]
    pub max_tensor_elements: usize,

    /// libonnxruntime.so to load (default: ORT_DYLIB_PATH, then the one `make setup` installed in .venv).
    #[arg(long, env = "SLUICE_ONNXRUNTIME_LIB", value_name = "PATH", help_heading = "Backends")]
    pub onnxruntime_lib: Option<PathBuf>,

    /// Device memory each GPU may hold for loaded model versions (bytes, or 8Gi, 512Mi, ...): a load that would
    /// exceed it is refused and the version already serving keeps serving. What a version takes is measured with
    /// the CUDA driver around its load (model_gpu_memory_bytes). Default: no limit.
    #[arg(long, env = "SLUICE_GPU_MEMORY_BUDGET", value_name = "SIZE", value_parser = crate::bytes_arg::parse_bytes,
          help_heading = "Backends")]
    pub gpu_memory_budget: Option<u64>,

    /// ONNX Runtime intra-op threads per model instance, unless model.toml's [onnx] says otherwise.
    #[arg(long, env = "SLUICE_ONNX_INTRA_OP_THREADS", default_value_t = 1, help_heading = "Backends")]
    pub onnx_intra_op_threads: usize,

    /// Threads serving connections and running small models inline (default: the CPUs this process may use:
    /// the container's CPU limit (cgroup quota) or CPU affinity, whichever is lower, at least 1).
    #[arg(long, env = "SLUICE_WORKER_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..),
          help_heading = "Limits")]
    pub worker_threads: Option<u16>,

    /// Rollout role that labels the metrics (Argo Rollouts: stable or canary).
    #[arg(long, env = "SLUICE_ROLE", default_value = "stable", help_heading = "Metrics")]
    pub role: String,

    /// Kubernetes downward-API labels file to take the role from, watched for changes (e.g. /etc/podinfo/labels).
    #[arg(long, env = "SLUICE_ROLE_LABELS_FILE", value_name = "PATH", help_heading = "Metrics")]
    pub role_labels_file: Option<PathBuf>,

    /// The label in --role-labels-file that holds the role.
    #[arg(long, env = "SLUICE_ROLE_LABEL", default_value = "role", help_heading = "Metrics")]
    pub role_label: String,

    /// Skip request and batch metric observations; only for measuring what the metrics cost.
    #[arg(long, env = "SLUICE_DISABLE_METRICS", help_heading = "Metrics")]
    pub disable_metrics: bool,

    /// Also serve /metrics on this port of its own (it is always on the REST port).
    #[arg(long, env = "SLUICE_METRICS_PORT", help_heading = "Metrics")]
    pub metrics_port: Option<u16>,

    /// Log format: text for people, json for Kubernetes log pipelines.
    #[arg(long, env = "SLUICE_LOG_FORMAT", value_enum, default_value = "text", help_heading = "Logging")]
    pub log_format: LogFormat,

    /// Log filter (tracing EnvFilter syntax), e.g. info or sluice=debug.
    #[arg(long, env = "SLUICE_LOG_LEVEL", default_value = "info", help_heading = "Logging")]
    pub log_level: String,
}

impl Config {
    /// The flags' defaults (the `#[arg]` attributes above are the one place
    /// they are written; `SLUICE_*` variables in the environment apply, as
    /// on the command line), serving `repository` on ephemeral loopback
    /// ports with no shutdown delay: for tests and tools.
    pub fn for_repository(repository: impl AsRef<std::path::Path>) -> Self {
        #[derive(Parser)]
        struct ServeFlags {
            #[command(flatten)]
            config: Config,
        }
        let args = [OsStr::new("sluice"), OsStr::new("--model-repository"), repository.as_ref().as_os_str()];
        let mut config = ServeFlags::try_parse_from(args).expect("the flags' defaults parse").config;
        config.host = IpAddr::from([127, 0, 0, 1]);
        config.http_port = 0;
        config.grpc_port = 0;
        config.shutdown_delay_secs = 0.0;
        config
    }
}

fn parse_pinned_version(text: &str) -> Result<(String, u64), String> {
    let (name, version) = text.split_once('=').ok_or_else(|| format!("'{text}' is not NAME=VERSION"))?;
    let version = version.parse().ok().filter(|&v| v > 0).ok_or_else(|| format!("'{version}' is not a version"))?;
    if name.is_empty() {
        return Err(format!("'{text}' names no model"));
    }
    Ok((name.to_owned(), version))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if (0.0..=1.0).contains(&rate) { Ok(rate) } else { Err(format!("{rate} is not between 0 and 1")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn pinned_versions_parse_or_say_why_not() {
        assert_eq!(parse_pinned_version("fraud=3"), Ok(("fraud".into(), 3)));
        assert!(parse_pinned_version("fraud").expect_err("refused").contains("NAME=VERSION"));
        assert!(parse_pinned_version("fraud=latest").expect_err("refused").contains("not a version"));
        assert!(parse_pinned_version("fraud=0").expect_err("refused").contains("not a version"));
        assert!(parse_pinned_version("=3").expect_err("refused").contains("names no model"));
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_configs_take_the_flags_defaults() {
        let config = Config::for_repository("models");
        assert_eq!(config.max_tensor_elements, sluice_core::defaults::MAX_TENSOR_ELEMENTS);
        assert_eq!(config.sample_buffer_rows, sluice_core::defaults::SAMPLE_BUFFER_ROWS);
        assert_eq!(config.connections.max_connections, 10_000);
        assert_eq!(config.model_repository.as_deref(), Some("models"));
        assert_eq!((config.http_port, config.grpc_port), (0, 0));
    }

    #[test]
    fn accepts_kserve_style_flags() {
        let cli = Cli::try_parse_from([
            "sluice",
            "serve",
            "--model_name",
            "fraud",
            "--model_dir",
            "/mnt/models",
            "--http_port",
            "9000",
            "--grpc_port=9001",
        ])
        .expect("parses");
        let Command::Serve(config) = cli.command;
        assert_eq!(config.model_name.as_deref(), Some("fraud"));
        assert_eq!(config.http_port, 9000);
        assert_eq!(config.grpc_port, 9001);
    }

    #[test]
    fn needs_a_repository_or_a_model_dir() {
        assert!(Cli::try_parse_from(["sluice", "serve"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "serve", "--model_dir", "/m"]).is_err(), "model_dir needs model_name");
    }
}
