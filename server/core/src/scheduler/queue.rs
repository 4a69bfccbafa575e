//! The queue a model version's instance threads take batches from.
//!
//! Callers drop requests into a lock-free intake; an idle instance thread
//! moves them into the batch-forming state, forms the next batch itself and
//! runs it. A request therefore reaches a model in one hand-off (caller →
//! instance thread), a busy instance that finishes a batch takes the next
//! one without sleeping or being woken, and a caller never waits for a lock
//! an instance thread holds (on a busy machine that thread may be preempted
//! while holding it, and the caller's async worker would stall with it):
//! idle threads park, and a caller unparks one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::thread::Thread;
use std::time::Instant;

use super::state::{BatchPolicy, Decision, Pending, State};

/// Below this many requests waiting in the intake, abandoned ones are not
/// worth a sweep.
const MIN_SWEEP: usize = 64;

pub struct SharedQueue {
    policy: BatchPolicy,
    intake: mpsc::Sender<Pending>,
    inner: Mutex<Inner>,
    /// One per instance thread, by index.
    waiters: Vec<Waiter>,
    /// False once the version is unloading: nothing new is accepted, and the
    /// threads finish what is queued, then stop.
    open: AtomicBool,
    /// Requests pushed since the intake was last drained.
    undrained: AtomicUsize,
    /// A caller is collecting the next batch to run it itself.
    leader: AtomicBool,
    /// Intake length at which a caller sweeps abandoned requests. While every
    /// instance is busy nobody drains the intake, so requests whose clients
    /// left (and whose depth was already released) would otherwise pile up.
    sweep_at: AtomicUsize,
}

/// An instance thread as a caller sees it: whether it is parked (or about to
/// park) for lack of work, and how to wake it.
#[derive(Default)]
struct Waiter {
    thread: OnceLock<Thread>,
    idle: AtomicBool,
}

/// What only instance threads (and an opportunistic sweeper) touch.
struct Inner {
    intake: mpsc::Receiver<Pending>,
    state: State,
}

impl Inner {
    /// Moves everything in the intake into the batch-forming state.
    fn drain(&mut self, undrained: &AtomicUsize) {
        undrained.store(0, Ordering::Relaxed);
        while let Ok(pending) = self.intake.try_recv() {
            self.state.push(pending);
        }
    }
}

