//! The sluice server: configuration, start-up, and the two transports (REST
//! and gRPC) over one `sluice_core::Inference` (requests) and one
//! `sluice_core::Lifecycle` (loading, the repository API).

pub mod admin;
pub mod bytes_arg;
pub mod config;
pub mod connections;
pub mod grpc;
pub mod http;
pub mod logging;
pub mod role;
pub mod runtime;
pub mod seconds_arg;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_backend_candle::CandleLoader;
use sluice_backend_onnx::{OnnxLoader, find_onnxruntime};
use sluice_core::lifecycle::gpu_devices::DeviceMemoryCollector;
use sluice_core::lifecycle::gpu_memory::GpuMemory;
use sluice_core::metrics::{Metrics, Role};
use sluice_core::model::repository;
use sluice_core::{
    ControlMode, Inference, Lifecycle, Limits, Loaders, LocalRegistry, ModelDefaults, ModelRegistry, ModelTable,
};
use tokio::net::TcpListener;

pub use config::Config;

/// The two sockets the server answers on. Tests bind `127.0.0.1:0`.
pub struct Listeners {
    pub http: TcpListener,
    pub grpc: TcpListener,
    /// `--metrics-port`, when set.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let http = SocketAddr::new(config.host, config.http_port);
        let grpc = SocketAddr::new(config.host, config.grpc_port);
        let metrics = match config.metrics_port {
            Some(port) => {
                let addr = SocketAddr::new(config.host, port);
                Some(TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (metrics)"))?)
            }
            None => None,
        };
        Ok(Listeners {
            http: TcpListener::bind(http).await.with_context(|| format!("cannot listen on {http} (REST)"))?,
            grpc: TcpListener::bind(grpc).await.with_context(|| format!("cannot listen on {grpc} (gRPC)"))?,
            metrics,
        })
    }
}

/// What both transports serve: the request side and the model lifecycle,
/// which share one model table.
#[derive(Clone)]
pub struct Serving {
    pub inference: Arc<Inference>,
    pub lifecycle: Arc<Lifecycle>,
}

/// A built server: models are loading in the background, sockets are bound.
pub struct App {
    serving: Serving,
    metrics_registry: prometheus::Registry,
    connections: connections::metrics::ConnectionMetricFamilies,
    tls: Option<Arc<connections::tls::Tls>>,
    config: Config,
    listeners: Listeners,
}

