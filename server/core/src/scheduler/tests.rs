//! Scheduler behaviour with a recording backend: batching, row splitting,
//! refusal when full, cancellation, and surviving a panicking model.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Scheduler, SchedulerConfig};
use crate::error::{BackendError, InferError};
use crate::metrics::{Metrics, VersionMetrics};
use crate::model::backend::{Backend, Batch, BatchOutput, ModelMetadata, TensorSpec};
use crate::tensor::Tensor;
use crate::tensor::datatype::DataType;
use crate::tensor::elements::{f32_bytes, f32_values};

/// When each call started and ended, and on which thread.
type Spans = Arc<Mutex<Vec<(std::time::Instant, std::time::Instant, String)>>>;

/// Doubles its input; records every batch's row count; panics on NaN.
struct Doubler {
    metadata: ModelMetadata,
    batches: Arc<Mutex<Vec<usize>>>,
    delay: Duration,
    spans: Spans,
}

impl Backend for Doubler {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn infer(&mut self, batch: Batch) -> Result<BatchOutput, BackendError> {
        let input = &batch.inputs[0];
        self.batches.lock().expect("lock").push(input.rows());
        let began = std::time::Instant::now();
        std::thread::sleep(self.delay);
        let thread = std::thread::current().name().unwrap_or_default().to_string();
        self.spans.lock().expect("lock").push((began, std::time::Instant::now(), thread));
        let values = f32_values(&input.data);
        assert!(!values.iter().any(|v| v.is_nan()), "NaN input");
        let doubled: Vec<f32> = values.iter().map(|v| v * 2.0).collect();
        Ok(BatchOutput { outputs: vec![Tensor::new("y", DataType::Fp32, input.shape.clone(), f32_bytes(&doubled))] })
    }
}

fn doubler(batches: &Arc<Mutex<Vec<usize>>>, delay: Duration, spans: &Spans) -> Doubler {
    let spec = |name: &str| TensorSpec { name: name.into(), datatype: DataType::Fp32, shape: vec![-1, 2] };
    Doubler {
        metadata: ModelMetadata { platform: "test".into(), inputs: vec![spec("x")], outputs: vec![spec("y")] },
        batches: batches.clone(),
        delay,
        spans: spans.clone(),
    }
}

fn scheduler_config(max_batch_size: usize, delay: Duration, preferred: Vec<usize>, queue: usize) -> SchedulerConfig {
    SchedulerConfig {
        max_batch_size,
        max_queue_delay: delay,
        preferred_batch_sizes: preferred,
        max_queue_size: queue,
        default_timeout: None,
        inline_max_compute: Some(Duration::from_micros(100)),
    }
}

fn launch(instances: Vec<Box<dyn Backend>>, config: SchedulerConfig) -> Arc<Scheduler> {
    let metrics = VersionMetrics::new(Metrics::unregistered(), Default::default(), "test", 1);
    Arc::new(Scheduler::start("test", instances, config, metrics).expect("starts"))
}

fn start(max_batch: usize, delay_us: u64, queue: usize, compute: Duration) -> (Arc<Scheduler>, Arc<Mutex<Vec<usize>>>) {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = doubler(&batches, compute, &Spans::default());
    let config = scheduler_config(max_batch, Duration::from_micros(delay_us), Vec::new(), queue);
    (launch(vec![Box::new(backend)], config), batches)
}

