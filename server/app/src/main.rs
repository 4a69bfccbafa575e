//! `sluice serve ...`: parse the configuration, bind, build, serve until
//! SIGINT/SIGTERM.

use clap::Parser;

// glibc's allocator spent ~11% of the CPU under load (requests are allocated
// on one thread and freed on another); mimalloc handles that pattern well.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sluice::config::{Cli, Command};
use sluice::{App, Listeners};

fn main() -> anyhow::Result<()> {
    let Command::Serve(config) = Cli::parse().command;
    sluice::logging::init(config.log_format, &config.log_level)?;
    let (runtime, workers) = sluice::runtime::build(config.worker_threads)?;
    tracing::info!(workers, cpu_limit = sluice::runtime::cpu_limit(), "async runtime started");
    runtime.block_on(async {
        let listeners = Listeners::bind(&config).await?;
        let app = App::build(*config, listeners).await?;
        app.serve(shutdown_signal()).await
    })
}
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
