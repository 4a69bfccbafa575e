//! The async runtime, sized to the CPU the pod may use. A container limited
//! to two CPUs on a 64-core node must not start 64 workers that the CFS
//! quota then throttles; Rust's `available_parallelism` reads the cgroup
//! (v1 and v2) quota and the affinity mask, which is what Kubernetes sets.

use std::num::NonZeroUsize;

/// Builds the multi-threaded runtime with `requested` workers, or as many as
/// the CPU limit allows; returns it and the count.
pub fn build(requested: Option<u16>) -> std::io::Result<(tokio::runtime::Runtime, usize)> {
    let workers = requested.map_or_else(cpu_limit, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("sluice-worker")
        .enable_all()
        .build()?;
    Ok((runtime, workers))
}

/// CPUs this process may use: the cgroup quota rounded up, the affinity
/// mask, or 1 when neither can be read.
pub fn cpu_limit() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}
