//! REST transport (axum): decode, call the core, encode. Nothing else.

pub mod compression;
mod config_json;
pub mod decode;
pub mod encode;
mod error;
mod handlers;
mod json_data;
mod json_depth;
mod repository;
mod samples;
mod v1;
mod v1_codec;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sluice_core::{Inference, Lifecycle};
use tokio::net::TcpListener;

use crate::connections::{ConnectionLimits, ConnectionMetrics, Secure};

use crate::Serving;
use crate::config::Config;

pub use error::status_of;

/// Header that carries the JSON part's length when binary data follows.
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

pub struct HttpState {
    pub inference: Arc<Inference>,
    pub lifecycle: Arc<Lifecycle>,
    pub metrics_registry: prometheus::Registry,
    pub max_request_bytes: usize,
    pub max_json_depth: usize,
    pub admin_token: Option<String>,
}

pub fn router(state: HttpState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/v2", get(handlers::server_metadata))
        .route("/v2/health/live", get(handlers::live))
        .route("/v2/health/ready", get(handlers::ready))
        .route("/v2/models/{model}", get(handlers::model_metadata))
        .route("/v2/models/{model}/versions/{version}", get(handlers::model_version_metadata))
        .route("/v2/models/{model}/config", get(handlers::model_config))
        .route("/v2/models/{model}/versions/{version}/config", get(handlers::model_version_config))
        .route("/v2/models/{model}/ready", get(handlers::model_ready))
        .route("/v2/models/{model}/versions/{version}/ready", get(handlers::model_version_ready))
        .route("/v2/models/{model}/infer", post(handlers::infer))
        .route("/v2/models/{model}/versions/{version}/infer", post(handlers::infer_version))
        .route("/v2/models/stats", get(handlers::all_statistics))
        .route("/v2/models/{model}/stats", get(handlers::model_statistics))
        .route("/v2/models/{model}/versions/{version}/stats", get(handlers::model_version_statistics))
        .route("/v2/models/{model}/versions/{version}/samples", get(samples::samples))
        .route("/v2/repository/index", post(repository::index))
        .route("/v2/repository/models/{model}/load", post(repository::load))
        .route("/v2/repository/models/{model}/unload", post(repository::unload))
        .route("/v1/health/live", get(handlers::live))
        .route("/v1/health/ready", get(handlers::ready))
        .route("/v1/models", get(v1::list_models))
        .route("/v1/models/{target}", get(v1::model).post(v1::action))
        .route("/v1/models/{model}/versions/{target}", post(v1::version_action))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(handlers::openapi))
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::wrong_method)
        // The infer handlers enforce --max-request-bytes themselves, with a JSON error.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(error::json_rejections))
        .with_state(state)
}

/// `--metrics-port`: `/metrics`, and the health routes too. That port is
/// always plain HTTP, so kubelet probes reach it even when REST requires
/// client certificates (kubelet cannot present one).
pub fn metrics_router(metrics_registry: prometheus::Registry, inference: Arc<Inference>) -> Router {
    Router::new()
        .route("/metrics", get(move || std::future::ready(handlers::render_metrics(&metrics_registry))))
        .route("/v2/health/live", get(handlers::live_of))
        .route("/v2/health/ready", get(handlers::ready_of))
        .with_state(inference)
}

pub async fn serve(
    listener: TcpListener,
    serving: Serving,
    metrics_registry: prometheus::Registry,
    config: &Config,
    secure: Option<Secure>,
    connections: ConnectionMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = HttpState {
        inference: serving.inference,
        lifecycle: serving.lifecycle,
        metrics_registry,
        max_request_bytes: config.max_request_bytes,
        max_json_depth: config.max_json_depth,
        admin_token: config.admin_token.clone(),
    };
    let limits = ConnectionLimits::from_config(config);
    crate::connections::serve(listener, router(state), &limits, secure, connections, shutdown).await
}
