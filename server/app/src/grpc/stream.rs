//! `ModelStreamInfer`, Triton's bidirectional streaming inference: every
//! request read from the stream runs at once (same batching, limits and
//! metrics as a unary call), and each answer, or its error as
//! `error_message`, is written back as soon as it is ready, carrying the
//! request's id. At most `max_in_flight` requests of one stream run at once:
//! beyond that the stream is not read (HTTP/2 flow control holds the client
//! back), so a client that sends without reading cannot pile up work. When
//! the client goes away, what is still queued is withdrawn without running.

use std::pin::Pin;
use std::sync::Arc;

use sluice_core::Inference;
use sluice_core::metrics::Protocol;
use sluice_proto::{ModelInferRequest, ModelInferResponse, ModelStreamInferResponse};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::convert;
use super::status::to_status;

pub type ResponseStream = Pin<Box<dyn Stream<Item = Result<ModelStreamInferResponse, Status>> + Send>>;

/// Answers written ahead of a slow reader before requests wait for room.
const OUTBOX: usize = 256;

pub fn serve(
    inference: Arc<Inference>,
    incoming: Streaming<ModelInferRequest>,
    max_in_flight: usize,
) -> ResponseStream {
    let (outbox, answers) = mpsc::channel(OUTBOX);
    tokio::spawn(pump(inference, incoming, outbox, max_in_flight));
    Box::pin(ReceiverStream::new(answers))
}

/// Reads requests until the client stops sending, then waits for the
/// answers still running; stops everything once the client is gone.
async fn pump(
    inference: Arc<Inference>,
    mut incoming: Streaming<ModelInferRequest>,
    outbox: mpsc::Sender<Result<ModelStreamInferResponse, Status>>,
    max_in_flight: usize,
) {
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            message = incoming.message(), if running.len() < max_in_flight => match message {
                Ok(Some(message)) => {
                    running.spawn(answer(inference.clone(), message, outbox.clone()));
                }
                // The client finished sending: answer what is in flight.
                Ok(None) => break,
                // The stream broke or was cancelled: drop what is in flight.
                Err(_) => return,
            },
            () = outbox.closed() => return,
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    tokio::select! {
        () = async { while running.join_next().await.is_some() {} } => {}
        () = outbox.closed() => {}
    }
}

async fn answer(
    inference: Arc<Inference>,
    message: ModelInferRequest,
    outbox: mpsc::Sender<Result<ModelStreamInferResponse, Status>>,
) {
    let limit = inference.limits().max_tensor_elements;
    let id = message.id.clone();
    let call = inference.begin(Protocol::Grpc, &message.model_name, &message.model_version);
    let model = call.model().to_owned();
    let decoded = call.version().and_then(|version| convert::request_for_version(message, version, limit));
    let result = inference.finish(call, decoded).await;
    let answer = match result {
        Ok(response) => {
            ModelStreamInferResponse { error_message: String::new(), infer_response: Some(convert::response(response)) }
        }
        // As Triton: the error's text, with the request's id so the client
        // can tell which request failed.
        Err(e) => ModelStreamInferResponse {
            error_message: to_status(e).message().to_owned(),
            infer_response: Some(ModelInferResponse { model_name: model, id, ..Default::default() }),
        },
    };
    let _ = outbox.send(Ok(answer)).await;
}
