//! One client per worker: a keep-alive HTTP/1.1 connection, or a clone of a
//! shared gRPC channel.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use sluice_proto::ModelInferRequest;
use sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use sluice_proto::model_infer_request::InferInputTensor;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::{Args, Protocol, payload};

pub enum Client {
    Rest { sender: Mutex<SendRequest<Full<Bytes>>>, uri: String, host: String, body: Bytes, header_len: Option<usize> },
    Grpc { client: GrpcInferenceServiceClient<Channel>, request: ModelInferRequest },
}

async fn http_sender(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    Ok(sender)
}

impl Client {
    pub async fn connect(args: &Args) -> anyhow::Result<Client> {
        match args.protocol {
            Protocol::RestJson | Protocol::RestBinary => {
                let (body, header_len) = match args.protocol {
                    Protocol::RestBinary => {
                        let (body, n) = payload::rest_binary(args.rows);
                        (body, Some(n))
                    }
                    _ => (payload::rest_json(args.rows), None),
                };
                Ok(Client::Rest {
                    sender: Mutex::new(http_sender(&args.http).await?),
                    uri: format!("/v2/models/{}/infer", args.model),
                    host: args.http.clone(),
                    body,
                    header_len,
                })
            }
            Protocol::Grpc => {
                let client = GrpcInferenceServiceClient::connect(format!("http://{}", args.grpc)).await?;
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
                Ok(Client::Grpc { client, request })
            }
        }
    }

    /// A client for one more worker: REST opens its own connection.
    pub async fn clone_for_worker(&self, args: &Args) -> anyhow::Result<Client> {
        Ok(match self {
            Client::Rest { uri, host, body, header_len, .. } => Client::Rest {
                sender: Mutex::new(http_sender(&args.http).await?),
                uri: uri.clone(),
                host: host.clone(),
                body: body.clone(),
                header_len: *header_len,
            },
            Client::Grpc { client, request } => Client::Grpc { client: client.clone(), request: request.clone() },
        })
    }

    /// Sends one request and reads the whole response; non-2xx is an error.
    pub async fn call(&self) -> anyhow::Result<()> {
        match self {
            Client::Rest { sender, uri, host, body, header_len } => {
                let mut builder = Request::post(uri.as_str())
                    .header("host", host.as_str())
                    .header("content-type", "application/json");
                if let Some(n) = header_len {
                    builder = builder.header("inference-header-content-length", *n);
                }
                let request = builder.body(Full::new(body.clone()))?;
                let mut sender = sender.lock().await;
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let _ = response.into_body().collect().await?;
                anyhow::ensure!(status.is_success(), "HTTP {status}");
                Ok(())
            }
            Client::Grpc { client, request } => {
                let mut client = client.clone();
                client.model_infer(request.clone()).await?;
                Ok(())
            }
        }
    }
}
