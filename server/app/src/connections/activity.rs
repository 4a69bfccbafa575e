//! What one connection is doing: requests in flight (a request counts until
//! its response body is done or dropped, so a long gRPC stream is never
//! "idle") and when the last one ended.

use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use std::sync::Arc;

pub struct Activity {
    in_flight: AtomicUsize,
    last_change: Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { in_flight: AtomicUsize::new(0), last_change: Mutex::new(Instant::now()) }
    }
}

impl Activity {
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Busy(self.clone())
    }

    fn touch(&self) {
        *self.last_change.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn last_change(&self) -> Instant {
        *self.last_change.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long nothing has been in flight (zero while something is).
    pub fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 { Duration::ZERO } else { self.last_change().elapsed() }
    }

    /// How long to wait before the connection could have been idle `limit`.
    pub fn until_idle_for(&self, limit: Duration) -> Duration {
        limit.saturating_sub(self.idle_for()).max(Duration::from_millis(10))
    }
}

/// One request in flight; ends when dropped.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is done.
pub struct TrackedBody {
    body: Body,
    busy: Option<Busy>,
}

impl TrackedBody {
    pub fn new(body: Body, busy: Busy) -> Self {
        TrackedBody { body, busy: Some(busy) }
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.busy = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
