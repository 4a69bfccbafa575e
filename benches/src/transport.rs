//! The client side of one benchmark: REST over a pool of keep-alive HTTP/1.1
//! connections (one per request in flight), or gRPC over one HTTP/2 channel.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use sluice_proto::ModelInferRequest;
use sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use sluice_proto::model_infer_request::InferInputTensor;
use tokio::net::TcpStream;
use tonic::transport::Channel;

use crate::{Args, GrpcClientKind, Protocol, payload};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// 429 / RESOURCE_EXHAUSTED: the server refused it (overload).
    Refused,
    Failed,
}

#[derive(Clone)]
pub enum Client {
    Rest(Arc<RestClient>),
    Grpc(Arc<GrpcClient>),
}

/// gRPC calls spread round-robin over a few HTTP/2 connections. With
/// `--grpc-client raw` each call is framed by hand on hyper's HTTP/2 client
/// (no tower buffer task between caller and connection), as lean as the
/// HTTP/1.1 client is for REST.
pub struct GrpcClient {
    channels: Vec<GrpcInferenceServiceClient<Channel>>,
    raw: Vec<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
    next: std::sync::atomic::AtomicUsize,
    request: ModelInferRequest,
    /// The request, protobuf-encoded with its 5-byte gRPC frame header.
    framed: Bytes,
    uri: String,
}

impl GrpcClient {
    async fn call_raw(&self, i: usize) -> anyhow::Result<Outcome> {
        let mut sender = self.raw[i % self.raw.len()].clone();
        let request = Request::post(self.uri.as_str())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(self.framed.clone()))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let early = response.headers().get("grpc-status").cloned();
        let collected = response.into_body().collect().await?;
        let status = early.or_else(|| collected.trailers().and_then(|t| t.get("grpc-status").cloned()));
        Ok(match status.as_ref().and_then(|v| v.to_str().ok()) {
            Some("0") => Outcome::Ok,
            Some("8") => Outcome::Refused,
            _ => Outcome::Failed,
        })
    }
}

async fn raw_h2(addr: &str) -> anyhow::Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(connection);
    Ok(sender)
}

pub struct RestClient {
    addr: String,
    uri: String,
    body: Bytes,
    header_len: Option<usize>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    /// At most `--concurrency` connections: an open-loop burst waits for a
    /// free one instead of opening more (new connections under load can hit
    /// a full SYN backlog and a 1 s retransmit, which measures the kernel).
    slots: tokio::sync::Semaphore,
}

impl RestClient {
    async fn connection(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        // Skip pooled connections the server has closed meanwhile (its idle
        // timeout), as every real HTTP client's pool does.
        loop {
            let pooled = self.idle.lock().map_err(|_| anyhow::anyhow!("pool poisoned"))?.pop();
            match pooled {
                Some(sender) if sender.is_closed() => continue,
                Some(sender) => return Ok(sender),
                None => break,
            }
        }
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn call(&self) -> anyhow::Result<Outcome> {
        let _slot = self.slots.acquire().await?;
        let mut sender = self.connection().await?;
        let mut builder = Request::post(self.uri.as_str())
            .header("host", self.addr.as_str())
            .header("content-type", "application/json");
        if let Some(n) = self.header_len {
            builder = builder.header("inference-header-content-length", n);
        }
        sender.ready().await?;
        let response = sender.send_request(builder.body(Full::new(self.body.clone()))?).await?;
        let status = response.status();
        response.into_body().collect().await?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(sender);
        }
        Ok(match status.as_u16() {
            200..=299 => Outcome::Ok,
            429 => Outcome::Refused,
            _ => Outcome::Failed,
        })
    }
}

impl Client {
    pub async fn connect(args: &Args) -> anyhow::Result<Client> {
        match args.protocol {
            Protocol::RestJson | Protocol::RestBinary | Protocol::V1 => {
                let (body, header_len) = match args.protocol {
                    Protocol::RestBinary => {
                        let (body, n) = payload::rest_binary(args.rows);
                        (body, Some(n))
                    }
                    Protocol::V1 => (payload::v1_json(args.rows), None),
                    _ => (payload::rest_json(args.rows), None),
                };
                let uri = match args.protocol {
                    Protocol::V1 => format!("/v1/models/{}:predict", args.model),
                    _ => format!("/v2/models/{}/infer", args.model),
                };
                Ok(Client::Rest(Arc::new(RestClient {
                    addr: args.http.clone(),
                    uri,
                    body,
                    header_len,
                    idle: Mutex::new(Vec::new()),
                    slots: tokio::sync::Semaphore::new(args.concurrency.max(1)),
                })))
            }
            Protocol::Grpc => {
                let (mut channels, mut raw) = (Vec::new(), Vec::new());
                for _ in 0..args.grpc_connections.max(1) {
                    if args.grpc_client == GrpcClientKind::Tonic {
                        let client = GrpcInferenceServiceClient::connect(format!("http://{}", args.grpc))
                            .await?
                            .max_decoding_message_size(usize::MAX);
                        channels.push(client);
                    } else {
                        raw.push(raw_h2(&args.grpc).await?);
                    }
                }
                let request = ModelInferRequest {
                    model_name: args.model.clone(),
                    inputs: vec![InferInputTensor {
                        name: "features".into(),
                        datatype: "FP32".into(),
                        shape: vec![args.rows as i64, 30],
                        ..Default::default()
                    }],
                    raw_input_contents: vec![payload::raw_features(args.rows)],
                    ..Default::default()
                };
                let message = prost::Message::encode_to_vec(&request);
                let mut framed = Vec::with_capacity(message.len() + 5);
                framed.push(0);
                framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
                framed.extend_from_slice(&message);
                Ok(Client::Grpc(Arc::new(GrpcClient {
                    channels,
                    raw,
                    next: Default::default(),
                    request,
                    framed: Bytes::from(framed),
                    uri: format!("http://{}/inference.GRPCInferenceService/ModelInfer", args.grpc),
                })))
            }
        }
    }

    /// Sends one request and reads the whole response.
    pub async fn call(&self) -> Outcome {
        match self {
            Client::Rest(rest) => rest.call().await.unwrap_or(Outcome::Failed),
            Client::Grpc(grpc) => {
                let i = grpc.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if !grpc.raw.is_empty() {
                    return grpc.call_raw(i).await.unwrap_or(Outcome::Failed);
                }
                let mut client = grpc.channels[i % grpc.channels.len()].clone();
                match client.model_infer(grpc.request.clone()).await {
                    Ok(_) => Outcome::Ok,
                    Err(status) if status.code() == tonic::Code::ResourceExhausted => Outcome::Refused,
                    Err(_) => Outcome::Failed,
                }
            }
        }
    }
}