impl App {
    /// Reads the repository, starts loading its models and returns at once;
    /// `ready` turns true when every model has loaded and warmed up.
    pub async fn build(mut config: Config, listeners: Listeners) -> anyhow::Result<Self> {
        config.admin_token =
            sluice_core::secret_file::token_from(config.admin_token.take(), config.admin_token_file.as_deref())
                .map_err(anyhow::Error::msg)?;
        let source = open_registry(&config)?;
        sluice_core::memory::configure_allocator();
        match sluice_kernels::cuda_device_count() {
            Ok(count) => tracing::info!(count, "CUDA devices available"),
            Err(why) => tracing::info!("running without CUDA: {why}"),
        }
        let explicit = config.onnxruntime_lib.clone().or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(Into::into));
        let onnx = OnnxLoader::new(find_onnxruntime(explicit.as_deref()), config.onnx_intra_op_threads);
        let loaders = Loaders::default().with(Arc::new(onnx)).with(Arc::new(CandleLoader));
        let limits = Limits { max_tensor_elements: config.max_tensor_elements };
        let role = Role::new(match &config.role_labels_file {
            Some(path) => role::read_role(path, &config.role_label)?,
            None => config.role.clone(),
        });
        let metrics_registry = prometheus::Registry::new();
        let metrics = Metrics::register_with(&metrics_registry, role, !config.disable_metrics)?;
        if let Some(path) = &config.role_labels_file {
            tracing::info!(role = %metrics.role.get(), file = %path.display(), "rollout role from the labels file");
            tokio::spawn(role::watch(metrics.clone(), path.clone(), config.role_label.clone()));
        }
        register_process_metrics(&metrics_registry);
        let connections = connections::metrics::ConnectionMetricFamilies::register(&metrics_registry)?;
        let tls = match (&config.connections.tls_cert, &config.connections.tls_key) {
            (Some(cert), Some(key)) => {
                let files = connections::tls::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: config.connections.tls_client_ca.clone(),
                };
                let tls = connections::tls::Tls::load(files, &metrics_registry)?;
                tokio::spawn(tls.clone().watch(Duration::from_secs_f64(config.connections.tls_reload_secs)));
                tracing::info!(
                    client_certificates = config.connections.tls_client_ca.is_some(),
                    "serving REST and gRPC over TLS"
                );
                Some(tls)
            }
            _ => None,
        };
        let mode = config.model_control_mode.into();
        let defaults = ModelDefaults {
            max_batch_size: config.default_max_batch_size,
            instance_count: config.default_instances,
            sample_rate: config.sample_rate,
            sample_buffer_rows: config.sample_buffer_rows,
        };
        let table = Arc::new(ModelTable::default());
        let inference = Arc::new(Inference::new(table.clone(), limits, metrics.clone()));
        let gpu_memory = GpuMemory::register(&metrics_registry, config.gpu_memory_budget)?;
        metrics_registry.register(Box::new(DeviceMemoryCollector::driver(gpu_memory.clone())?))?;
        let lifecycle = Arc::new(
            Lifecycle::new(table, loaders, metrics, source, mode)
                .with_model_defaults(defaults)
                .with_gpu_memory(gpu_memory),
        );
        for (name, version) in &config.model_version {
            lifecycle.pin_version(name, *version);
        }
        let loading = lifecycle.clone();
        let named = config.load_model.clone();
        let poll_every = std::time::Duration::from_secs_f64(config.repository_poll_secs.max(0.05));
        tokio::spawn(async move {
            loading.start(&named).await;
            if mode == ControlMode::Poll {
                loading.poll(poll_every).await;
            }
        });
        let serving = Serving { inference, lifecycle };
        Ok(App { serving, metrics_registry, connections, tls, config, listeners })
    }

    fn secure(&self, without_alpn: connections::Protocol) -> Option<connections::Secure> {
        self.tls.clone().map(|tls| connections::Secure { tls, without_alpn })
    }

    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.listeners.http.local_addr()
    }

    pub fn grpc_addr(&self) -> std::io::Result<SocketAddr> {
        self.listeners.grpc.local_addr()
    }

    /// Serves REST and gRPC until `shutdown` completes; then readiness turns
    /// false at once, requests are still served for `--shutdown-delay-secs`
    /// (Kubernetes removes the pod from its endpoints meanwhile), the
    /// listeners close, and in-flight requests get `--shutdown-drain-secs`.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let inference = self.serving.inference.clone();
        let delay = Duration::from_secs_f64(self.config.shutdown_delay_secs);
        tokio::spawn(async move {
            shutdown.await;
            inference.begin_draining();
            tracing::info!(delay_secs = delay.as_secs_f64(), "shutting down: not ready, still serving");
            tokio::time::sleep(delay).await;
            tracing::info!("shutting down: listeners closed, finishing in-flight requests");
            let _ = stop_tx.send(true);
        });
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        tracing::info!(
            http = %self.listeners.http.local_addr()?,
            grpc = %self.listeners.grpc.local_addr()?,
            "sluice listening"
        );
        let (rest_tls, grpc_tls) =
            (self.secure(connections::Protocol::Http1), self.secure(connections::Protocol::Http2));
        let http = http::serve(
            self.listeners.http,
            self.serving.clone(),
            self.metrics_registry.clone(),
            &self.config,
            rest_tls,
            self.connections.listener("rest"),
            wait(stop_rx.clone()),
        );
        let metrics = match self.listeners.metrics {
            Some(listener) => {
                let router = http::metrics_router(self.metrics_registry.clone(), self.serving.inference.clone());
                let stop = wait(stop_rx.clone());
                let limits = connections::ConnectionLimits::from_config(&self.config);
                let counted = self.connections.listener("metrics");
                // Plain: Prometheus scrapes this port inside the cluster.
                tokio::spawn(async move { connections::serve(listener, router, &limits, None, counted, stop).await })
            }
            None => tokio::spawn(async { Ok(()) }),
        };
        let grpc = grpc::serve(
            self.listeners.grpc,
            self.serving.clone(),
            &self.config,
            grpc_tls,
            self.connections.listener("grpc"),
            wait(stop_rx.clone()),
        );
        let servers = async {
            let (http, grpc) = tokio::join!(http, grpc);
            metrics.await.context("metrics server stopped")?.context("metrics server failed")?;
            http.context("REST server failed")?;
            grpc.context("gRPC server failed")?;
            anyhow::Ok(())
        };
        tokio::pin!(servers);
        let drain = Duration::from_secs_f64(self.config.shutdown_drain_secs);
        let mut stopping = stop_rx;
        tokio::select! {
            result = &mut servers => return result,
            _ = stopping.wait_for(|stop| *stop) => {}
        }
        match tokio::time::timeout(drain, servers).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(drain_secs = drain.as_secs_f64(), "shutdown: requests still in flight were abandoned");
                Ok(())
            }
        }
    }
}

