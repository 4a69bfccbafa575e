//! Connection metrics per listener: open connections, and connections the
//! server closed for a limit (idle, a request head too slow to arrive) or a
//! failed TLS handshake.

use prometheus::{IntCounterVec, IntGaugeVec, Opts};

#[derive(Clone)]
pub struct ConnectionMetrics {
    open: prometheus::IntGauge,
    idle: prometheus::IntCounter,
    header_timeout: prometheus::IntCounter,
    tls_handshake: prometheus::IntCounter,
}

/// The metric families, registered once and labelled per listener.
#[derive(Clone)]
pub struct ConnectionMetricFamilies {
    open: IntGaugeVec,
    closed: IntCounterVec,
}

impl ConnectionMetricFamilies {
    pub fn register(metrics_registry: &prometheus::Registry) -> prometheus::Result<Self> {
        let open = IntGaugeVec::new(Opts::new("sluice_open_connections", "Open client connections"), &["listener"])?;
        let closed = IntCounterVec::new(
            Opts::new("sluice_connections_closed_total", "Connections the server closed for a limit"),
            &["listener", "reason"],
        )?;
        metrics_registry.register(Box::new(open.clone()))?;
        metrics_registry.register(Box::new(closed.clone()))?;
        Ok(ConnectionMetricFamilies { open, closed })
    }

    pub fn listener(&self, name: &str) -> ConnectionMetrics {
        ConnectionMetrics {
            open: self.open.with_label_values(&[name]),
            idle: self.closed.with_label_values(&[name, "idle"]),
            header_timeout: self.closed.with_label_values(&[name, "header_timeout"]),
            tls_handshake: self.closed.with_label_values(&[name, "tls_handshake"]),
        }
    }
}

/// Counts an open connection until dropped.
pub struct Open(prometheus::IntGauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ConnectionMetrics {
    pub fn opened(&self) -> Open {
        self.open.inc();
        Open(self.open.clone())
    }

    pub fn idle_closed(&self) {
        self.idle.inc();
    }

    pub fn header_timed_out(&self) {
        self.header_timeout.inc();
    }

    /// A TLS handshake failed: no or an untrusted client certificate, a
    /// client that does not trust ours, or plain HTTP on a TLS port.
    pub fn tls_failed(&self, error: &std::io::Error) {
        self.tls_handshake.inc();
        tracing::debug!(%error, "TLS handshake failed");
    }

    /// A connection ended with an error: counted when it was the header
    /// timeout; anything else (resets, bad requests) is the client's doing.
    pub fn ended_with(&self, error: &hyper::Error) {
        if error.is_timeout() {
            self.header_timeout.inc();
        } else {
            tracing::debug!(%error, "connection ended with an error");
        }
    }
}
