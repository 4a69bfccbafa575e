//! sluice-kernels: GPU support that must build on machines without CUDA.
//!
//! With the `cuda` feature, the CUDA driver is loaded at run time through
//! cudarc (`dynamic-loading`), so the binary starts on CPU-only hosts and
//! reports "no CUDA device" as an error instead of failing to link or panic.
//! A build with candle's CUDA backend (`linked-cuda`) links the libraries
//! instead, as candle requires: that binary needs them to start at all.

#[cfg(feature = "cuda")]
pub mod device_segments;
#[cfg(feature = "cuda")]
pub mod device_top_k;
#[cfg(feature = "cuda")]
pub mod nvrtc;
pub mod segments;
pub mod top_k;

/// Why a CUDA device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("this build of sluice has no CUDA support; rebuild with `--features cuda`")]
    NotCompiled,
    #[error("no CUDA device: the CUDA driver library (libcuda.so) is not installed")]
    NoDriver,
    #[error("CUDA device {ordinal} does not exist ({count} device(s) found)")]
    NoSuchDevice { ordinal: usize, count: usize },
    #[error("CUDA driver error: {0}")]
    Driver(String),
}

/// Number of CUDA devices the driver reports.
#[cfg(feature = "cuda")]
pub fn cuda_device_count() -> Result<usize, DeviceError> {
    if !driver_library_present() {
        return Err(DeviceError::NoDriver);
    }
    let count = cudarc::driver::CudaContext::device_count().map_err(|e| DeviceError::Driver(e.to_string()))?;
    usize::try_from(count).map_err(|_| DeviceError::Driver(format!("device count {count}")))
}

/// Whether the driver library can be used: CudaContext::new panics when
/// cudarc cannot open it, so it is asked first.
#[cfg(all(feature = "cuda", not(feature = "linked-cuda")))]
fn driver_library_present() -> bool {
    // SAFETY: only probes whether the driver library can be opened.
    #[allow(unsafe_code)]
    unsafe {
        cudarc::driver::sys::is_culib_present()
    }
}

/// Linked at build time: the binary would not have started without it.
#[cfg(feature = "linked-cuda")]
fn driver_library_present() -> bool {
    true
}

/// Number of CUDA devices the driver reports.
#[cfg(not(feature = "cuda"))]
pub fn cuda_device_count() -> Result<usize, DeviceError> {
    Err(DeviceError::NotCompiled)
}

/// Checks that CUDA device `ordinal` can be used.
pub fn check_cuda_device(ordinal: usize) -> Result<(), DeviceError> {
    let count = cuda_device_count()?;
    if ordinal >= count {
        return Err(DeviceError::NoSuchDevice { ordinal, count });
    }
    Ok(())
}

/// A CUDA device's memory as the driver reports it (`cuMemGetInfo`): what
/// every process and context on the device uses, not one allocator's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceMemory {
    pub free: u64,
    pub total: u64,
}

impl DeviceMemory {
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }
}

/// The driver's free and total memory of device `ordinal`.
#[cfg(feature = "cuda")]
pub fn device_memory(ordinal: usize) -> Result<DeviceMemory, DeviceError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    use cudarc::driver::CudaContext;

    // The primary context is kept once retained: ONNX Runtime and candle use
    // the same one, so retaining it here costs nothing more, and releasing
    // it between queries could tear it down and rebuild it.
    static CONTEXTS: OnceLock<Mutex<HashMap<usize, Arc<CudaContext>>>> = OnceLock::new();
    check_cuda_device(ordinal)?;
    let driver = |e: cudarc::driver::DriverError| DeviceError::Driver(e.to_string());
    let context = {
        let mut contexts = CONTEXTS.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
        match contexts.get(&ordinal) {
            Some(context) => context.clone(),
            None => {
                let context = CudaContext::new(ordinal).map_err(driver)?;
                contexts.insert(ordinal, context.clone());
                context
            }
        }
    };
    let (free, total) = context.mem_get_info().map_err(driver)?;
    Ok(DeviceMemory { free: free as u64, total: total as u64 })
}

/// The driver's free and total memory of device `ordinal`.
#[cfg(not(feature = "cuda"))]
pub fn device_memory(_ordinal: usize) -> Result<DeviceMemory, DeviceError> {
    Err(DeviceError::NotCompiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_why_cuda_is_unusable_instead_of_panicking() {
        // On CUDA hosts this passes too: device 4096 never exists.
        let err = check_cuda_device(4096).expect_err("no such device");
        assert!(!err.to_string().is_empty());
        let err = device_memory(4096).expect_err("no such device");
        assert!(!err.to_string().is_empty());
    }
}
