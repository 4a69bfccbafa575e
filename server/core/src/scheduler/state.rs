//! Batch forming, kept free of I/O so it can be tested and benchmarked alone.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::error::InferError;
use crate::tensor::Tensor;

pub type Reply = oneshot::Sender<Result<Vec<Tensor>, InferError>>;

/// One request waiting for a model call.
#[derive(Debug)]
pub struct Pending {
    /// Inputs in the model's input order.
    pub inputs: Vec<Tensor>,
    /// Rows along the batch dimension (1 when the model does not batch).
    pub rows: usize,
    pub enqueued: Instant,
    pub reply: Reply,
}

impl Pending {
    /// Requests can share a batch only when every non-batch dimension agrees.
    fn fits_with(&self, other: &Pending) -> bool {
        self.inputs.len() == other.inputs.len()
            && self.inputs.iter().zip(&other.inputs).all(|(a, b)| a.shape.get(1..) == b.shape.get(1..))
    }

    /// The client stopped waiting (disconnected or cancelled).
    pub fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// The queue of requests the batching task has taken off the channel.
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

    /// Drops requests whose client is gone; returns how many.
    pub fn drop_abandoned(&mut self) -> usize {
        let before = self.queue.len();
        self.queue.retain(|p| !p.abandoned());
        before - self.queue.len()
    }

    /// Rows the next batch would hold if formed now.
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

    /// Takes the oldest request plus the following compatible ones, in
    /// arrival order, up to `max_rows` rows. `max_rows <= 1` disables batching.
    pub fn take_batch(&mut self, max_rows: usize) -> Vec<Pending> {
        let (picked, _) = self.plan(max_rows.max(1));
        let mut batch = Vec::with_capacity(picked.len());
        // Remove from the back so earlier indices stay valid.
        for &i in picked.iter().rev() {
            if let Some(p) = self.queue.remove(i) {
                batch.push(p);
            }
        }
        batch.reverse();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datatype::DataType;

    fn pending(rows: usize, width: usize) -> (Pending, oneshot::Receiver<Result<Vec<Tensor>, InferError>>) {
        let (tx, rx) = oneshot::channel();
        let data = vec![0u8; rows * width * 4];
        let input = Tensor::new("x", DataType::Fp32, vec![rows, width], data.into());
        (Pending { inputs: vec![input], rows, enqueued: Instant::now(), reply: tx }, rx)
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
        assert_eq!(state.take_batch(0).len(), 1);
    }

    #[test]
    fn abandoned_requests_are_dropped() {
        let mut state = State::default();
        let (a, ra) = pending(1, 4);
        let (b, _rb) = pending(1, 4);
        state.push(a);
        state.push(b);
        drop(ra);
        assert_eq!(state.drop_abandoned(), 1);
        assert_eq!(state.len(), 1);
    }
}
