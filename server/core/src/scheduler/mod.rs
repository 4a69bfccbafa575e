//! Per-model-version dynamic batching.
//!
//! Callers push requests into one shared queue; an atomic depth counter
//! bounds it, so a full queue is refused at once (429) instead of blocking
//! or panicking. Idle instance threads take batches from the queue
//! themselves, forming them as Triton's dynamic batcher does: full, a
//! preferred size, or whatever is there once the oldest request has waited
//! `max_queue_delay`. A request whose deadline passes while queued is
//! answered 504 and never runs; one whose client went away is dropped
//! without compute. When the version is idle and its calls are short, a
//! request skips the queue and runs on the caller's thread (`inline`); under
//! HTTP/1 load with the instance threads parked, a caller leads: one yield
//! lets the requests ready on its worker join, and it runs them as a batch.

mod inline;
mod queue;
pub mod state;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::InferError;
use crate::metrics::VersionMetrics;
use crate::model::backend::Backend;
use crate::model::config::ModelConfig;
use crate::tensor::Tensor;
use inline::InlineGate;
use queue::SharedQueue;
use state::{BatchPolicy, Pending, Ticket};
use worker::{Instance, Job};

/// Batching knobs taken from `model.toml`.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// 0 disables batching: each request runs alone, shapes untouched.
    pub max_batch_size: usize,
    pub max_queue_delay: Duration,
    pub preferred_batch_sizes: Vec<usize>,
    pub max_queue_size: usize,
    /// Deadline for requests that bring none of their own.
    pub default_timeout: Option<Duration>,
    /// An idle version whose calls average at most this runs a request on
    /// the caller's thread; `None` always queues.
    pub inline_max_compute: Option<Duration>,
}

impl From<&ModelConfig> for SchedulerConfig {
    fn from(config: &ModelConfig) -> Self {
        let b = &config.batching;
        SchedulerConfig {
            max_batch_size: config.max_batch_size,
            max_queue_delay: Duration::from_micros(b.max_queue_delay_us),
            preferred_batch_sizes: b.preferred_batch_sizes.clone(),
            max_queue_size: b.max_queue_size,
            default_timeout: (b.default_timeout_us > 0).then(|| Duration::from_micros(b.default_timeout_us)),
            inline_max_compute: (b.inline_max_compute_us > 0).then(|| Duration::from_micros(b.inline_max_compute_us)),
        }
    }
}

impl SchedulerConfig {
    fn policy(&self) -> BatchPolicy {
        let max_rows = self.max_batch_size.max(1);
        let mut preferred: Vec<usize> =
            self.preferred_batch_sizes.iter().copied().filter(|&p| p >= 1 && p <= max_rows).collect();
        preferred.sort_unstable();
        preferred.dedup();
        BatchPolicy { max_rows, preferred, delay: self.max_queue_delay }
    }
}

/// Requests in flight per async worker from which a caller leads a batch:
/// below it, one yield gathers too few to be worth taking a worker from I/O.
const LEAD_PER_WORKER: usize = 4;

/// The async runtime's worker threads (1 outside a runtime).
fn workers() -> usize {
    tokio::runtime::Handle::try_current().map_or(1, |h| h.metrics().num_workers())
}

/// How requests reach the scheduler, which decides whether a caller may
/// lead a batch: after one yield, the connections ready on its worker have
/// submitted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Each connection's task reads and submits its own requests (HTTP/1).
    PerConnection,
    /// Requests come through tasks a multiplexing connection spawns per
    /// stream (HTTP/2, gRPC): one yield gathers few, so callers never lead.
    PerStream,
}

/// The queue handle of one loaded model version. Dropping it lets the
/// instance threads finish what is queued, then stop.
pub struct Scheduler {
    queue: Arc<SharedQueue>,
    threads: Vec<std::thread::JoinHandle<()>>,
    depth: Arc<AtomicUsize>,
    config: SchedulerConfig,
    metrics: Arc<VersionMetrics>,
    instances: Vec<Instance>,
    gate: Arc<InlineGate>,
}

/// A queued request's place in the depth count: released exactly once, by
/// an instance thread (taken) or by the waiter (gave up, or dropped).
struct QueueSlot {
    ticket: Ticket,
    depth: Arc<AtomicUsize>,
    metrics: Arc<VersionMetrics>,
}

