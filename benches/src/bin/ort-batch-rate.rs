//! The raw runtime's batched throughput: one ONNX Runtime session calling a
//! model over and over at fixed batch sizes, no server in front. The GPU
//! bench (benches/gpu.sh) compares sluice's throughput against it at the
//! batch sizes sluice formed, beside the same loop in Python
//! (benches/ort_batch_rate.py, the onnxruntime-gpu baseline): this one
//! calls the library from Rust, a stricter baseline (no interpreter per call).
//!
//!   ort-batch-rate MODEL.onnx DEVICE (cpu | cuda:N) SECONDS BATCH [BATCH ...]
//!
//! Prints one JSON line per batch size: rows per second and calls per second.
//! Needs ORT_DYLIB_PATH; the input is the model's first, FP32 [batch, n].

use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, device, seconds, batches @ ..] = args.as_slice() else {
        anyhow::bail!("usage: ort-batch-rate MODEL.onnx cpu|cuda:N SECONDS BATCH [BATCH ...]");
    };
    let seconds: f64 = seconds.parse()?;
    let library = std::env::var("ORT_DYLIB_PATH").map_err(|_| anyhow::anyhow!("set ORT_DYLIB_PATH"))?;
    let environment = ort::init_from(library)?.with_name("ort-batch-rate").build()?;
    let mut builder = Session::builder(&environment)
        .map_err(text)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(text)?
        .with_intra_threads(1)
        .map_err(text)?;
    if let Some(ordinal) = device.strip_prefix("cuda:") {
        builder = with_cuda(builder, ordinal.parse()?)?;
    }
    let mut session = builder.commit_from_file(model).map_err(text)?;
    let input = session.inputs()[0].name().to_owned();
    let width = match session.inputs()[0].dtype() {
        ort::value::ValueType::Tensor { shape, .. } => shape.last().copied().filter(|&d| d > 0).unwrap_or(1) as usize,
        other => anyhow::bail!("the first input is a {other:?}"),
    };
    for batch in batches {
        let batch: usize = batch.parse()?;
        let values: Vec<f32> = (0..batch * width).map(|i| (i % 97) as f32 / 97.0).collect();
        let run = |session: &mut Session| -> anyhow::Result<()> {
            let tensor = Tensor::from_array(([batch, width], values.clone())).map_err(text)?;
            session.run(vec![(input.as_str(), tensor.into_dyn())]).map_err(text)?;
            Ok(())
        };
        for _ in 0..3 {
            run(&mut session)?; // warm-up: allocations, CUDA kernels' first launch
        }
        let (started, mut calls) = (Instant::now(), 0u64);
        while started.elapsed() < Duration::from_secs_f64(seconds) {
            run(&mut session)?;
            calls += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({ "device": device, "batch": batch, "calls_per_s": calls as f64 / elapsed,
                                "rows_per_s": (calls * batch as u64) as f64 / elapsed })
        );
    }
    Ok(())
}

fn text(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

#[cfg(feature = "cuda")]
fn with_cuda(
    builder: ort::session::builder::SessionBuilder,
    ordinal: i32,
) -> anyhow::Result<ort::session::builder::SessionBuilder> {
    let cuda = ort::ep::CUDA::default().with_device_id(ordinal).build().error_on_failure();
    builder.with_execution_providers([cuda]).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(
    _: ort::session::builder::SessionBuilder,
    _: i32,
) -> anyhow::Result<ort::session::builder::SessionBuilder> {
    anyhow::bail!("built without CUDA: cargo build --release -p sluice-bench --features cuda")
}
