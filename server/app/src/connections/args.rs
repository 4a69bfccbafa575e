//! The command-line flags of the connection layer: limits and TLS
//! (flattened into `sluice serve`'s flags).

use std::path::PathBuf;

use crate::seconds_arg::{parse_positive_seconds, parse_seconds};

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Open connections per listener (REST, gRPC, metrics); beyond it new connections wait to be accepted.
    #[arg(long, env = "SLUICE_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits")]
    pub max_connections: u32,

    /// Seconds an HTTP/1 client gets to send a request's head (line and headers), on a new connection or between
    /// requests on a kept-alive one; slower connections are closed (slowloris).
    #[arg(long, env = "SLUICE_HEADER_READ_TIMEOUT_SECS", default_value_t = 10.0, value_parser = parse_positive_seconds,
          help_heading = "Limits")]
    pub header_read_timeout_secs: f64,

    /// Seconds a connection with no request in flight stays open (0: forever). Longer than load balancers' own
    /// idle timeouts (60 s on most), so they close first.
    #[arg(long, env = "SLUICE_IDLE_TIMEOUT_SECS", default_value_t = 120.0, value_parser = parse_seconds,
          help_heading = "Limits")]
    pub idle_timeout_secs: f64,

    /// Concurrent streams (requests) one HTTP/2 connection may open.
    #[arg(long, env = "SLUICE_HTTP2_MAX_CONCURRENT_STREAMS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits")]
    pub http2_max_concurrent_streams: u32,

    /// Seconds between HTTP/2 keepalive pings that find dead peers (0: no pings).
    #[arg(long, env = "SLUICE_HTTP2_KEEPALIVE_INTERVAL_SECS", default_value_t = 60.0, value_parser = parse_seconds,
          help_heading = "Limits")]
    pub http2_keepalive_interval_secs: f64,

    /// Seconds a keepalive ping may go unanswered before the connection is closed.
    #[arg(long, env = "SLUICE_HTTP2_KEEPALIVE_TIMEOUT_SECS", default_value_t = 20.0,
          value_parser = parse_positive_seconds, help_heading = "Limits")]
    pub http2_keepalive_timeout_secs: f64,

    /// Serve REST and gRPC over TLS with this PEM certificate chain (with --tls-key); re-read when it changes.
    #[arg(long, env = "SLUICE_TLS_CERT", value_name = "PEM", requires = "tls_key", help_heading = "Security")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SLUICE_TLS_KEY", value_name = "PEM", requires = "tls_cert", help_heading = "Security")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this PEM CA bundle (mutual TLS).
    #[arg(long, env = "SLUICE_TLS_CLIENT_CA", value_name = "PEM", requires = "tls_cert", help_heading = "Security")]
    pub tls_client_ca: Option<PathBuf>,

    /// Seconds between checks of the TLS files for changes (a rotated Kubernetes Secret).
    #[arg(long, env = "SLUICE_TLS_RELOAD_SECS", default_value_t = 10.0, value_parser = parse_positive_seconds,
          help_heading = "Security")]
    pub tls_reload_secs: f64,
}