impl QueueSlot {
    /// Withdraws the request if it was not taken yet; true if withdrawn.
    fn withdraw(&self) -> bool {
        let withdrawn = self.ticket.give_up();
        if withdrawn {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            self.metrics.depth_changed(-1);
        }
        withdrawn
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl Scheduler {
    /// Starts one thread per backend instance.
    pub fn start(
        label: &str,
        instances: Vec<Box<dyn Backend>>,
        config: SchedulerConfig,
        metrics: Arc<VersionMetrics>,
    ) -> std::io::Result<Self> {
        // Only a policy without a queue delay may skip the queue: a delay
        // asks requests to wait for company, and they should.
        let inline = config.inline_max_compute.filter(|_| config.max_queue_delay.is_zero());
        let gate = Arc::new(InlineGate::new(inline));
        let instances: Vec<Instance> = instances.into_iter().map(|b| Arc::new(std::sync::Mutex::new(b))).collect();
        let queue = Arc::new(SharedQueue::new(config.policy(), instances.len()));
        let depth = Arc::new(AtomicUsize::new(0));
        let batched = config.max_batch_size > 0;
        let mut scheduler =
            Scheduler { queue, threads: Vec::with_capacity(instances.len()), depth, config, metrics, instances, gate };
        for index in 0..scheduler.instances.len() {
            let instance = scheduler.instances[index].clone();
            let (queue, depth) = (scheduler.queue.clone(), scheduler.depth.clone());
            let (metrics, gate) = (scheduler.metrics.clone(), scheduler.gate.clone());
            // On an error, dropping `scheduler` closes the queue and the
            // threads already started end.
            scheduler.threads.push(
                std::thread::Builder::new()
                    .name(format!("{label}#{index}"))
                    .spawn(move || worker::run(instance, index, queue, batched, depth, metrics, gate))?,
            );
        }
        Ok(scheduler)
    }

    /// Closes the queue, lets the instance threads run what is already
    /// queued, then waits for every one of them to finish and drop its
    /// backend, so the model's memory is released when this returns.
    pub async fn shutdown(mut self) {
        let threads = std::mem::take(&mut self.threads);
        drop(self);
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }

    /// Requests queued and not yet handed to an instance.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Acquire)
    }

    /// Queues one request and waits for its outputs. `timeout` (the request's
    /// own, e.g. a gRPC deadline) overrides the model's default.
    pub async fn submit(
        &self,
        inputs: Vec<Tensor>,
        rows: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<Tensor>, InferError> {
        self.submit_as(inputs, rows, timeout, Arrival::PerConnection).await
    }

    /// `submit`, saying how the request reached this worker (see `Arrival`).
    pub async fn submit_as(
        &self,
        inputs: Vec<Tensor>,
        rows: usize,
        timeout: Option<Duration>,
        arrival: Arrival,
    ) -> Result<Vec<Tensor>, InferError> {
        let in_flight = self.gate.enter();
        if in_flight.alone() && self.gate.worth_it() {
            // try_lock: an instance still finishing its last batch is busy.
            if let Some(mut backend) = self.instances.iter().find_map(|i| i.try_lock().ok()) {
                return self.run_inline(backend.as_mut(), inputs, rows);
            }
        }
        let reserved = self.depth.fetch_add(1, Ordering::AcqRel);
        if reserved >= self.config.max_queue_size {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(InferError::Overloaded(format!(
                "the queue is full ({} requests waiting); retry later",
                self.config.max_queue_size
            )));
        }
        self.metrics.depth_changed(1);
        let ticket = Ticket::default();
        let slot = QueueSlot { ticket: ticket.clone(), depth: self.depth.clone(), metrics: self.metrics.clone() };
        let (reply, mut answer) = oneshot::channel();
        let deadline = timeout.or(self.config.default_timeout).map(|t| Instant::now() + t);
        let pending = Pending::new(inputs, rows, reply, ticket);
        let shutting_down = |_| InferError::Unavailable("the model version is shutting down".into());
        let may_lead = arrival == Arrival::PerConnection
            && in_flight.others() >= LEAD_PER_WORKER * workers()
            && self.gate.calls_are_short();
        if may_lead && self.queue.all_idle() && self.queue.try_lead() {
            // Every instance thread is parked: rather than wake one and be
            // woken back, this caller lets the requests already readable on
            // its worker join (one yield) and runs them as one batch.
            let lead = Lead(self);
            self.queue.push_quietly(pending).map_err(shutting_down)?;
            tokio::task::yield_now().await;
            self.run_queued_here();
            drop(lead);
        } else {
            self.queue.push(pending).map_err(shutting_down)?;
        }
        let stopped = |_| InferError::Backend("the model instance stopped before answering".into());
        let Some(deadline) = deadline else {
            return answer.await.unwrap_or_else(|e| Err(stopped(e)));
        };
        match tokio::time::timeout_at(deadline.into(), &mut answer).await {
            Ok(result) => result.unwrap_or_else(|e| Err(stopped(e))),
            Err(_) if slot.withdraw() => Err(InferError::Timeout(format!(
                "the request waited in the queue past its deadline of {} ms and was not run",
                timeout.or(self.config.default_timeout).unwrap_or_default().as_millis()
            ))),
            // Already running: the deadline covers queueing only, so let it finish.
            Err(_) => answer.await.unwrap_or_else(|e| Err(stopped(e))),
        }
    }
}

impl Scheduler {
    /// Runs one request on this thread with the instance it locked, through
    /// the same code an instance thread runs (metrics, panics, row checks).
    fn run_inline(
        &self,
        backend: &mut dyn Backend,
        inputs: Vec<Tensor>,
        rows: usize,
    ) -> Result<Vec<Tensor>, InferError> {
        let (reply, mut answer) = oneshot::channel();
        let ticket = Ticket::default();
        ticket.take();
        let job =
            Job { requests: vec![Pending::new(inputs, rows, reply, ticket)], batched: self.config.max_batch_size > 0 };
        if let Some((took, requests)) = worker::run_job(backend, job, &self.metrics) {
            self.gate.record(took, requests);
        }
        answer.try_recv().unwrap_or_else(|_| Err(InferError::Backend("the model instance did not answer".into())))
    }
}

/// A caller's lead of the next batch; ending it (run, or the caller gone
/// while it yielded) hands anything still queued to an instance thread.
struct Lead<'a>(&'a Scheduler);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.queue.step_down();
        if self.0.depth.load(Ordering::Acquire) > 0 {
            self.0.queue.wake_idle();
        }
    }
}

impl Scheduler {
    /// Runs the batch that is due on a free instance, on this thread.
    fn run_queued_here(&self) {
        let Some(mut backend) = self.instances.iter().find_map(|i| i.try_lock().ok()) else {
            return;
        };
        if let Some(batch) = self.queue.try_take_batch() {
            let batched = self.config.max_batch_size > 0;
            worker::run_taken(backend.as_mut(), batch, batched, &self.depth, &self.metrics, &self.gate);
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.queue.close();
    }
}
