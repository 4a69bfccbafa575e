//! What one ONNX Runtime call costs sluice for the bundled fraud model (one
//! row, through sluice's own ONNX backend: tensor in, `Run`, tensor out),
//! hot and cold. At concurrency 1 a server's call is cold: between two
//! requests the network stack and the kernel evict the runtime's code and
//! data. "cold" here sleeps 100 us and sweeps 4 MiB of memory before each
//! call; the gap between the two is the price of the first call after idle.
//!
//!     cargo bench -p sluice-bench --bench onnx_call
//!
//! Needs the ONNX Runtime library `make setup` installs (or ORT_DYLIB_PATH).

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_backend_onnx::{OnnxLoader, find_onnxruntime};
use sluice_core::{Backend, BackendLoader, Batch, DataType, Device, LoadRequest, ModelConfig, Tensor};

const CALLS: usize = 4000;

fn load(models: &Path) -> Option<Box<dyn Backend>> {
    let explicit = std::env::var_os("ORT_DYLIB_PATH").map(std::path::PathBuf::from);
    let loader = OnnxLoader::new(find_onnxruntime(explicit.as_deref()), 1);
    if !loader.is_available() {
        eprintln!("onnx_call: no ONNX Runtime library (run `make setup`); skipped");
        return None;
    }
    let dir = models.join("fraud-detection");
    let config = ModelConfig::load(&dir.join("model.toml")).expect("model.toml");
    let request =
        LoadRequest { model: "fraud-detection", version: 2, dir: &dir.join("2"), config: &config, device: Device::Cpu };
    Some(loader.load(&request).expect("loads"))
}

fn one_row() -> Batch {
    let values: Vec<u8> = (0..30).flat_map(|i| (i as f32 * 0.1 - 1.0).to_le_bytes()).collect();
    Batch { inputs: vec![Tensor::new("features", DataType::Fp32, vec![1, 30], values.into())] }
}

/// Median and 90th percentile of `CALLS` calls, `before` run untimed ahead of each.
fn measure(backend: &mut dyn Backend, mut before: impl FnMut()) -> (f64, f64) {
    let mut took: Vec<f64> = (0..CALLS)
        .map(|_| {
            before();
            let started = Instant::now();
            let output = backend.infer(one_row()).expect("runs");
            let elapsed = started.elapsed();
            std::hint::black_box(output);
            elapsed.as_secs_f64() * 1e6
        })
        .collect();
    took.sort_by(f64::total_cmp);
    (took[CALLS / 2], took[CALLS * 9 / 10])
}

fn main() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let Some(mut backend) = load(&models) else { return };
    measure(backend.as_mut(), || {});
    let mut sweep = vec![0u64; 4 << 17];
    let (hot_p50, hot_p90) = measure(backend.as_mut(), || {});
    let (cold_p50, cold_p90) = measure(backend.as_mut(), || {
        std::thread::sleep(Duration::from_micros(100));
        for slot in sweep.iter_mut().step_by(8) {
            *slot = slot.wrapping_add(1);
        }
    });
    println!("onnx_call hot:  p50 {hot_p50:5.1} us  p90 {hot_p90:5.1} us");
    println!("onnx_call cold: p50 {cold_p50:5.1} us  p90 {cold_p90:5.1} us  (100 us idle + 4 MiB sweep before each)");
}
