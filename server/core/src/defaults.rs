//! Defaults the core falls back on and the command line shows: written once
//! here. (model.toml's own defaults are the `Default` impls of its sections
//! in `model::config`; the server's flags are their `#[arg]` attributes.)

/// Elements one request tensor may hold (`--max-tensor-elements`).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;
/// Rows a version's sample ring keeps (`--sample-buffer-rows`).
pub const SAMPLE_BUFFER_ROWS: usize = 10_000;
/// Rows one samples request returns when it does not ask for a number.
pub const SAMPLES_PAGE_ROWS: usize = 10_000;
