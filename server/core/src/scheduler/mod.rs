//! Per-model-version dynamic batching.
//!
//! Requests go over an unbounded channel to one batching task; an atomic
//! depth counter bounds the queue, so a full queue is refused at once instead
//! of blocking or panicking. The batching task waits for an idle instance
//! thread, then forms the largest batch it can from what is queued, waiting up
//! to `max_queue_delay_us` after the oldest request for more to arrive.

pub mod state;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::backend::Backend;
use crate::error::InferError;
use crate::model_config::ModelConfig;
use crate::tensor::Tensor;
use state::{Pending, State};
use worker::Job;

/// Batching knobs taken from `model.toml`.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// 0 disables batching: each request runs alone, shapes untouched.
    pub max_batch_size: usize,
    pub max_queue_delay: Duration,
    pub max_queue_size: usize,
}

impl From<&ModelConfig> for SchedulerConfig {
    fn from(config: &ModelConfig) -> Self {
        SchedulerConfig {
            max_batch_size: config.max_batch_size,
            max_queue_delay: Duration::from_micros(config.batching.max_queue_delay_us),
            max_queue_size: config.batching.max_queue_size,
        }
    }
}

/// The queue handle of one loaded model version. Dropping every clone lets
/// the batching task finish what is queued, then stops the instance threads.
pub struct Scheduler {
    tx: mpsc::UnboundedSender<Pending>,
    depth: Arc<AtomicUsize>,
    config: SchedulerConfig,
}

impl Scheduler {
    /// Starts one thread per backend instance and the batching task.
    /// Must be called from within a tokio runtime.
    pub fn start(label: &str, instances: Vec<Box<dyn Backend>>, config: SchedulerConfig) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        let mut job_senders = Vec::with_capacity(instances.len());
        for (index, backend) in instances.into_iter().enumerate() {
            let (job_tx, job_rx) = std::sync::mpsc::channel();
            let idle = idle_tx.clone();
            std::thread::Builder::new()
                .name(format!("{label}#{index}"))
                .spawn(move || worker::run(backend, index, job_rx, idle))?;
            job_senders.push(job_tx);
        }
        let depth = Arc::new(AtomicUsize::new(0));
        tokio::spawn(batching_task(rx, idle_rx, job_senders, depth.clone(), config.clone()));
        Ok(Scheduler { tx, depth, config })
    }

    /// Requests queued and not yet handed to an instance.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Queues one request and waits for its outputs.
    pub async fn submit(&self, inputs: Vec<Tensor>, rows: usize) -> Result<Vec<Tensor>, InferError> {
        let reserved = self.depth.fetch_add(1, Ordering::AcqRel);
        if reserved >= self.config.max_queue_size {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(InferError::Overloaded(format!(
                "the queue is full ({} requests waiting); retry later",
                self.config.max_queue_size
            )));
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending { inputs, rows, enqueued: Instant::now(), reply };
        if self.tx.send(pending).is_err() {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(InferError::Unavailable("the model version is shutting down".into()));
        }
        answer.await.unwrap_or_else(|_| Err(InferError::Backend("the model instance stopped before answering".into())))
    }
}

async fn batching_task(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    mut idle: mpsc::UnboundedReceiver<usize>,
    workers: Vec<std::sync::mpsc::Sender<Job>>,
    depth: Arc<AtomicUsize>,
    config: SchedulerConfig,
) {
    let batched = config.max_batch_size > 0;
    let max_rows = config.max_batch_size.max(1);
    let mut state = State::default();
    let mut open = true;
    // An instance taken from `idle` but not given a job (all abandoned).
    let mut spare = None;
    loop {
        // Wait for work first, then for a free instance: while every instance
        // is busy, requests keep piling into the next (larger) batch.
        if state.is_empty() {
            match rx.recv().await {
                Some(p) => state.push(p),
                None => break,
            }
        }
        let worker = match spare.take() {
            Some(worker) => worker,
            None => match idle.recv().await {
                Some(worker) => worker,
                None => break,
            },
        };
        if open {
            open = gather(&mut rx, &mut state, max_rows, batched, config.max_queue_delay).await;
        }
        let dropped = state.drop_abandoned();
        let batch = state.take_batch(if batched { max_rows } else { 1 });
        depth.fetch_sub(dropped + batch.len(), Ordering::AcqRel);
        if batch.is_empty() {
            // Everything queued was abandoned; keep the instance for later.
            spare = Some(worker);
            if !open && state.is_empty() {
                break;
            }
            continue;
        }
        let job = Job { requests: batch, batched };
        if workers[worker].send(job).is_err() {
            tracing::error!(worker, "model instance thread is gone");
        }
        if !open && state.is_empty() {
            break;
        }
    }
    // Dropping `workers` here ends the instance threads once they are idle.
}

/// Pulls everything already queued, then waits until the batch is full or the
/// oldest request has waited `delay`. Returns false once the channel closed.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Pending>,
    state: &mut State,
    max_rows: usize,
    batched: bool,
    delay: Duration,
) -> bool {
    loop {
        loop {
            match rx.try_recv() {
                Ok(p) => state.push(p),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        if !batched || delay.is_zero() || state.ready_rows(max_rows) >= max_rows {
            return true;
        }
        let Some(oldest) = state.oldest() else {
            return true;
        };
        let deadline = tokio::time::Instant::from_std(oldest + delay);
        tokio::select! {
            next = rx.recv() => match next {
                Some(p) => state.push(p),
                None => return false,
            },
            _ = tokio::time::sleep_until(deadline) => return true,
        }
    }
}
