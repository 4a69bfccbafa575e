//! A model instance thread: runs batches on its own backend and answers each
//! request with exactly its rows.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::InferError;
use crate::metrics::VersionMetrics;
use crate::metrics::stats::ComputeTimes;
use crate::model::backend::{Backend, Batch};
use crate::scheduler::inline::InlineGate;
use crate::scheduler::queue::SharedQueue;
use crate::scheduler::state::Pending;
use crate::tensor::Tensor;

/// A batch handed to a worker.
pub struct Job {
    pub requests: Vec<Pending>,
    /// Whether inputs carry a batch dimension to stack and split along.
    pub batched: bool,
}

/// One model instance's backend, shared by its thread and the idle fast
/// path; whoever holds the lock runs the model.
pub type Instance = Arc<Mutex<Box<dyn Backend>>>;

/// Takes batches from the queue and runs them until the queue is closed and
/// drained (the model version is being unloaded); dropping the last
/// `Instance` then frees the model.
/// `batched`: whether inputs carry a batch dimension (see `Job`).
pub fn run(
    instance: Instance,
    index: usize,
    queue: Arc<SharedQueue>,
    batched: bool,
    depth: Arc<AtomicUsize>,
    metrics: Arc<VersionMetrics>,
    gate: Arc<InlineGate>,
) {
    while let Some(requests) = queue.next_batch(index) {
        let mut backend = instance.lock().unwrap_or_else(PoisonError::into_inner);
        run_taken(backend.as_mut(), requests, batched, &depth, &metrics, &gate);
    }
}

/// Runs a batch just taken from the queue: releases its places in the queue
/// depth, runs it and records the call for the inline gate.
pub fn run_taken(
    backend: &mut dyn Backend,
    requests: Vec<Pending>,
    batched: bool,
    depth: &AtomicUsize,
    metrics: &VersionMetrics,
    gate: &InlineGate,
) {
    let taken = requests.len();
    depth.fetch_sub(taken, Ordering::AcqRel);
    metrics.depth_changed(-(taken as i64));
    if let Some((took, requests)) = run_job(backend, Job { requests, batched }, metrics) {
        gate.record(took, requests);
    }
}

/// Runs one batch and answers its requests; returns how long the model was
/// busy and for how many requests, or `None` when all had been abandoned.
pub fn run_job(backend: &mut dyn Backend, job: Job, metrics: &VersionMetrics) -> Option<(Duration, usize)> {
    let mut requests = job.requests;
    // A client may have left while the batch waited for this thread.
    requests.retain(|p| !p.abandoned());
    if requests.is_empty() {
        return None;
    }
    let row_counts: Vec<usize> = requests.iter().map(|p| p.rows).collect();
    let (rows, count) = (row_counts.iter().sum(), row_counts.len());
    let started = Instant::now();
    // Queue time ends here, when an instance starts on the batch (as in
    // Triton): the hand-off to this thread is waiting, not overhead.
    metrics.observe_batch(rows, requests.iter().map(|p| started.saturating_duration_since(p.enqueued)));
    let batch = assemble(&mut requests);
    let assembled = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| backend.infer(batch)));
    let inferred = Instant::now();
    let mut times = ComputeTimes { input: assembled - started, infer: inferred - assembled, output: Duration::ZERO };
    let outputs = match result {
        Ok(Ok(out)) => out.outputs,
        Ok(Err(e)) => {
            metrics.observe_compute(rows, count, times, false);
            fail(requests, InferError::Backend(e.to_string()));
            return Some((started.elapsed(), count));
        }
        Err(_) => {
            metrics.observe_compute(rows, count, times, false);
            fail(requests, InferError::Backend("the model panicked while running this batch".into()));
            return Some((started.elapsed(), count));
        }
    };
    if requests.len() == 1 || !job.batched {
        metrics.observe_compute(rows, count, times, true);
        if let Some(p) = requests.pop() {
            let _ = p.reply.send(Ok(outputs));
        }
        return Some((started.elapsed(), count));
    }
    let split = split(&outputs, &row_counts);
    times.output = inferred.elapsed();
    // Recorded before the replies go out: a client that reads the
    // statistics after its answer sees its own request counted.
    metrics.observe_compute(rows, count, times, split.is_ok());
    match split {
        Ok(per_request) => {
            for (p, outs) in requests.into_iter().zip(per_request) {
                let _ = p.reply.send(Ok(outs));
            }
        }
        Err(e) => fail(requests, e),
    }
    Some((started.elapsed(), count))
}

/// Stacks each input of all requests along the batch dimension; a single
/// request's tensors are moved without copying.
fn assemble(requests: &mut [Pending]) -> Batch {
    if let [only] = requests {
        return Batch { inputs: std::mem::take(&mut only.inputs) };
    }
    let inputs_per_request = requests.first().map_or(0, |p| p.inputs.len());
    let inputs = (0..inputs_per_request)
        .filter_map(|i| {
            let parts: Vec<&Tensor> = requests.iter().map(|p| &p.inputs[i]).collect();
            Tensor::concat_rows(&parts)
        })
        .collect();
    Batch { inputs }
}

/// Output i of request j is rows `[sum(rows[..j]), sum(rows[..=j]))` of output i.
fn split(outputs: &[Tensor], row_counts: &[usize]) -> Result<Vec<Vec<Tensor>>, InferError> {
    let total: usize = row_counts.iter().sum();
    let mut per_request: Vec<Vec<Tensor>> = row_counts.iter().map(|_| Vec::with_capacity(outputs.len())).collect();
    for output in outputs {
        if output.rows() != total {
            return Err(InferError::Backend(format!(
                "output '{}' has {} rows for a batch of {total}; the model does not keep the batch dimension",
                output.name,
                output.rows()
            )));
        }
        let pieces =
            output.split_rows(row_counts).map_err(|e| InferError::Backend(format!("output '{}': {e}", output.name)))?;
        for (dest, piece) in per_request.iter_mut().zip(pieces) {
            dest.push(piece);
        }
    }
    Ok(per_request)
}

fn fail(requests: Vec<Pending>, error: InferError) {
    tracing::warn!(%error, requests = requests.len(), "batch failed");
    for p in requests {
        let _ = p.reply.send(Err(error.clone()));
    }
}
