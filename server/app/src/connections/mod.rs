//! Serving a router on a listener within connection-level limits, the same
//! way for REST, gRPC and the metrics port: at most `max_connections` open
//! at once (beyond, new ones wait in the kernel's accept queue), the request
//! head must arrive within the header timeout (slowloris), connections with
//! nothing in flight close after the idle timeout, and HTTP/2 connections
//! carry a bounded number of streams and are pinged to find dead peers.
//! On shutdown the listener closes, every connection is asked to finish
//! (HTTP/1: after the current response; HTTP/2: GOAWAY) and this returns
//! when all have.

mod activity;
pub mod args;
pub mod metrics;
pub mod tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use activity::Activity;
pub use metrics::ConnectionMetrics;
use tls::Tls;

/// Connection-level limits, from the command line.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// `None`: idle connections stay open.
    pub idle_timeout: Option<Duration>,
    pub http2_max_concurrent_streams: u32,
    /// `None`: no keepalive pings.
    pub http2_keepalive_interval: Option<Duration>,
    pub http2_keepalive_timeout: Duration,
}

impl ConnectionLimits {
    pub fn from_config(config: &crate::Config) -> Self {
        let config = &config.connections;
        let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
        ConnectionLimits {
            max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: secs(config.header_read_timeout_secs),
            idle_timeout: (config.idle_timeout_secs > 0.0).then(|| secs(config.idle_timeout_secs)),
            http2_max_concurrent_streams: config.http2_max_concurrent_streams,
            http2_keepalive_interval: (config.http2_keepalive_interval_secs > 0.0)
                .then(|| secs(config.http2_keepalive_interval_secs)),
            http2_keepalive_timeout: secs(config.http2_keepalive_timeout_secs),
        }
    }

    fn http1(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(self.header_read_timeout);
        builder
    }

    fn http2(&self) -> http2::Builder<TokioExecutor> {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.http2_max_concurrent_streams)
            .keep_alive_interval(self.http2_keepalive_interval)
            .keep_alive_timeout(self.http2_keepalive_timeout);
        builder
    }
}

/// TLS for a listener, and the protocol its clients speak when they
/// negotiate none (ALPN): HTTP/1.1 for REST, HTTP/2 for gRPC.
#[derive(Clone)]
pub struct Secure {
    pub tls: Arc<Tls>,
    pub without_alpn: Protocol,
}

/// Serves `router` until `shutdown` completes, then drains (see the module
/// comment); over TLS when `secure` is set.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    secure: Option<Secure>,
    metrics: ConnectionMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let builders = Arc::new(Builders { http1: limits.http1(), http2: limits.http2() });
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Waiting for a free slot before accepting leaves connections beyond
        // the limit in the kernel's queue instead of holding memory here.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            builders: builders.clone(),
            router: router.clone(),
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            secure: secure.clone(),
            closing: closing.clone(),
            metrics: metrics.clone(),
            _permit: permit,
        };
        connections.spawn(connection.run(tcp));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Out of file descriptors or memory: wait a little instead of spinning on
/// accept; a connection reset before it was accepted is nothing to wait for.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "accept failed; retrying in 50 ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

struct Connection {
    builders: Arc<Builders>,
    router: Router,
    header_read_timeout: Duration,
    idle_timeout: Option<Duration>,
    secure: Option<Secure>,
    closing: watch::Receiver<bool>,
    metrics: ConnectionMetrics,
    /// Frees this connection's slot when the connection ends.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        // Small request/response pairs: do not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let _open = self.metrics.opened();
        // The first bytes (the protocol, or the TLS handshake) must come
        // within the header timeout like the rest of a request head: hyper's
        // own timer starts only once it is reading an HTTP/1 head.
        let limit = self.header_read_timeout;
        match self.secure.clone() {
            None => match tokio::time::timeout(limit, sniff(&tcp)).await {
                Ok(Some(protocol)) => self.serve(TokioIo::new(tcp), protocol).await,
                Ok(None) => {}
                Err(_) => self.metrics.header_timed_out(),
            },
            Some(secure) => match tokio::time::timeout(limit, secure.tls.acceptor().accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let protocol = match stream.get_ref().1.alpn_protocol() {
                        Some(b"h2") => Protocol::Http2,
                        Some(_) => Protocol::Http1,
                        None => secure.without_alpn,
                    };
                    self.serve(TokioIo::new(stream), protocol).await;
                }
                Ok(Err(error)) => self.metrics.tls_failed(&error),
                Err(_) => self.metrics.header_timed_out(),
            },
        }
    }

    async fn serve<I>(self, io: TokioIo<I>, protocol: Protocol)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        let router = self.router.clone();
        let tracked = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let busy = tracked.begin();
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(axum::body::Body::new)).await;
                response.map(|r| r.map(|body| axum::body::Body::new(activity::TrackedBody::new(body, busy))))
            }
        });
        let builders = self.builders.clone();
        match protocol {
            Protocol::Http2 => {
                let connection = builders.http2.serve_connection(io, service);
                self.drive(connection, &activity, |c| c.graceful_shutdown()).await;
            }
            Protocol::Http1 => {
                let connection = builders.http1.serve_connection(io, service);
                self.drive(connection, &activity, |c| c.graceful_shutdown()).await;
            }
        }
    }

    /// Runs a connection to its end, asking it to finish when the server
    /// shuts down or it has been idle too long.
    async fn drive<C>(mut self, connection: C, activity: &Activity, graceful_shutdown: impl Fn(Pin<&mut C>))
    where
        C: Future<Output = hyper::Result<()>>,
    {
        tokio::pin!(connection);
        let mut asked_to_close = false;
        loop {
            let idle_check = async {
                match self.idle_timeout {
                    Some(limit) if !asked_to_close => tokio::time::sleep(activity.until_idle_for(limit)).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        self.metrics.ended_with(&error);
                    }
                    return;
                }
                _ = self.closing.wait_for(|closing| *closing), if !asked_to_close => {
                    graceful_shutdown(connection.as_mut());
                    asked_to_close = true;
                }
                () = idle_check => {
                    if let Some(limit) = self.idle_timeout
                        && activity.idle_for() >= limit
                    {
                        self.metrics.idle_closed();
                        graceful_shutdown(connection.as_mut());
                        asked_to_close = true;
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// What every HTTP/2 connection starts with (RFC 9113, 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads (without consuming) until the first bytes tell HTTP/2's preface
/// from anything else; `None` if the client closed or the socket failed.
async fn sniff(tcp: &TcpStream) -> Option<Protocol> {
    let mut start = [0u8; 24];
    loop {
        tcp.readable().await.ok()?;
        let seen = match tcp.peek(&mut start).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        if start[..seen] != HTTP2_PREFACE[..seen] {
            return Some(Protocol::Http1);
        }
        if seen == HTTP2_PREFACE.len() {
            return Some(Protocol::Http2);
        }
        // A prefix of the preface: wait for more (peek returns at once
        // while the bytes it saw are still unread).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
