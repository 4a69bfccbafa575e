//! Triton's statistics extension: cumulative per-model-version counts and
//! durations, kept with atomics beside the Prometheus metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A count and the total time of the things counted.
#[derive(Debug, Default)]
pub struct DurationStat {
    count: AtomicU64,
    ns: AtomicU64,
}

impl DurationStat {
    pub fn add(&self, count: u64, total: Duration) {
        self.count.fetch_add(count, Ordering::Relaxed);
        self.ns.fetch_add(total.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountedDuration {
        CountedDuration { count: self.count.load(Ordering::Relaxed), ns: self.ns.load(Ordering::Relaxed) }
    }
}

/// How many things were counted and their total time, in nanoseconds (as
/// Triton's statistics report it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountedDuration {
    pub count: u64,
    pub ns: u64,
}

/// One batch size's model calls, per phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    pub batch_size: usize,
    pub compute_input: CountedDuration,
    pub compute_infer: CountedDuration,
    pub compute_output: CountedDuration,
}

#[derive(Debug, Default)]
pub struct ModelStats {
    pub success: DurationStat,
    pub fail: DurationStat,
    pub queue: DurationStat,
    pub compute_input: DurationStat,
    pub compute_infer: DurationStat,
    pub compute_output: DurationStat,
    /// Rows inferred (a batch of 8 rows is 8 inferences).
    inference_count: AtomicU64,
    /// Model calls (batches).
    execution_count: AtomicU64,
    last_inference_ms: AtomicU64,
    /// Per batch size: calls and their total input, infer and output time.
    batches: Mutex<BTreeMap<usize, BatchTotals>>,
}

/// The three phases of one model call, as Triton splits them: assembling
/// the batch's inputs, running the model, splitting its outputs by request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ComputeTimes {
    pub input: Duration,
    pub infer: Duration,
    pub output: Duration,
}

/// Calls of one batch size and the total ns of each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchTotals {
    pub calls: u64,
    pub input_ns: u64,
    pub infer_ns: u64,
    pub output_ns: u64,
}

impl BatchTotals {
    fn stats(self, batch_size: usize) -> BatchStats {
        let phase = |ns| CountedDuration { count: self.calls, ns };
        BatchStats {
            batch_size,
            compute_input: phase(self.input_ns),
            compute_infer: phase(self.infer_ns),
            compute_output: phase(self.output_ns),
        }
    }
}

/// A point-in-time copy, for the protocol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    pub name: String,
    pub version: u64,
    /// Milliseconds since the Unix epoch of the last request (0 = none).
    pub last_inference_ms: u64,
    pub inference_count: u64,
    pub execution_count: u64,
    pub success: CountedDuration,
    pub fail: CountedDuration,
    pub queue: CountedDuration,
    pub compute_input: CountedDuration,
    pub compute_infer: CountedDuration,
    pub compute_output: CountedDuration,
    /// By batch size, smallest first.
    pub batches: Vec<BatchStats>,
}

impl ModelStats {
    /// One successful model call of `rows` rows for `requests` requests.
    /// As in Triton, each request is counted in every phase with the whole
    /// batch's time, so the three compute counts always agree.
    pub fn record_batch(&self, rows: usize, requests: usize, times: ComputeTimes) {
        self.inference_count.fetch_add(rows as u64, Ordering::Relaxed);
        self.execution_count.fetch_add(1, Ordering::Relaxed);
        let n = requests as u64;
        self.compute_input.add(n, times.input * requests as u32);
        self.compute_infer.add(n, times.infer * requests as u32);
        self.compute_output.add(n, times.output * requests as u32);
        if let Ok(mut batches) = self.batches.lock() {
            let entry = batches.entry(rows).or_default();
            entry.calls += 1;
            entry.input_ns += times.input.as_nanos() as u64;
            entry.infer_ns += times.infer.as_nanos() as u64;
            entry.output_ns += times.output.as_nanos() as u64;
        }
    }

    /// One finished request.
    pub fn record_request(&self, ok: bool, elapsed: Duration) {
        if ok { &self.success } else { &self.fail }.add(1, elapsed);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.last_inference_ms.store(now.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self, name: &str, version: u64) -> StatsSnapshot {
        StatsSnapshot {
            name: name.to_owned(),
            version,
            last_inference_ms: self.last_inference_ms.load(Ordering::Relaxed),
            inference_count: self.inference_count.load(Ordering::Relaxed),
            execution_count: self.execution_count.load(Ordering::Relaxed),
            success: self.success.snapshot(),
            fail: self.fail.snapshot(),
            queue: self.queue.snapshot(),
            compute_input: self.compute_input.snapshot(),
            compute_infer: self.compute_infer.snapshot(),
            compute_output: self.compute_output.snapshot(),
            batches: self
                .batches
                .lock()
                .map(|b| b.iter().map(|(&size, &t)| t.stats(size)).collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_like_tritons_statistics() {
        let stats = ModelStats::default();
        let times = |us: u64| ComputeTimes {
            input: Duration::from_micros(1),
            infer: Duration::from_micros(us),
            output: Duration::from_micros(2),
        };
        stats.record_batch(8, 3, times(100));
        stats.record_batch(8, 2, times(50));
        stats.record_request(true, Duration::from_micros(400));
        stats.record_request(false, Duration::from_micros(10));
        let s = stats.snapshot("m", 2);
        assert_eq!((s.inference_count, s.execution_count), (16, 2));
        let counted = |count, ns| CountedDuration { count, ns };
        assert_eq!(s.compute_infer, counted(5, 400_000));
        assert_eq!((s.compute_input, s.compute_output), (counted(5, 5_000), counted(5, 10_000)));
        let batch = BatchStats {
            batch_size: 8,
            compute_input: counted(2, 2_000),
            compute_infer: counted(2, 150_000),
            compute_output: counted(2, 4_000),
        };
        assert_eq!(s.batches, vec![batch]);
        assert_eq!(s.success, counted(1, 400_000));
        assert_eq!(s.fail.count, 1);
        assert!(s.last_inference_ms > 0);
    }
}
