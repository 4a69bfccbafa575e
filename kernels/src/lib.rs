//! sluice-kernels: GPU support that must build on machines without CUDA.
//!
//! With the `cuda` feature, the CUDA driver is loaded at run time through
//! cudarc (`dynamic-loading`), so the binary starts on CPU-only hosts and
//! reports "no CUDA device" as an error instead of failing to link or panic.

#[cfg(feature = "cuda")]
pub mod device_top_k;
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
    // CudaContext::new panics without the driver library: check first.
    // SAFETY: only probes whether the driver library can be opened.
    #[allow(unsafe_code)]
    let present = unsafe { cudarc::driver::sys::is_culib_present() };
    if !present {
        return Err(DeviceError::NoDriver);
    }
    let count = cudarc::driver::CudaContext::device_count().map_err(|e| DeviceError::Driver(e.to_string()))?;
    usize::try_from(count).map_err(|_| DeviceError::Driver(format!("device count {count}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_why_cuda_is_unusable_instead_of_panicking() {
        // On CUDA hosts this passes too: device 4096 never exists.
        let err = check_cuda_device(4096).expect_err("no such device");
        assert!(!err.to_string().is_empty());
    }
}