fn input(rows: usize, base: f32) -> Vec<Tensor> {
    let values: Vec<f32> = (0..rows * 2).map(|i| base + i as f32).collect();
    vec![Tensor::new("x", DataType::Fp32, vec![rows, 2], f32_bytes(&values))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_a_batch_and_get_their_own_rows() {
    let (scheduler, batches) = start(16, 300_000, 100, Duration::ZERO);
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let s = scheduler.clone();
            tokio::spawn(async move { s.submit(input(1 + i % 2, i as f32 * 100.0), 1 + i % 2, None).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task.await.expect("join").expect("ok");
        let rows = 1 + i % 2;
        let want: Vec<f32> = (0..rows * 2).map(|j| 2.0 * (i as f32 * 100.0 + j as f32)).collect();
        assert_eq!(f32_values(&out[0].data), want);
        assert_eq!(out[0].shape, vec![rows, 2]);
    }
    assert_eq!(*batches.lock().expect("lock"), vec![9], "all six requests ran as one batch of 9 rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once() {
    let (scheduler, batches) = start(1, 0, 2, Duration::from_millis(300));
    let spawn = |s: Arc<Scheduler>| tokio::spawn(async move { s.submit(input(1, 0.0), 1, None).await });
    let running = spawn(scheduler.clone());
    wait_for(|| batches.lock().expect("lock").len() == 1).await;
    // The instance is busy; two more fill the queue.
    let queued = [spawn(scheduler.clone()), spawn(scheduler.clone())];
    wait_for(|| scheduler.queue_depth() == 2).await;
    let refused = scheduler.submit(input(1, 0.0), 1, None).await;
    assert!(matches!(refused, Err(InferError::Overloaded(_))), "{refused:?}");
    assert!(running.await.expect("join").is_ok());
    for task in queued {
        assert!(task.await.expect("join").is_ok(), "queued requests still complete");
    }
    assert_eq!(scheduler.queue_depth(), 0);
}

#[test]
fn the_queue_depth_gauge_follows_requests_that_queue_and_leave_at_once() {
    // Stop 23's CI saw the gauge stuck at 1 with two requests queued: each
    // request set the gauge to its own count, and the older one set it last.
    // Two threads queue together and leave together (their deadline passes),
    // many times over; after each round the gauge must read 0 again.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let metrics = Metrics::unregistered();
    let version = VersionMetrics::new(metrics.clone(), Default::default(), "test", 1);
    let backend = doubler(&Arc::default(), Duration::ZERO, &Spans::default());
    let config = scheduler_config(64, Duration::from_secs(60), Vec::new(), 64);
    let scheduler =
        runtime.block_on(async { Scheduler::start("test", vec![Box::new(backend)], config, version).expect("starts") });
    let gauge = metrics.queue_depth.with_label_values(&["test", "1"]);
    let rounds = std::sync::Barrier::new(2);
    let stale = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let (scheduler, runtime, rounds, gauge, stale) = (&scheduler, &runtime, &rounds, &gauge, &stale);
            scope.spawn(move || {
                for _ in 0..2000 {
                    rounds.wait();
                    let expired = runtime.block_on(scheduler.submit(input(1, 0.0), 1, Some(Duration::from_micros(50))));
                    assert!(matches!(expired, Err(InferError::Timeout(_))), "{expired:?}");
                    rounds.wait();
                    if thread == 0 && gauge.get() != 0 {
                        stale.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(stale.into_inner(), 0, "rounds that left the gauge above an empty queue");
    assert_eq!(scheduler.queue_depth(), 0);
}

/// Submits one 1-row request from a task of its own.
fn submit_in_background(scheduler: &Arc<Scheduler>) -> tokio::task::JoinHandle<Result<Vec<Tensor>, InferError>> {
    let s = scheduler.clone();
    tokio::spawn(async move { s.submit(input(1, 0.0), 1, None).await })
}

async fn wait_for(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_are_not_computed() {
    let (scheduler, batches) = start(1, 0, 10, Duration::from_millis(100));
    let first = submit_in_background(&scheduler);
    wait_for(|| batches.lock().expect("lock").len() == 1).await;
    // Queued behind the busy instance, then the client goes away.
    let gone = tokio::time::timeout(Duration::from_millis(10), scheduler.submit(input(1, 5.0), 1, None)).await;
    assert!(gone.is_err(), "timed out while queued");
    first.await.expect("join").expect("first completes");
    let last = scheduler.submit(input(1, 1.0), 1, None).await.expect("ok");
    assert_eq!(f32_values(&last[0].data), vec![2.0, 4.0]);
    assert_eq!(*batches.lock().expect("lock"), vec![1, 1], "the abandoned request never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_model_fails_the_batch_not_the_server() {
    let (scheduler, _) = start(4, 0, 10, Duration::ZERO);
    let bad = vec![Tensor::new("x", DataType::Fp32, vec![1, 2], f32_bytes(&[f32::NAN, 1.0]))];
    let err = scheduler.submit(bad, 1, None).await.expect_err("panics");
    assert!(matches!(err, InferError::Backend(_)), "{err:?}");
    let ok = scheduler.submit(input(1, 1.0), 1, None).await.expect("instance survived");
    assert_eq!(f32_values(&ok[0].data), vec![2.0, 4.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_expires_in_the_queue_is_answered_and_never_runs() {
    let (scheduler, batches) = start(4, 0, 10, Duration::from_millis(150));
    let running = submit_in_background(&scheduler);
    wait_for(|| batches.lock().expect("lock").len() == 1).await;
    let asked = std::time::Instant::now();
    let expired = scheduler.submit(input(1, 9.0), 1, Some(Duration::from_millis(20))).await;
    assert!(matches!(expired, Err(InferError::Timeout(_))), "{expired:?}");
    assert!(asked.elapsed() < Duration::from_millis(140), "answered at its deadline, not after the batch");
    assert_eq!(scheduler.queue_depth(), 0, "the expired request left the queue");
    running.await.expect("join").expect("first completes");
    scheduler.submit(input(1, 1.0), 1, None).await.expect("ok");
    assert_eq!(*batches.lock().expect("lock"), vec![1, 1], "the expired request never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preferred_batch_size_dispatches_before_the_delay() {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = doubler(&batches, Duration::ZERO, &Spans::default());
    let scheduler = launch(vec![Box::new(backend)], scheduler_config(16, Duration::from_secs(5), vec![4], 100));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let s = scheduler.clone();
            tokio::spawn(async move { s.submit(input(1, i as f32), 1, None).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("ok");
    }
    assert!(started.elapsed() < Duration::from_secs(4), "did not wait for the 5 s delay");
    assert_eq!(*batches.lock().expect("lock"), vec![4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_run_batches_in_parallel() {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let spans = Spans::default();
    let instances: Vec<Box<dyn Backend>> =
        (0..3).map(|_| Box::new(doubler(&batches, Duration::from_millis(200), &spans)) as Box<dyn Backend>).collect();
    let scheduler = launch(instances, scheduler_config(0, Duration::ZERO, Vec::new(), 100));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let s = scheduler.clone();
            tokio::spawn(async move { s.submit(input(1, i as f32), 1, None).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("ok");
    }
    let spans = spans.lock().expect("lock");
    assert_eq!(spans.len(), 3);
    let last_start = spans.iter().map(|s| s.0).max().expect("spans");
    let first_end = spans.iter().map(|s| s.1).min().expect("spans");
    assert!(last_start < first_end, "the three calls ran at the same time on three instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_version_with_short_calls_runs_requests_on_the_callers_thread() {
    let spans = Spans::default();
    let backend = doubler(&Arc::default(), Duration::ZERO, &spans);
    // A generous limit: a loaded test machine must not make the calls "long".
    let mut config = scheduler_config(8, Duration::ZERO, Vec::new(), 10);
    config.inline_max_compute = Some(Duration::from_secs(1));
    let scheduler = launch(vec![Box::new(backend)], config);
    for i in 0..4 {
        // Lets the instance thread let go of the instance after answering.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let out = scheduler.submit(input(2, i as f32), 2, None).await.expect("ok");
        assert_eq!(
            f32_values(&out[0].data),
            vec![2.0 * i as f32, 2.0 * i as f32 + 2.0, 2.0 * i as f32 + 4.0, 2.0 * i as f32 + 6.0]
        );
    }
    let threads: Vec<String> = spans.lock().expect("lock").iter().map(|s| s.2.clone()).collect();
    assert_eq!(threads[0], "test#0", "unmeasured: the first call goes through the instance thread");
    assert!(threads[1..].iter().all(|t| t != "test#0"), "later calls ran inline: {threads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_calls_and_batching_delays_always_queue() {
    let slow = Spans::default();
    let backend = doubler(&Arc::default(), Duration::from_millis(2), &slow);
    let scheduler = launch(vec![Box::new(backend)], scheduler_config(8, Duration::ZERO, Vec::new(), 10));
    let delayed = Spans::default();
    let backend = doubler(&Arc::default(), Duration::ZERO, &delayed);
    let waiting = launch(vec![Box::new(backend)], scheduler_config(8, Duration::from_micros(50), Vec::new(), 10));
    for i in 0..3 {
        scheduler.submit(input(1, i as f32), 1, None).await.expect("ok");
        waiting.submit(input(1, i as f32), 1, None).await.expect("ok");
    }
    for spans in [slow, delayed] {
        let threads: Vec<String> = spans.lock().expect("lock").iter().map(|s| s.2.clone()).collect();
        assert_eq!(threads, vec!["test#0"; 3]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inline_and_queued_calls_never_share_an_instance() {
    let spans = Spans::default();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = doubler(&batches, Duration::from_millis(5), &spans);
    let mut config = scheduler_config(8, Duration::ZERO, Vec::new(), 100);
    config.inline_max_compute = Some(Duration::from_secs(1));
    let scheduler = launch(vec![Box::new(backend)], config);
    scheduler.submit(input(1, 0.0), 1, None).await.expect("measured");
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let s = scheduler.clone();
            tokio::spawn(async move { (i, s.submit(input(1, i as f32), 1, None).await) })
        })
        .collect();
    for task in tasks {
        let (i, out) = task.await.expect("join");
        assert_eq!(f32_values(&out.expect("ok")[0].data), vec![2.0 * i as f32, 2.0 * i as f32 + 2.0]);
    }
    let mut spans = spans.lock().expect("lock").clone();
    spans.sort_by_key(|s| s.0);
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "calls overlapped on one instance");
    assert!(spans.iter().any(|s| s.2 == "test#0"), "the concurrent requests queued for the instance thread");
    assert_eq!(batches.lock().expect("lock").iter().sum::<usize>(), 13, "every request ran exactly once");
}

/// Six requests made ready together on one worker while the instance thread
/// is parked; returns the batches run and the threads that ran them.
async fn six_ready_together(arrival: super::Arrival) -> (Vec<usize>, Vec<String>) {
    let spans = Spans::default();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = doubler(&batches, Duration::ZERO, &spans);
    let mut config = scheduler_config(8, Duration::ZERO, Vec::new(), 100);
    config.inline_max_compute = Some(Duration::from_secs(1));
    let scheduler = launch(vec![Box::new(backend)], config);
    scheduler.submit(input(1, 0.0), 1, None).await.expect("measured");
    // Lets the instance thread park.
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Requests in flight (held here): enough that a caller may lead on this
    // one-worker runtime, and none of the six is alone (which would run it
    // inline at once, before the next is even polled).
    let _busy: Vec<_> = (0..super::LEAD_PER_WORKER).map(|_| scheduler.gate.enter()).collect();
    let tasks: Vec<_> = (1..=6)
        .map(|i| {
            let s = scheduler.clone();
            tokio::spawn(async move { (i, s.submit_as(input(1, i as f32), 1, None, arrival).await) })
        })
        .collect();
    for task in tasks {
        let (i, out) = task.await.expect("join");
        assert_eq!(f32_values(&out.expect("ok")[0].data), vec![2.0 * i as f32, 2.0 * i as f32 + 2.0]);
    }
    let batches = batches.lock().expect("lock")[1..].to_vec();
    let threads = spans.lock().expect("lock")[1..].iter().map(|s| s.2.clone()).collect();
    (batches, threads)
}

#[tokio::test(flavor = "current_thread")]
async fn requests_ready_on_one_worker_join_the_batch_a_caller_leads() {
    let (batches, threads) = six_ready_together(super::Arrival::PerConnection).await;
    assert_eq!(batches, vec![6], "one batch of all six");
    assert!(threads.iter().all(|t| t != "test#0"), "run by the leading caller, not the instance thread: {threads:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn per_stream_callers_never_lead() {
    let (batches, threads) = six_ready_together(super::Arrival::PerStream).await;
    assert_eq!(batches.iter().sum::<usize>(), 6, "{batches:?}");
    assert!(threads.iter().all(|t| t == "test#0"), "{threads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_goes_away_before_running_leaves_nothing_stranded() {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = doubler(&batches, Duration::ZERO, &Spans::default());
    let mut config = scheduler_config(8, Duration::ZERO, Vec::new(), 100);
    config.inline_max_compute = Some(Duration::from_secs(1));
    let scheduler = launch(vec![Box::new(backend)], config);
    scheduler.submit(input(1, 0.0), 1, None).await.expect("measured");
    let _busy: Vec<_> = (0..2 * super::LEAD_PER_WORKER).map(|_| scheduler.gate.enter()).collect();
    for round in 0..200 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        // A leader dropped at its yield (its client left), a follower that
        // queued behind it: the follower must still be answered.
        let leader = {
            let s = scheduler.clone();
            tokio::spawn(async move { s.submit(input(1, 1.0), 1, None).await })
        };
        let follower = {
            let s = scheduler.clone();
            tokio::spawn(async move { s.submit(input(1, 2.0), 1, None).await })
        };
        leader.abort();
        let answered = tokio::time::timeout(Duration::from_secs(5), follower).await;
        assert!(matches!(answered, Ok(Ok(Ok(_)))), "round {round}: the follower was stranded");
    }
}