/// CPU, resident memory and open file descriptors of this process, and its
/// async worker count (to check against the pod's CPU limit).
fn register_process_metrics(metrics_registry: &prometheus::Registry) {
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    if let Err(e) = metrics_registry.register(Box::new(collector)) {
        tracing::warn!("process metrics unavailable: {e}");
    }
    let workers =
        prometheus::IntGauge::new("sluice_runtime_workers", "Async worker threads of this process").and_then(|gauge| {
            gauge.set(i64::try_from(tokio::runtime::Handle::current().metrics().num_workers()).unwrap_or(i64::MAX));
            metrics_registry.register(Box::new(gauge))
        });
    if let Err(e) = workers {
        tracing::warn!("sluice_runtime_workers unavailable: {e}");
    }
}

/// The model source `--model-repository` (or `--model-dir`) names.
fn open_registry(config: &Config) -> anyhow::Result<Arc<dyn ModelRegistry>> {
    match (&config.model_dir, &config.model_name, &config.model_repository) {
        (Some(dir), Some(name), _) => {
            repository::read_model(name, dir)?;
            Ok(Arc::new(LocalRegistry::SingleModel { name: name.clone(), dir: dir.clone() }))
        }
        (_, _, Some(uri)) if sluice_remote_sources::is_remote(uri) => {
            sluice_remote_sources::open(uri, config.model_cache_dir.clone(), &config.mlflow_model)
                .map_err(anyhow::Error::msg)
        }
        (_, _, Some(root)) => {
            let root = std::path::PathBuf::from(root.strip_prefix("file://").unwrap_or(root));
            repository::model_names(&root)?;
            Ok(Arc::new(LocalRegistry::Repository(root)))
        }
        _ => match &config.model_path {
            Some(path) => open_model_path(path, config.model_name.as_deref()),
            None => anyhow::bail!("give --model-repository DIR|URI, or --model-dir DIR with --model-name NAME"),
        },
    }
}

/// MODEL_PATH: a repository when it holds model directories (with
/// model.toml), else one model's directory.
fn open_model_path(path: &std::path::Path, name: Option<&str>) -> anyhow::Result<Arc<dyn ModelRegistry>> {
    if !repository::model_names(path).unwrap_or_default().is_empty() {
        return Ok(Arc::new(LocalRegistry::Repository(path.to_path_buf())));
    }
    let name = match name {
        Some(name) => name.to_owned(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .with_context(|| format!("cannot name the model in {}: set --model-name", path.display()))?,
    };
    repository::read_model(&name, path)?;
    tracing::info!(model = %name, dir = %path.display(), "serving the model directory MODEL_PATH names");
    Ok(Arc::new(LocalRegistry::SingleModel { name, dir: path.to_path_buf() }))
}
