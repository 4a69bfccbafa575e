//! Sampling what a model version serves, for drift detection: a sampled
//! request's input and output tensors are copied into a ring bounded in
//! rows (oldest dropped first). The decision is one random draw per request;
//! only sampled requests copy anything, and a busy ring skips the sample
//! rather than make the request wait. Readers page through with a row
//! cursor and learn how many rows were dropped before they read them.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::tensor::Tensor;

/// One sampled request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Cursor position of its first row.
    pub first_row: u64,
    pub rows: usize,
    pub unix_ms: u64,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

/// What a read returns: samples after the cursor, the next cursor, and the
/// rows dropped between the given cursor and the oldest row still kept.
#[derive(Debug, Clone)]
pub struct SamplePage {
    pub samples: Vec<Sample>,
    pub cursor: u64,
    pub dropped: u64,
}

#[derive(Default)]
struct Ring {
    samples: VecDeque<Sample>,
    rows: usize,
    /// The cursor the next sampled row gets.
    next_row: u64,
}

pub struct Sampler {
    rate: f64,
    capacity: usize,
    ring: Mutex<Ring>,
    /// Rows evicted, or skipped because the ring was busy or too small.
    dropped: AtomicU64,
}

impl Sampler {
    pub fn new(rate: f64, capacity: usize) -> Self {
        Sampler {
            rate: rate.clamp(0.0, 1.0),
            capacity: capacity.max(1),
            ring: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn should_sample(&self) -> bool {
        self.rate > 0.0 && (self.rate >= 1.0 || uniform() < self.rate)
    }

    /// Copies the rows of a served request into the ring.
    pub fn record(&self, rows: usize, inputs: &[Tensor], outputs: &[Tensor]) {
        if rows > self.capacity {
            self.dropped.fetch_add(rows as u64, Ordering::Relaxed);
            return;
        }
        // Copies: the ring must not pin whole request bodies in memory.
        let copy = |tensors: &[Tensor]| -> Vec<Tensor> {
            tensors
                .iter()
                .map(|t| Tensor::new(t.name.clone(), t.datatype, t.shape.clone(), Bytes::copy_from_slice(&t.data)))
                .collect()
        };
        let (inputs, outputs) = (copy(inputs), copy(outputs));
        let unix_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let Ok(mut ring) = self.ring.try_lock() else {
            self.dropped.fetch_add(rows as u64, Ordering::Relaxed);
            return;
        };
        while ring.rows + rows > self.capacity {
            let Some(old) = ring.samples.pop_front() else { break };
            ring.rows -= old.rows;
            self.dropped.fetch_add(old.rows as u64, Ordering::Relaxed);
        }
        let first_row = ring.next_row;
        ring.next_row += rows as u64;
        ring.rows += rows;
        ring.samples.push_back(Sample { first_row, rows, unix_ms, inputs, outputs });
    }

    /// Samples starting at or after `since`, whole requests, up to `limit`
    /// rows (at least one request when any is there).
    pub fn read(&self, since: u64, limit: usize) -> SamplePage {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A cursor past anything this ring has counted comes from an earlier
        // load of the version (a reload starts a new ring): read from the start.
        let since = if since > ring.next_row { 0 } else { since };
        let oldest = ring.samples.front().map_or(ring.next_row, |s| s.first_row);
        let dropped = oldest.saturating_sub(since);
        let mut samples = Vec::new();
        let mut rows = 0;
        for sample in ring.samples.iter().filter(|s| s.first_row >= since) {
            if !samples.is_empty() && rows + sample.rows > limit {
                break;
            }
            rows += sample.rows;
            samples.push(sample.clone());
        }
        let cursor = samples.last().map_or(since.max(oldest).min(ring.next_row), |s| s.first_row + s.rows as u64);
        SamplePage { samples, cursor, dropped }
    }
}

/// A fast per-thread uniform draw in [0, 1) (xorshift64*), seeded once per
/// thread from the standard library's random hasher keys.
fn uniform() -> f64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1);
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataType;

    fn rows(n: usize, value: f32) -> Vec<Tensor> {
        let data: Vec<u8> = std::iter::repeat_n(value, n * 2).flat_map(f32::to_le_bytes).collect();
        vec![Tensor::new("x", DataType::Fp32, vec![n, 2], data.into())]
    }

    #[test]
    fn pages_with_a_cursor_and_counts_what_was_dropped() {
        let sampler = Sampler::new(1.0, 5);
        sampler.record(2, &rows(2, 1.0), &[]);
        sampler.record(2, &rows(2, 2.0), &[]);
        let page = sampler.read(0, 100);
        assert_eq!((page.samples.len(), page.cursor, page.dropped), (2, 4, 0));
        let page = sampler.read(0, 3);
        assert_eq!((page.samples.len(), page.cursor), (1, 2), "whole requests up to the limit");
        sampler.record(3, &rows(3, 3.0), &[]);
        let page = sampler.read(4, 100);
        assert_eq!((page.samples.len(), page.cursor, page.dropped), (1, 7, 0));
        let late = sampler.read(0, 100);
        assert_eq!(late.dropped, 2, "the first request was evicted to make room");
        assert_eq!(sampler.dropped(), 2);
        assert_eq!(sampler.read(7, 100).samples.len(), 0);
        sampler.record(9, &rows(9, 4.0), &[]);
        assert_eq!(sampler.dropped(), 11, "a request larger than the ring is skipped");
        let reloaded = Sampler::new(1.0, 5);
        reloaded.record(1, &rows(1, 5.0), &[]);
        let page = reloaded.read(7, 100);
        assert_eq!((page.samples.len(), page.cursor), (1, 1), "a cursor from an earlier load reads from the start");
    }

    #[test]
    fn rate_is_respected() {
        let half = Sampler::new(0.5, 10);
        let taken = (0..10_000).filter(|_| half.should_sample()).count();
        assert!((4_500..5_500).contains(&taken), "{taken}");
        assert!(!Sampler::new(0.0, 10).should_sample());
    }
}
