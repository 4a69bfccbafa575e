//! Per-model-version dynamic batching.
//!
//! Requests go over an unbounded channel to one batching task; an atomic
//! depth counter bounds the queue, so a full queue is refused at once (429)
//! instead of blocking or panicking. The batching task waits for an idle
//! instance thread (taking in and pruning requests meanwhile), then forms a
//! batch as Triton's dynamic batcher does: full, a preferred size, or
//! whatever is there once the oldest request has waited `max_queue_delay`.
//! A request whose deadline passes while queued is answered 504 and never
//! runs; one whose client went away is dropped without compute. When the
//! version is idle and its calls are short, a request skips all of that and
//! runs on the caller's thread (`inline`).

mod inline;
pub mod state;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::error::InferError;
use crate::metrics::VersionMetrics;
use crate::model::backend::Backend;
use crate::model::config::ModelConfig;
use crate::tensor::Tensor;
use inline::InlineGate;
use state::{BatchPolicy, Decision, Pending, State, Ticket};
use worker::{Instance, Job};

/// How often a batching task whose instances are all busy prunes requests
/// whose clients have gone.
const PRUNE_INTERVAL: Duration = Duration::from_millis(5);

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

/// The queue handle of one loaded model version. Dropping it lets the
/// batching task finish what is queued, then stops the instance threads.
pub struct Scheduler {
    tx: mpsc::UnboundedSender<Pending>,
    task: Option<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    depth: Arc<AtomicUsize>,
    config: SchedulerConfig,
    metrics: Arc<VersionMetrics>,
    instances: Vec<Instance>,
    gate: Arc<InlineGate>,
}

/// A queued request's place in the depth count: released exactly once, by
/// the batching task (taken) or by the waiter (gave up, or dropped).
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
    /// Starts one thread per backend instance and the batching task.
    /// Must be called from within a tokio runtime.
    pub fn start(
        label: &str,
        instances: Vec<Box<dyn Backend>>,
        config: SchedulerConfig,
        metrics: Arc<VersionMetrics>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        // Only a policy without a queue delay may skip the queue: a delay
        // asks requests to wait for company, and they should.
        let inline = config.inline_max_compute.filter(|_| config.max_queue_delay.is_zero());
        let gate = Arc::new(InlineGate::new(inline));
        let instances: Vec<Instance> = instances.into_iter().map(|b| Arc::new(std::sync::Mutex::new(b))).collect();
        let mut job_senders = Vec::with_capacity(instances.len());
        let mut threads = Vec::with_capacity(instances.len());
        for (index, instance) in instances.iter().enumerate() {
            let (job_tx, job_rx) = std::sync::mpsc::channel();
            let idle = idle_tx.clone();
            let (instance, metrics, gate) = (instance.clone(), metrics.clone(), gate.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("{label}#{index}"))
                    .spawn(move || worker::run(instance, index, job_rx, idle, metrics, gate))?,
            );
            job_senders.push(job_tx);
        }
        let depth = Arc::new(AtomicUsize::new(0));
        let task = BatchingTask {
            rx,
            idle: idle_rx,
            workers: job_senders,
            depth: depth.clone(),
            policy: config.policy(),
            batched: config.max_batch_size > 0,
            metrics: metrics.clone(),
        };
        let task = Some(tokio::spawn(task.run()));
        Ok(Scheduler { tx, task, threads, depth, config, metrics, instances, gate })
    }

    /// Closes the queue, lets the batching task run what is already queued,
    /// then waits for every instance thread to finish and drop its backend,
    /// so the model's memory is released when this returns.
    pub async fn shutdown(mut self) {
        let task = self.task.take();
        let threads = std::mem::take(&mut self.threads);
        drop(self);
        if let Some(task) = task {
            let _ = task.await;
        }
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
        if self.tx.send(Pending::new(inputs, rows, reply, ticket)).is_err() {
            return Err(InferError::Unavailable("the model version is shutting down".into()));
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

struct BatchingTask {
    rx: mpsc::UnboundedReceiver<Pending>,
    idle: mpsc::UnboundedReceiver<usize>,
    workers: Vec<std::sync::mpsc::Sender<Job>>,
    depth: Arc<AtomicUsize>,
    policy: BatchPolicy,
    batched: bool,
    metrics: Arc<VersionMetrics>,
}

impl BatchingTask {
    async fn run(mut self) {
        let mut state = State::default();
        let mut open = true;
        // An instance taken from `idle` but not given a job (all abandoned).
        let mut spare = None;
        loop {
            if state.is_empty() {
                if !open {
                    break;
                }
                match self.rx.recv().await {
                    Some(p) => state.push(p),
                    None => break,
                }
            }
            let worker = match spare.take() {
                Some(worker) => worker,
                None => match self.wait_for_instance(&mut state, &mut open).await {
                    Some(worker) => worker,
                    None => break,
                },
            };
            let rows = self.form_batch(&mut state, &mut open).await;
            let batch = state.take_batch(rows);
            if batch.is_empty() {
                spare = Some(worker);
                continue;
            }
            let taken = batch.len();
            self.depth.fetch_sub(taken, Ordering::AcqRel);
            self.metrics.depth_changed(-(taken as i64));
            if self.workers[worker].send(Job { requests: batch, batched: self.batched }).is_err() {
                tracing::error!(worker, "model instance thread is gone");
            }
        }
        // Dropping `workers` ends the instance threads once they are idle.
    }

    /// Waits for a free instance. New requests stay in the channel meanwhile
    /// (one wake-up per batch, not per request); every few milliseconds the
    /// channel is drained and requests whose clients left are pruned, so
    /// abandoned requests cannot pile up while every instance is busy.
    async fn wait_for_instance(&mut self, state: &mut State, open: &mut bool) -> Option<usize> {
        loop {
            tokio::select! {
                biased;
                worker = self.idle.recv() => return worker,
                _ = tokio::time::sleep(PRUNE_INTERVAL) => self.take_queued(state, open),
            }
        }
    }

    /// Moves everything already in the channel into `state` and forgets
    /// requests nobody waits for any more.
    fn take_queued(&mut self, state: &mut State, open: &mut bool) {
        while *open {
            match self.rx.try_recv() {
                Ok(p) => state.push(p),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => *open = false,
            }
        }
        state.drop_abandoned();
    }

    /// Waits until the policy says to dispatch; returns the row cap.
    async fn form_batch(&mut self, state: &mut State, open: &mut bool) -> usize {
        loop {
            self.take_queued(state, open);
            match state.decide(Instant::now(), &self.policy) {
                Decision::Idle => return self.policy.max_rows,
                Decision::Run(rows) => return rows,
                Decision::WaitUntil(_) if !*open => return self.policy.max_rows,
                Decision::WaitUntil(due) => {
                    tokio::select! {
                        next = self.rx.recv() => match next {
                            Some(p) => state.push(p),
                            None => *open = false,
                        },
                        _ = tokio::time::sleep_until(due.into()) => {}
                    }
                }
            }
        }
    }
}
