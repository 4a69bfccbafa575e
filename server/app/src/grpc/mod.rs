//! gRPC transport (tonic): `inference.GRPCInferenceService` and
//! `grpc.health.v1`. Decode, call the core, encode.

mod convert;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::Inference;
use sluice_core::request::parse_version;
use sluice_proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use sluice_proto::*;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::config::Config;

pub use status::code_of;
use status::to_status;

pub struct InferenceService {
    inference: Arc<Inference>,
}

impl InferenceService {
    pub fn new(inference: Arc<Inference>) -> Self {
        InferenceService { inference }
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

    async fn model_infer(&self, request: Request<ModelInferRequest>) -> Result<Response<ModelInferResponse>, Status> {
        let limit = self.inference.limits().max_tensor_elements;
        let request = convert::request(request.into_inner(), limit).map_err(to_status)?;
        let response = self.inference.infer(request).await.map_err(to_status)?;
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

pub async fn serve(
    listener: TcpListener,
    inference: Arc<Inference>,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let health_task = tokio::spawn(report_health(inference.clone(), reporter));
    let service = GrpcInferenceServiceServer::new(InferenceService::new(inference))
        .max_decoding_message_size(config.max_request_bytes)
        .max_encoding_message_size(usize::MAX);
    let incoming = TcpListenerStream::new(listener).map(|stream| {
        if let Ok(tcp) = &stream {
            let _ = tcp.set_nodelay(true);
        }
        stream
    });
    let result = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    health_task.abort();
    result
}
