//! The idle fast path. When nothing else is queued or running for a model
//! version and its calls are short, a request runs on the caller's own
//! thread instead of being handed to an instance thread and its answer
//! handed back. At low load those hand-offs (two cross-thread wake-ups and
//! the parking that follows each) cost more CPU
//! and latency than a small model's compute. Under load requests queue and
//! batch as before: something is always in flight, and recent batches hold
//! several requests (closed-loop clients arrive in waves, so the first of a
//! wave alone must not take the instance from the batch behind it).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Not measured yet: a version runs its first calls through the queue.
const UNMEASURED: u64 = u64::MAX;
/// Fixed-point scale of the average batch size.
const ONE_REQUEST: u64 = 256;
/// Above this average of requests per batch (1.5), load is batching and
/// requests queue.
const BATCHING: u64 = ONE_REQUEST * 3 / 2;

/// Decides whether a request may run inline.
pub struct InlineGate {
    /// Calls averaging longer than this always go through the queue, so a
    /// heavy model never holds an async worker; `None` turns the path off.
    max_compute: Option<Duration>,
    /// Moving average of recent model calls (nanoseconds, assembly and
    /// splitting included: the time a thread is held).
    recent_ns: AtomicU64,
    /// Moving average of requests per model call, times `ONE_REQUEST`.
    recent_batch: AtomicU64,
    /// Requests submitted and not yet answered.
    in_flight: AtomicUsize,
}

/// A request's place in the in-flight count, released when it is answered
/// or abandoned.
pub struct InFlight<'a> {
    gate: &'a InlineGate,
    others: usize,
}

impl InFlight<'_> {
    /// No other request of this version was queued or running on entry.
    pub fn alone(&self) -> bool {
        self.others == 0
    }

    /// Requests of this version queued or running when this one entered.
    pub fn others(&self) -> usize {
        self.others
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InlineGate {
    pub fn new(max_compute: Option<Duration>) -> Self {
        InlineGate {
            max_compute,
            recent_ns: AtomicU64::new(UNMEASURED),
            recent_batch: AtomicU64::new(ONE_REQUEST),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub fn enter(&self) -> InFlight<'_> {
        let others = self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight { gate: self, others }
    }

    /// Whether recent calls were short enough to run on an async worker and
    /// recent load left nothing to batch.
    pub fn worth_it(&self) -> bool {
        self.calls_are_short() && self.recent_batch.load(Ordering::Relaxed) <= BATCHING
    }

    /// Whether recent calls were short enough to hold an async worker for.
    pub fn calls_are_short(&self) -> bool {
        let Some(max) = self.max_compute else { return false };
        let recent = self.recent_ns.load(Ordering::Relaxed);
        recent != UNMEASURED && u128::from(recent) <= max.as_nanos()
    }

    /// Folds one model call (its duration and how many requests it served)
    /// into the averages, each with weight 1/8: one slow call or one full
    /// batch moves them, a single small one does not undo that history.
    /// Racing updates may lose a sample, which an average can afford.
    pub fn record(&self, took: Duration, requests: usize) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(UNMEASURED - 1);
        let old = self.recent_ns.load(Ordering::Relaxed);
        let new = if old == UNMEASURED { sample } else { average(old, sample) };
        self.recent_ns.store(new, Ordering::Relaxed);
        let size = u64::try_from(requests).unwrap_or(u64::MAX / ONE_REQUEST).saturating_mul(ONE_REQUEST);
        let old = self.recent_batch.load(Ordering::Relaxed);
        self.recent_batch.store(average(old, size), Ordering::Relaxed);
    }
}

fn average(old: u64, sample: u64) -> u64 {
    old - old / 8 + sample / 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_measured_short_calls_qualify() {
        let gate = InlineGate::new(Some(Duration::from_micros(100)));
        assert!(!gate.worth_it(), "unmeasured");
        gate.record(Duration::from_micros(20), 1);
        assert!(gate.worth_it());
        for _ in 0..20 {
            gate.record(Duration::from_millis(5), 1);
        }
        assert!(!gate.worth_it(), "a slow history keeps it off");
        let off = InlineGate::new(None);
        off.record(Duration::from_nanos(1), 1);
        assert!(!off.worth_it(), "disabled");
    }

    #[test]
    fn batching_load_keeps_requests_queued_until_it_subsides() {
        let gate = InlineGate::new(Some(Duration::from_micros(100)));
        gate.record(Duration::from_micros(20), 1);
        gate.record(Duration::from_micros(20), 8);
        assert!(!gate.worth_it(), "one batch of eight is load");
        let mut calls = 0;
        while !gate.worth_it() {
            gate.record(Duration::from_micros(20), 1);
            calls += 1;
        }
        assert!((2..=8).contains(&calls), "back after {calls} lone calls");
    }

    #[test]
    fn alone_means_nothing_else_in_flight() {
        let gate = InlineGate::new(Some(Duration::from_micros(100)));
        let first = gate.enter();
        let second = gate.enter();
        assert!(first.alone() && !second.alone());
        drop(first);
        drop(second);
        assert!(gate.enter().alone(), "both released");
    }
}
