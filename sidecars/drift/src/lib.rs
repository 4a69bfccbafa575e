//! sluice-drift: compares what a model serves with the training reference
//! its version was published with, using Evidently's drift tests.

pub mod cli;
pub mod drift_metrics;
pub mod html_report;
pub mod monitor;
pub mod reference;
pub mod score;
pub mod server_client;
pub mod server_tls;
pub mod stats;
pub mod trigger;
pub mod watch_server;
pub mod window;
