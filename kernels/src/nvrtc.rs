//! Compiling the CUDA C sources in `kernels/cuda` at run time with NVRTC.

use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::DeviceError;

/// The oldest architecture the PTX targets (Volta); the driver JIT-compiles
/// it for newer GPUs.
const ARCH: &str = "compute_70";

/// Whether NVRTC (libnvrtc.so) can be loaded on this host.
pub fn nvrtc_available() -> bool {
    // SAFETY: only probes whether the library can be opened.
    #[allow(unsafe_code)]
    unsafe {
        cudarc::nvrtc::sys::is_culib_present()
    }
}

/// Compiles `source` to PTX; needs NVRTC, not a GPU.
pub fn compile(source: &str) -> Result<Ptx, DeviceError> {
    if !nvrtc_available() {
        return Err(DeviceError::Driver("NVRTC (libnvrtc.so) is not installed".into()));
    }
    let options = CompileOptions { arch: Some(ARCH), ..Default::default() };
    compile_ptx_with_opts(source, options).map_err(|e| DeviceError::Driver(format!("NVRTC: {e}")))
}

/// The compile check of one kernel: `source` compiles and its PTX holds
/// `entry`. Skipped where NVRTC is missing — unless `SLUICE_REQUIRE_NVRTC`
/// is set (`scripts/nvrtc-check.sh` installs NVRTC from PyPI and sets it,
/// so there a check cannot pass by skipping).
#[cfg(test)]
pub fn assert_compiles(source: &str, entry: &str) {
    if !nvrtc_available() {
        assert!(std::env::var_os("SLUICE_REQUIRE_NVRTC").is_none(), "NVRTC was required but is not loadable");
        eprintln!("skipped: NVRTC is not installed on this host");
        return;
    }
    let ptx = compile(source).expect("the kernel compiles");
    assert!(ptx.to_src().contains(&format!(".entry {entry}")), "PTX lacks the entry {entry}");
}
