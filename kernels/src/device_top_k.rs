//! The classification top-k on a CUDA device: `cuda/top_k.cu`, compiled at
//! run time by NVRTC, must give exactly what `top_k::top_k` gives.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, LaunchConfig, PushKernelArg};

use crate::DeviceError;

/// The kernel's CUDA C source, embedded so the binary needs no source tree.
pub const SOURCE: &str = include_str!("../cuda/top_k.cu");
const KERNEL: &str = "top_k_rows_f32";
/// Threads per block; the source's `TOP_K_THREADS`.
const THREADS: u32 = 256;

/// The top-k kernel loaded on one device.
pub struct DeviceTopK {
    context: Arc<CudaContext>,
    function: CudaFunction,
}

impl DeviceTopK {
    /// Compiles and loads the kernel on device `ordinal`.
    pub fn new(ordinal: usize) -> Result<Self, DeviceError> {
        let (context, function) = crate::nvrtc::load_kernel(ordinal, SOURCE, KERNEL)?;
        Ok(DeviceTopK { context, function })
    }

    /// For each of `rows` rows of `cols` values: the indices of the `k`
    /// highest (at most `cols`), highest first.
    pub fn top_k(&self, values: &[f32], rows: usize, cols: usize, k: usize) -> Result<Vec<Vec<usize>>, DeviceError> {
        let k = k.min(cols);
        if rows == 0 || k == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        if values.len() != rows * cols {
            return Err(DeviceError::Driver(format!("{} values for {rows} rows of {cols}", values.len())));
        }
        let too_big = |what: &str| DeviceError::Driver(format!("{what} does not fit a kernel argument"));
        let (grid, cols_arg, k_arg) = (
            u32::try_from(rows).map_err(|_| too_big("rows"))?,
            i32::try_from(cols).map_err(|_| too_big("cols"))?,
            i32::try_from(k).map_err(|_| too_big("k"))?,
        );
        let driver = |e: cudarc::driver::DriverError| DeviceError::Driver(e.to_string());
        let stream = self.context.default_stream();
        let input = stream.clone_htod(values).map_err(driver)?;
        let mut indices = stream.alloc_zeros::<i32>(rows * k).map_err(driver)?;
        let mut picked = stream.alloc_zeros::<f32>(rows * k).map_err(driver)?;
        let config = LaunchConfig {
            grid_dim: (grid, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: THREADS * (size_of::<f32>() + size_of::<i32>()) as u32,
        };
        let mut launch = stream.launch_builder(&self.function);
        launch.arg(&input).arg(&cols_arg).arg(&k_arg).arg(&mut indices).arg(&mut picked);
        // SAFETY: the argument list matches top_k_rows_f32's signature, the
        // buffers hold rows * cols inputs and rows * k outputs, and the
        // shared memory is what the kernel's scratch needs for THREADS.
        #[allow(unsafe_code)]
        unsafe { launch.launch(config) }.map_err(driver)?;
        let indices = stream.clone_dtoh(&indices).map_err(driver)?;
        Ok(indices.chunks(k).map(|row| row.iter().map(|&i| i.max(0) as usize).collect()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top_k::top_k;

    #[test]
    fn nvrtc_compiles_the_kernel_when_it_is_installed() {
        crate::nvrtc::assert_compiles(SOURCE, KERNEL);
    }

    /// Needs a CUDA device: `cargo test -p sluice-kernels --features cuda -- --ignored`.
    #[test]
    #[ignore = "needs a CUDA device"]
    fn device_top_k_equals_the_cpu_reference() {
        let device = DeviceTopK::new(0).expect("a CUDA device");
        let (rows, cols) = (37, 1000);
        let mut state = 7u32;
        let mut values: Vec<f32> = (0..rows * cols)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((state >> 16) % 200) as f32 / 8.0 // many ties
            })
            .collect();
        values[5] = f32::NAN;
        values[cols + 3] = f32::INFINITY;
        for k in [1, 2, 5, 64, cols, cols + 10] {
            let on_device = device.top_k(&values, rows, cols, k).expect("runs");
            for (row, got) in values.chunks(cols).zip(on_device) {
                assert_eq!(got, top_k(row, k), "k = {k}");
            }
        }
    }
}