impl SharedQueue {
    /// A queue for `threads` instance threads, which call `next_batch` with
    /// their index.
    pub fn new(policy: BatchPolicy, threads: usize) -> Self {
        let (tx, rx) = mpsc::channel();
        SharedQueue {
            policy,
            intake: tx,
            inner: Mutex::new(Inner { intake: rx, state: State::default() }),
            waiters: (0..threads).map(|_| Waiter::default()).collect(),
            open: AtomicBool::new(true),
            undrained: AtomicUsize::new(0),
            leader: AtomicBool::new(false),
            sweep_at: AtomicUsize::new(MIN_SWEEP),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics under this lock; a poisoned queue is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a request and, unless a caller leads the next batch (it will
    /// take the request), wakes an idle instance thread for it; gives it
    /// back when the version is unloading.
    pub fn push(&self, pending: Pending) -> Result<(), Pending> {
        self.push_quietly(pending)?;
        if !self.led() {
            self.wake_idle();
        }
        Ok(())
    }

    /// Queues a request without waking anyone: a caller leading a batch
    /// (`try_lead`) will take it, or wakes a thread when it steps down.
    pub fn push_quietly(&self, pending: Pending) -> Result<(), Pending> {
        if !self.open.load(Ordering::Acquire) {
            return Err(pending);
        }
        self.intake.send(pending).map_err(|e| e.0)?;
        if self.undrained.fetch_add(1, Ordering::Relaxed) + 1 >= self.sweep_at.load(Ordering::Relaxed) {
            self.sweep();
        }
        Ok(())
    }

    /// Unparks one idle instance thread, if any.
    pub fn wake_idle(&self) {
        // Pairs with the fence in `next_batch`: either this sees the idle
        // flag, or the thread sees every request queued before this call
        // before it parks. An unpark that comes before the park makes the
        // park return at once.
        fence(Ordering::SeqCst);
        let idle = self.waiters.iter().find(|w| w.idle.load(Ordering::Relaxed) && w.idle.swap(false, Ordering::AcqRel));
        if let Some(thread) = idle.and_then(|w| w.thread.get()) {
            thread.unpark();
        }
    }

    /// Whether every instance thread is parked for lack of work: nobody is
    /// draining the queue, so a caller may lead the next batch.
    pub fn all_idle(&self) -> bool {
        self.waiters.iter().all(|w| w.idle.load(Ordering::Relaxed))
    }

    /// Makes the caller the leader of the next batch unless another is.
    pub fn try_lead(&self) -> bool {
        !self.leader.load(Ordering::Relaxed) && !self.leader.swap(true, Ordering::AcqRel)
    }

    /// Whether a caller leads the next batch (and will take what is queued).
    pub fn led(&self) -> bool {
        // Pairs with the fence in `step_down`: either this sees the leader,
        // or the leader sees the request pushed before this call.
        fence(Ordering::SeqCst);
        self.leader.load(Ordering::Relaxed)
    }

    /// Ends a caller's lead.
    pub fn step_down(&self) {
        self.leader.store(false, Ordering::Release);
        fence(Ordering::SeqCst);
    }

    /// Takes a batch that is due now, without waiting for any lock: for a
    /// leading caller that holds a free instance. `None` when nothing is
    /// due or an instance thread is forming a batch.
    pub fn try_take_batch(&self) -> Option<Vec<Pending>> {
        let mut inner = self.inner.try_lock().ok()?;
        inner.drain(&self.undrained);
        inner.state.drop_abandoned();
        match inner.state.decide(Instant::now(), &self.policy) {
            Decision::Run(rows) => Some(inner.state.take_batch(rows)).filter(|batch| !batch.is_empty()),
            Decision::Idle | Decision::WaitUntil(_) => None,
        }
    }

    /// Forgets abandoned requests if no instance thread holds the queue.
    fn sweep(&self) {
        let Ok(mut inner) = self.inner.try_lock() else { return };
        inner.drain(&self.undrained);
        inner.state.drop_abandoned();
        self.sweep_at.store((inner.state.len() * 2).max(MIN_SWEEP), Ordering::Relaxed);
    }

    /// Stops accepting requests; the threads drain the queue and stop.
    pub fn close(&self) {
        self.open.store(false, Ordering::Release);
        // Pairs with the fence after a thread registers: either this sees
        // the thread and unparks it, or the thread sees the queue closed.
        fence(Ordering::SeqCst);
        for thread in self.waiters.iter().filter_map(|w| w.thread.get()) {
            thread.unpark();
        }
    }

    /// Blocks until the policy says a batch is due and takes it; `None` once
    /// the queue is closed and empty. Called by instance thread `index` only.
    pub fn next_batch(&self, index: usize) -> Option<Vec<Pending>> {
        let me = &self.waiters[index];
        me.thread.get_or_init(std::thread::current);
        fence(Ordering::SeqCst);
        let mut inner = self.lock();
        loop {
            inner.drain(&self.undrained);
            inner.state.drop_abandoned();
            let open = self.open.load(Ordering::Acquire);
            let rows = match inner.state.decide(Instant::now(), &self.policy) {
                Decision::Run(rows) => rows,
                Decision::Idle if !open => return None,
                Decision::WaitUntil(_) if !open => self.policy.max_rows,
                waiting => {
                    me.idle.store(true, Ordering::Relaxed);
                    fence(Ordering::SeqCst);
                    // A request pushed before the fence is in the intake now.
                    if let Ok(pending) = inner.intake.try_recv() {
                        me.idle.store(false, Ordering::Relaxed);
                        inner.state.push(pending);
                        continue;
                    }
                    // Park without the lock: another thread may form batches.
                    drop(inner);
                    match waiting {
                        Decision::WaitUntil(due) => {
                            std::thread::park_timeout(due.saturating_duration_since(Instant::now()))
                        }
                        _ => std::thread::park(),
                    }
                    me.idle.store(false, Ordering::Relaxed);
                    inner = self.lock();
                    continue;
                }
            };
            let batch = inner.state.take_batch(rows);
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;
    use crate::scheduler::state::Ticket;

    fn policy() -> BatchPolicy {
        BatchPolicy { max_rows: 8, preferred: Vec::new(), delay: Duration::ZERO }
    }

    #[test]
    fn requests_abandoned_while_no_thread_takes_batches_do_not_pile_up() {
        let queue = SharedQueue::new(policy(), 1);
        let mut live = Vec::new();
        for i in 0..10_000 {
            let (reply, answer) = oneshot::channel();
            queue.push(Pending::new(Vec::new(), 1, reply, Ticket::default())).expect("open");
            // One client in a hundred is still waiting; the rest have left.
            if i % 100 == 0 {
                live.push(answer);
            }
        }
        let held = {
            let mut inner = queue.lock();
            inner.drain(&queue.undrained);
            inner.state.len()
        };
        assert!(held <= 2 * MIN_SWEEP + live.len() * 2, "{held} entries held for {} live requests", live.len());
        let mut taken = 0;
        queue.close();
        while let Some(batch) = queue.next_batch(0) {
            taken += batch.len();
        }
        assert_eq!(taken, live.len(), "every live request is still served, no abandoned one is");
    }

    #[test]
    fn an_idle_thread_is_woken_by_a_push_and_a_closed_queue_ends_it() {
        let queue = std::sync::Arc::new(SharedQueue::new(policy(), 1));
        let taker = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let mut sizes = Vec::new();
                while let Some(batch) = queue.next_batch(0) {
                    sizes.push(batch.len());
                }
                sizes
            })
        };
        let (reply, answer) = oneshot::channel();
        while !queue.waiters[0].idle.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        queue.push(Pending::new(Vec::new(), 1, reply, Ticket::default())).expect("open");
        assert!(answer.blocking_recv().is_err(), "taken, and dropped by the taker");
        queue.close();
        let (reply, _late) = oneshot::channel();
        assert!(queue.push(Pending::new(Vec::new(), 1, reply, Ticket::default())).is_err(), "closed");
        assert_eq!(taker.join().expect("joins"), vec![1]);
    }

    #[test]
    fn a_request_pushed_while_the_thread_goes_idle_is_never_missed() {
        // Thousands of idle → park → unpark cycles, each push racing the
        // thread on its way to park: a lost wake-up leaves a request unanswered.
        let queue = std::sync::Arc::new(SharedQueue::new(policy(), 1));
        let taker = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                while let Some(batch) = queue.next_batch(0) {
                    for pending in batch {
                        let _ = pending.reply.send(Ok(Vec::new()));
                    }
                }
            })
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        for round in 0..5_000 {
            let (reply, answer) = oneshot::channel();
            queue.push(Pending::new(Vec::new(), 1, reply, Ticket::default())).expect("open");
            let answered = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), answer).await });
            assert!(matches!(answered, Ok(Ok(Ok(_)))), "round {round} was never taken");
        }
        queue.close();
        taker.join().expect("the thread ends once the queue is closed");
    }
}
