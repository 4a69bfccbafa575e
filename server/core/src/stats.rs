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

    pub fn snapshot(&self) -> (u64, u64) {
        (self.count.load(Ordering::Relaxed), self.ns.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Default)]
pub struct ModelStats {
    pub success: DurationStat,
    pub fail: DurationStat,
    pub queue: DurationStat,
    pub compute_infer: DurationStat,
    /// Rows inferred (a batch of 8 rows is 8 inferences).
    inference_count: AtomicU64,
    /// Model calls (batches).
    execution_count: AtomicU64,
    last_inference_ms: AtomicU64,
    /// Per batch size: calls and their total compute time.
    batches: Mutex<BTreeMap<usize, (u64, u64)>>,
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
    pub success: (u64, u64),
    pub fail: (u64, u64),
    pub queue: (u64, u64),
    pub compute_infer: (u64, u64),
    /// (batch size, calls, total compute ns)
    pub batches: Vec<(usize, u64, u64)>,
}

impl ModelStats {
    /// One model call of `rows` rows for `requests` requests.
    pub fn record_batch(&self, rows: usize, requests: usize, compute: Duration) {
        self.inference_count.fetch_add(rows as u64, Ordering::Relaxed);
        self.execution_count.fetch_add(1, Ordering::Relaxed);
        self.compute_infer.add(requests as u64, compute * requests as u32);
        if let Ok(mut batches) = self.batches.lock() {
            let entry = batches.entry(rows).or_default();
            entry.0 += 1;
            entry.1 += compute.as_nanos() as u64;
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
            compute_infer: self.compute_infer.snapshot(),
            batches: self
                .batches
                .lock()
                .map(|b| b.iter().map(|(&size, &(calls, ns))| (size, calls, ns)).collect())
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
        stats.record_batch(8, 3, Duration::from_micros(100));
        stats.record_batch(8, 2, Duration::from_micros(50));
        stats.record_request(true, Duration::from_micros(400));
        stats.record_request(false, Duration::from_micros(10));
        let s = stats.snapshot("m", 2);
        assert_eq!((s.inference_count, s.execution_count), (16, 2));
        assert_eq!(s.compute_infer, (5, 400_000));
        assert_eq!(s.batches, vec![(8, 2, 150_000)]);
        assert_eq!(s.success, (1, 400_000));
        assert_eq!(s.fail.0, 1);
        assert!(s.last_inference_ms > 0);
    }
}
