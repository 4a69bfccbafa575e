//! sluice-trainer: trains fraud models on CPU with candle, checks them
//! against quality gates, publishes versions into a sluice model repository
//! with their lineage, and moves them through the lifecycle.

pub mod cli;
pub mod config;
pub mod data_file;
pub mod destination;
pub mod fit;
pub mod gates;
pub mod importance;
pub mod jobs;
pub mod latency;
pub mod lifecycle;
pub mod metadata;
pub mod metrics;
pub mod network;
pub mod onnx_export;
mod onnx_proto;
pub mod parquet_io;
pub mod pipeline;
pub mod progress;
pub mod rng;
pub mod schema;
pub mod split;
pub mod synth;
pub mod table;
pub mod trainer_metrics;
pub mod webhook;
