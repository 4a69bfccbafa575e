//! gRPC transport (tonic): `inference.GRPCInferenceService` and
//! `grpc.health.v1`. Decode, call the core, encode.

pub mod convert;
mod deadline;
mod model_config;
mod repository;
mod samples;
mod status;
mod stream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::metrics::Protocol;
use sluice_core::serving::request::parse_version;
use sluice_core::serving::sample_rows::page_limit;
use sluice_core::{InferError, InferRequest, Inference, Lifecycle};
use sluice_proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use sluice_proto::*;
use tokio::net::TcpListener;

use crate::connections::{ConnectionLimits, ConnectionMetrics, Secure};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::Serving;
use crate::admin::authorize;
use crate::config::Config;

pub use status::code_of;
use status::to_status;

pub struct InferenceService {
    inference: Arc<Inference>,
    lifecycle: Arc<Lifecycle>,
    admin_token: Option<String>,
    /// Requests one ModelStreamInfer stream may have in flight.
    max_stream_requests: usize,
}

impl InferenceService {
    pub fn new(serving: Serving, config: &Config) -> Self {
        InferenceService {
            inference: serving.inference,
            lifecycle: serving.lifecycle,
            admin_token: config.admin_token.clone(),
            max_stream_requests: config.max_stream_requests.max(1),
        }
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        authorize(self.admin_token.as_deref(), given).map_err(to_status)
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(&self, _: Request<ServerLiveRequest>) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: self.inference.live() }))
    }

    async fn server_ready(&self, _: Request<ServerReadyRequest>) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse { ready: self.inference.ready() }))
    }

    async fn model_ready(&self, request: Request<ModelReadyRequest>) -> Result<Response<ModelReadyResponse>, Status> {
        let request = request.into_inner();
        let version = parse_version(&request.version).map_err(to_status)?;
        let ready = self.inference.model_ready(&request.name, version).map_err(to_status)?;
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        let info = self.inference.server_info();
        Ok(Response::new(ServerMetadataResponse {
            name: info.name.to_owned(),
            version: info.version.to_owned(),
            extensions: info.extensions.iter().map(|e| (*e).to_owned()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let version = parse_version(&request.version).map_err(to_status)?;
        let info = self.inference.model_metadata(&request.name, version).map_err(to_status)?;
        Ok(Response::new(convert::metadata(info)))
    }

    async fn model_statistics(
        &self,
        request: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        let request = request.into_inner();
        let version = parse_version(&request.version).map_err(to_status)?;
        let model = Some(request.name.as_str()).filter(|n| !n.is_empty());
        let snapshots = self.inference.model_statistics(model, version).map_err(to_status)?;
        Ok(Response::new(convert::statistics(snapshots)))
    }

    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        self.authorize(&request)?;
        let rows = self.lifecycle.repository_index(request.into_inner().ready).await;
        Ok(Response::new(repository::repository_index(rows)))
    }

    async fn repository_model_load(
        &self,
        request: Request<RepositoryModelLoadRequest>,
    ) -> Result<Response<RepositoryModelLoadResponse>, Status> {
        self.authorize(&request)?;
        let request = request.into_inner();
        let (overrides, files) = repository::load_parameters(request.parameters).map_err(to_status)?;
        self.lifecycle.load(&request.model_name, overrides, files).await.map_err(to_status)?;
        Ok(Response::new(RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        request: Request<RepositoryModelUnloadRequest>,
    ) -> Result<Response<RepositoryModelUnloadResponse>, Status> {
        self.authorize(&request)?;
        self.lifecycle.unload(&request.into_inner().model_name).await.map_err(to_status)?;
        Ok(Response::new(RepositoryModelUnloadResponse {}))
    }

    async fn model_samples(
        &self,
        request: Request<ModelSamplesRequest>,
    ) -> Result<Response<ModelSamplesResponse>, Status> {
        self.authorize(&request)?;
        let request = request.into_inner();
        let version = parse_version(&request.version)
            .and_then(|v| v.ok_or_else(|| InferError::invalid("a version is required")))
            .map_err(to_status)?;
        let limit = page_limit(Some(request.limit as usize));
        let (rows, rate) = self.inference.samples(&request.name, version, request.since, limit).map_err(to_status)?;
        Ok(Response::new(samples::response(request.name, version, rows, rate)))
    }

    type ModelStreamInferStream = stream::ResponseStream;

    async fn model_stream_infer(
        &self,
        request: Request<tonic::Streaming<ModelInferRequest>>,
    ) -> Result<Response<Self::ModelStreamInferStream>, Status> {
        Ok(Response::new(stream::serve(self.inference.clone(), request.into_inner(), self.max_stream_requests)))
    }

    async fn model_config(
        &self,
        request: Request<ModelConfigRequest>,
    ) -> Result<Response<ModelConfigResponse>, Status> {
        let request = request.into_inner();
        let version = parse_version(&request.version).map_err(to_status)?;
        let view = self.inference.model_config(&request.name, version).map_err(to_status)?;
        Ok(Response::new(ModelConfigResponse { config: Some(model_config::config(view)) }))
    }

    async fn model_infer(&self, request: Request<ModelInferRequest>) -> Result<Response<ModelInferResponse>, Status> {
        let limit = self.inference.limits().max_tensor_elements;
        let deadline = deadline::from_metadata(request.metadata());
        let message = request.into_inner();
        let call = self.inference.begin(Protocol::Grpc, &message.model_name, &message.model_version);
        let decoded = call.version().and_then(|version| convert::request_for_version(message, version, limit));
        let decoded = decoded.map(|request| InferRequest { timeout: deadline, ..request });
        let response = self.inference.finish(call, decoded).await.map_err(to_status)?;
        Ok(Response::new(convert::response(response)))
    }
}

/// Keeps `grpc.health.v1` in step with readiness.
async fn report_health(inference: Arc<Inference>, reporter: tonic_health::server::HealthReporter) {
    let mut last = None;
    loop {
        let ready = inference.ready();
        if last != Some(ready) {
            let status =
                if ready { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
            for service in ["", "inference.GRPCInferenceService"] {
                reporter.set_service_status(service, status).await;
            }
            last = Some(ready);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Serves the gRPC services over HTTP/2 with axum's server rather than
/// tonic's transport: the transport would enforce `grpc-timeout` itself and
/// answer CANCELLED, where the scheduler answers DEADLINE_EXCEEDED and
/// withdraws the queued request.
pub async fn serve(
    listener: TcpListener,
    serving: Serving,
    config: &Config,
    secure: Option<Secure>,
    connections: ConnectionMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let health_task = tokio::spawn(report_health(serving.inference.clone(), reporter));
    let mut service = GrpcInferenceServiceServer::new(InferenceService::new(serving, config))
        .max_decoding_message_size(config.max_request_bytes)
        .max_encoding_message_size(usize::MAX);
    // Compressed messages both ways, as the client asks (grpc-encoding /
    // grpc-accept-encoding); the size limit applies after decompression.
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Deflate, CompressionEncoding::Zstd] {
        service = service.accept_compressed(encoding).send_compressed(encoding);
    }
    let router = tonic::service::Routes::new(health).add_service(service).prepare().into_axum_router();
    let limits = ConnectionLimits::from_config(config);
    let result = crate::connections::serve(listener, router, &limits, secure, connections, shutdown).await;
    health_task.abort();
    result
}
