//! Batch forming, kept free of I/O so it can be tested and benchmarked alone.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::InferError;
use crate::tensor::Tensor;

pub type Reply = oneshot::Sender<Result<Vec<Tensor>, InferError>>;

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const GONE: u8 = 2;

/// Who owns a queued request: an instance thread takes it, or its waiter
/// gives up on it (deadline passed, client gone). Exactly one side wins, so
/// the queue depth is decremented exactly once and an expired request never
/// runs.
#[derive(Debug, Clone, Default)]
pub struct Ticket(Arc<AtomicU8>);

impl Ticket {
    /// An instance thread claims the request for a batch.
    pub fn take(&self) -> bool {
        self.0.compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The waiter withdraws the request before it was taken.
    pub fn give_up(&self) -> bool {
        self.0.compare_exchange(QUEUED, GONE, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    pub fn is_gone(&self) -> bool {
        self.0.load(Ordering::Acquire) == GONE
    }
}

/// One request waiting for a model call.
#[derive(Debug)]
pub struct Pending {
    /// Inputs in the model's input order.
    pub inputs: Vec<Tensor>,
    /// Rows along the batch dimension (1 when the model does not batch).
    pub rows: usize,
    pub enqueued: Instant,
    pub reply: Reply,
    pub ticket: Ticket,
}

impl Pending {
    pub fn new(inputs: Vec<Tensor>, rows: usize, reply: Reply, ticket: Ticket) -> Self {
        Pending { inputs, rows, enqueued: Instant::now(), reply, ticket }
    }

    /// Requests can share a batch only when every non-batch dimension agrees.
    fn fits_with(&self, other: &Pending) -> bool {
        self.inputs.len() == other.inputs.len()
            && self.inputs.iter().zip(&other.inputs).all(|(a, b)| a.shape.get(1..) == b.shape.get(1..))
    }

    /// The waiter gave up or the client disconnected.
    pub fn abandoned(&self) -> bool {
        self.ticket.is_gone() || self.reply.is_closed()
    }
}

/// How batches are formed (Triton's dynamic batcher knobs).
#[derive(Debug, Clone)]
pub struct BatchPolicy {
    /// Rows per batch at most; 1 with batching off.
    pub max_rows: usize,
    /// Sizes worth dispatching at once, ascending, each <= `max_rows`.
    pub preferred: Vec<usize>,
    /// How long the oldest request may wait for a fuller batch.
    pub delay: Duration,
}

/// What an idle instance thread should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is queued.
    Idle,
    /// Form a batch of at most this many rows now.
    Run(usize),
    /// Wait for more requests, at most until then.
    WaitUntil(Instant),
}

/// The requests an instance thread has moved out of the intake, in arrival order.
#[derive(Debug, Default)]
pub struct State {
    queue: VecDeque<Pending>,
}

impl State {
    pub fn push(&mut self, pending: Pending) {
        self.queue.push_back(pending);
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Enqueue time of the oldest request, which starts the delay timer.
    pub fn oldest(&self) -> Option<Instant> {
        self.queue.front().map(|p| p.enqueued)
    }

    /// Forgets requests nobody waits for any more; returns how many.
    pub fn drop_abandoned(&mut self) -> usize {
        let before = self.queue.len();
        self.queue.retain(|p| !p.abandoned());
        before - self.queue.len()
    }

    /// Rows the next batch would hold if formed now with `max_rows`.
    pub fn ready_rows(&self, max_rows: usize) -> usize {
        self.plan(max_rows).1
    }

    fn plan(&self, max_rows: usize) -> (Vec<usize>, usize) {
        let Some(first) = self.queue.front() else {
            return (Vec::new(), 0);
        };
        let mut picked = vec![0];
        let mut rows = first.rows;
        for (i, p) in self.queue.iter().enumerate().skip(1) {
            if rows >= max_rows {
                break;
            }
            if rows + p.rows <= max_rows && p.fits_with(first) {
                picked.push(i);
                rows += p.rows;
            }
        }
        (picked, rows)
    }

    /// Dispatch now when the batch is full or reaches a preferred size, or
    /// when the oldest request has waited `delay`; otherwise wait.
    pub fn decide(&self, now: Instant, policy: &BatchPolicy) -> Decision {
        let Some(oldest) = self.oldest() else {
            return Decision::Idle;
        };
        let available = self.ready_rows(policy.max_rows);
        if available >= policy.max_rows {
            return Decision::Run(policy.max_rows);
        }
        if let Some(&preferred) = policy.preferred.iter().rev().find(|&&p| p <= available) {
            return Decision::Run(preferred);
        }
        let due = oldest + policy.delay;
        if now >= due { Decision::Run(policy.max_rows) } else { Decision::WaitUntil(due) }
    }

    /// Takes the oldest request plus the following compatible ones, in
    /// arrival order, up to `max_rows` rows. Requests whose waiter already
    /// gave up are dropped instead.
    pub fn take_batch(&mut self, max_rows: usize) -> Vec<Pending> {
        let (picked, _) = self.plan(max_rows.max(1));
        let mut batch = Vec::with_capacity(picked.len());
        if picked.last().is_some_and(|&last| last + 1 == picked.len()) {
            // The common case, a prefix of the queue: no shifting.
            batch.extend(self.queue.drain(..picked.len()).filter(|p| p.ticket.take()));
            return batch;
        }
        // One pass that splits the queue, keeping arrival order on both sides.
        let mut rest = VecDeque::with_capacity(self.queue.len() - picked.len());
        let mut next = picked.iter().peekable();
        for (i, p) in self.queue.drain(..).enumerate() {
            if next.peek() == Some(&&i) {
                next.next();
                if p.ticket.take() {
                    batch.push(p);
                }
            } else {
                rest.push_back(p);
            }
        }
        self.queue = rest;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::datatype::DataType;

    type Rx = oneshot::Receiver<Result<Vec<Tensor>, InferError>>;

    fn pending(rows: usize, width: usize) -> (Pending, Rx) {
        let (tx, rx) = oneshot::channel();
        let data = vec![0u8; rows * width * 4];
        let input = Tensor::new("x", DataType::Fp32, vec![rows, width], data.into());
        (Pending::new(vec![input], rows, tx, Ticket::default()), rx)
    }

    fn policy(max_rows: usize, preferred: Vec<usize>, delay_ms: u64) -> BatchPolicy {
        BatchPolicy { max_rows, preferred, delay: Duration::from_millis(delay_ms) }
    }

    #[test]
    fn batches_compatible_requests_in_order_up_to_max() {
        let mut state = State::default();
        let mut keep = Vec::new();
        for (rows, width) in [(2, 4), (1, 8), (3, 4), (4, 4), (1, 4)] {
            let (p, rx) = pending(rows, width);
            state.push(p);
            keep.push(rx);
        }
        assert_eq!(state.ready_rows(6), 6);
        let batch = state.take_batch(6);
        let rows: Vec<usize> = batch.iter().map(|p| p.rows).collect();
        assert_eq!(rows, vec![2, 3, 1], "skips the wider request and the one that would overflow");
        let next = state.take_batch(6);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].inputs[0].shape, vec![1, 8]);
        assert_eq!(state.len(), 1);
    }

    #[test]
    fn without_batching_takes_one() {
        let mut state = State::default();
        let (a, _ra) = pending(1, 4);
        let (b, _rb) = pending(1, 4);
        state.push(a);
        state.push(b);
        assert_eq!(state.take_batch(1).len(), 1);
    }

    #[test]
    fn abandoned_and_withdrawn_requests_are_dropped() {
        let mut state = State::default();
        let (a, ra) = pending(1, 4);
        let (b, _rb) = pending(1, 4);
        let (c, _rc) = pending(1, 4);
        assert!(c.ticket.give_up());
        state.push(a);
        state.push(b);
        state.push(c);
        drop(ra);
        assert_eq!(state.drop_abandoned(), 2);
        assert_eq!(state.len(), 1);
    }

    #[test]
    fn a_withdrawn_request_is_never_taken() {
        let mut state = State::default();
        let (a, _ra) = pending(1, 4);
        let (b, _rb) = pending(1, 4);
        let withdrawn = b.ticket.clone();
        state.push(a);
        state.push(b);
        assert!(withdrawn.give_up());
        assert_eq!(state.take_batch(8).len(), 1);
        assert!(!withdrawn.take(), "once given up, it cannot be taken");
    }

    #[test]
    fn decides_like_tritons_dynamic_batcher() {
        let mut state = State::default();
        let now = Instant::now();
        assert_eq!(state.decide(now, &policy(8, vec![], 5)), Decision::Idle);
        let mut keep = Vec::new();
        for _ in 0..3 {
            let (p, rx) = pending(1, 4);
            state.push(p);
            keep.push(rx);
        }
        let oldest = state.oldest().expect("queued");
        // Not full, no preferred size reached: wait for the delay.
        assert_eq!(
            state.decide(oldest, &policy(8, vec![4], 5)),
            Decision::WaitUntil(oldest + Duration::from_millis(5))
        );
        // A preferred size that is reached dispatches at once.
        assert_eq!(state.decide(oldest, &policy(8, vec![2, 4], 5)), Decision::Run(2));
        // A full batch dispatches at once.
        assert_eq!(state.decide(oldest, &policy(3, vec![], 5)), Decision::Run(3));
        // Once the delay has passed, whatever is there runs.
        assert_eq!(state.decide(oldest + Duration::from_millis(5), &policy(8, vec![4], 5)), Decision::Run(8));
        // No delay: run immediately.
        assert_eq!(state.decide(oldest, &policy(8, vec![], 0)), Decision::Run(8));
    }
}
