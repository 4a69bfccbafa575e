//! Batch assembly and scatter on a CUDA device: `cuda/copy_segments.cu`,
//! compiled at run time by NVRTC, must copy exactly what
//! `segments::copy_segments` copies.
//!
//! Gathering: the pinned staging buffer (requests' rows at their slots) goes
//! to the device in one copy, and one launch packs the slots into the
//! contiguous batch. Scattering is the reverse: one launch lays the output
//! batch out in the staging slots' order on the device, one copy brings it back.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, HostSlice, LaunchConfig, PushKernelArg};

use crate::DeviceError;
use crate::segments::{Segment, check, gather_plan, scatter_plan};

/// The kernel's CUDA C source, embedded so the binary needs no source tree.
pub const SOURCE: &str = include_str!("../cuda/copy_segments.cu");
const KERNEL: &str = "copy_segments";
/// The source's `COPY_THREADS`.
const THREADS: u32 = 256;
/// Blocks stride over segments beyond this many.
const MAX_BLOCKS: usize = 65_535;

fn driver(e: cudarc::driver::DriverError) -> DeviceError {
    DeviceError::Driver(e.to_string())
}

/// The segment-copy kernel loaded on one device.
pub struct DeviceSegments {
    context: Arc<CudaContext>,
    function: CudaFunction,
}

impl DeviceSegments {
    /// Compiles and loads the kernel on device `ordinal`.
    pub fn new(ordinal: usize) -> Result<Self, DeviceError> {
        let (context, function) = crate::nvrtc::load_kernel(ordinal, SOURCE, KERNEL)?;
        Ok(DeviceSegments { context, function })
    }

    pub fn stream(&self) -> Arc<CudaStream> {
        self.context.default_stream()
    }

    /// Copies `segments` of `src` into `dst` on the device, after checking
    /// them on the host (the kernel trusts its offsets).
    pub fn copy(&self, src: &CudaSlice<u8>, dst: &mut CudaSlice<u8>, segments: &[Segment]) -> Result<(), DeviceError> {
        check(segments, src.len(), dst.len()).map_err(|e| DeviceError::Driver(e.to_string()))?;
        if segments.is_empty() {
            return Ok(());
        }
        let count = u32::try_from(segments.len())
            .map_err(|_| DeviceError::Driver(format!("{} segments in one launch", segments.len())))?;
        let stream = self.stream();
        let column = |pick: fn(&Segment) -> usize| -> Vec<u64> { segments.iter().map(|s| pick(s) as u64).collect() };
        let src_offsets = stream.clone_htod(&column(|s| s.src)).map_err(driver)?;
        let dst_offsets = stream.clone_htod(&column(|s| s.dst)).map_err(driver)?;
        let lengths = stream.clone_htod(&column(|s| s.len)).map_err(driver)?;
        let config = LaunchConfig {
            grid_dim: (segments.len().min(MAX_BLOCKS) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&self.function);
        launch.arg(src).arg(dst).arg(&src_offsets).arg(&dst_offsets).arg(&lengths).arg(&count);
        // SAFETY: the arguments match copy_segments' signature, and `check`
        // proved every segment lies inside both buffers and that no two
        // write the same bytes.
        #[allow(unsafe_code)]
        unsafe { launch.launch(config) }.map_err(driver)?;
        Ok(())
    }

    /// The staging buffer's `slots` (offset, length), packed in order into a
    /// new device batch: one upload, one launch.
    pub fn gather<S: HostSlice<u8> + ?Sized>(
        &self,
        staging: &S,
        slots: &[(usize, usize)],
    ) -> Result<CudaSlice<u8>, DeviceError> {
        let stream = self.stream();
        let uploaded = stream.clone_htod(staging).map_err(driver)?;
        let (plan, total) = gather_plan(slots);
        let mut batch = stream.alloc_zeros::<u8>(total.max(1)).map_err(driver)?;
        self.copy(&uploaded, &mut batch, &plan)?;
        Ok(batch)
    }

    /// A device batch's consecutive pieces written back into the staging
    /// buffer's `slots`: one launch, one download. Bytes outside the slots
    /// keep what the staging buffer held.
    pub fn scatter<S: HostSlice<u8> + ?Sized>(
        &self,
        batch: &CudaSlice<u8>,
        slots: &[(usize, usize)],
        staging: &mut S,
    ) -> Result<(), DeviceError> {
        let stream = self.stream();
        let mut laid_out = stream.clone_htod(&*staging).map_err(driver)?;
        self.copy(batch, &mut laid_out, &scatter_plan(slots))?;
        stream.memcpy_dtoh(&laid_out, staging).map_err(driver)?;
        stream.synchronize().map_err(driver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::copy_segments;

    #[test]
    fn nvrtc_compiles_the_kernel_when_it_is_installed() {
        crate::nvrtc::assert_compiles(SOURCE, KERNEL);
    }

    /// Needs a CUDA device: `cargo test -p sluice-kernels --features cuda -- --ignored`.
    #[test]
    #[ignore = "needs a CUDA device"]
    fn device_gather_and_scatter_equal_the_cpu_reference() {
        let device = DeviceSegments::new(0).expect("a CUDA device");
        let stream = device.stream();
        // Slots of every alignment and length, some long enough for the
        // 16-byte word path, one empty, more slots than a launch has blocks.
        let mut slots = Vec::new();
        let mut at = 0;
        for i in 0..70_000usize {
            let len = [0, 1, 15, 16, 17, 120, 4096][i % 7];
            let offset = at + i % 5;
            slots.push((offset, len));
            at = offset + len;
        }
        let staging: Vec<u8> = (0..at).map(|i| (i * 31 % 251) as u8).collect();
        let batch = device.gather(&staging, &slots).expect("gathers");
        let (plan, total) = gather_plan(&slots);
        let mut expected = vec![0u8; total];
        copy_segments(&staging, &mut expected, &plan).expect("reference");
        assert_eq!(stream.clone_dtoh(&batch).expect("download")[..total], expected[..]);

        let mut back = vec![7u8; at];
        device.scatter(&batch, &slots, &mut back).expect("scatters");
        let mut reference = vec![7u8; at];
        copy_segments(&expected, &mut reference, &scatter_plan(&slots)).expect("reference");
        assert_eq!(back, reference);
    }
}
