//! Compiling the CUDA C sources in `kernels/cuda` at run time with NVRTC.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::DeviceError;

/// Virtual architectures tried when no device says which: Volta, the oldest
/// CUDA 12 compiles for, then Turing, the oldest CUDA 13 still does. The
/// driver JIT-compiles PTX for any newer GPU.
const PORTABLE: [&str; 2] = ["compute_70", "compute_75"];
/// Devices' own architectures NVRTC may be asked for (it takes 'static names).
const OWN: [&str; 11] = [
    "compute_70",
    "compute_72",
    "compute_75",
    "compute_80",
    "compute_86",
    "compute_87",
    "compute_89",
    "compute_90",
    "compute_100",
    "compute_103",
    "compute_120",
];

/// Whether NVRTC (libnvrtc.so) can be loaded on this host.
#[cfg(feature = "linked-cuda")]
pub fn nvrtc_available() -> bool {
    true
}

/// Whether NVRTC (libnvrtc.so) can be loaded on this host.
#[cfg(not(feature = "linked-cuda"))]
pub fn nvrtc_available() -> bool {
    // SAFETY: only probes whether the library can be opened.
    #[allow(unsafe_code)]
    unsafe {
        cudarc::nvrtc::sys::is_culib_present()
    }
}

/// Compiles `source` to portable PTX; needs NVRTC, not a GPU.
pub fn compile(source: &str) -> Result<Ptx, DeviceError> {
    compile_for_archs(source, &PORTABLE)
}

/// Compiles `source` for the device of `context` (its own architecture,
/// else the portable ones, should this NVRTC not know the device's).
pub fn compile_for(source: &str, context: &CudaContext) -> Result<Ptx, DeviceError> {
    let (major, minor) = context.compute_capability().map_err(|e| DeviceError::Driver(e.to_string()))?;
    let own = format!("compute_{major}{minor}");
    let archs: Vec<&'static str> = OWN.iter().copied().filter(|a| *a == own).chain(PORTABLE).collect();
    compile_for_archs(source, &archs)
}

/// Compiles `source` for device `ordinal` and loads its function `name`.
pub fn load_kernel(ordinal: usize, source: &str, name: &str) -> Result<(Arc<CudaContext>, CudaFunction), DeviceError> {
    crate::check_cuda_device(ordinal)?;
    let driver = |e: cudarc::driver::DriverError| DeviceError::Driver(e.to_string());
    let context = CudaContext::new(ordinal).map_err(driver)?;
    let module = context.load_module(compile_for(source, &context)?).map_err(driver)?;
    let function = module.load_function(name).map_err(driver)?;
    Ok((context, function))
}

/// The first of `archs` NVRTC compiles `source` for; the first error otherwise.
fn compile_for_archs(source: &str, archs: &[&'static str]) -> Result<Ptx, DeviceError> {
    if !nvrtc_available() {
        return Err(DeviceError::Driver("NVRTC (libnvrtc.so) is not installed".into()));
    }
    let mut first_error = None;
    for &arch in archs {
        let options = CompileOptions { arch: Some(arch), ..Default::default() };
        match compile_ptx_with_opts(source, options) {
            Ok(ptx) => return Ok(ptx),
            Err(e) => {
                first_error.get_or_insert_with(|| DeviceError::Driver(format!("NVRTC ({arch}): {e}")));
            }
        }
    }
    Err(first_error.unwrap_or_else(|| DeviceError::Driver("no architecture to compile for".into())))
}

/// Whether NVRTC is there for a test; a test may skip without it, unless
/// `SLUICE_REQUIRE_NVRTC` says it must be there.
#[cfg(test)]
fn available_or_skip() -> bool {
    if nvrtc_available() {
        return true;
    }
    assert!(std::env::var_os("SLUICE_REQUIRE_NVRTC").is_none(), "NVRTC was required but is not loadable");
    eprintln!("skipped: NVRTC is not installed on this host");
    false
}

/// The compile check of one kernel: `source` compiles and its PTX holds
/// `entry`. Skipped where NVRTC is missing — unless `SLUICE_REQUIRE_NVRTC`
/// is set (`scripts/nvrtc-check.sh` installs NVRTC from PyPI and sets it,
/// so there a check cannot pass by skipping).
#[cfg(test)]
pub fn assert_compiles(source: &str, entry: &str) {
    if !available_or_skip() {
        return;
    }
    let ptx = compile(source).expect("the kernel compiles");
    assert!(ptx.to_src().contains(&format!(".entry {entry}")), "PTX lacks the entry {entry}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_architecture_nvrtc_refuses_falls_back_to_the_next() {
        if !available_or_skip() {
            return;
        }
        let source = "extern \"C\" __global__ void noop() {}";
        let ptx = compile_for_archs(source, &["compute_1", "compute_70", "compute_75"]).expect("falls back");
        assert!(ptx.to_src().contains(".entry noop"));
        let refused = compile_for_archs(source, &["compute_1"]).expect_err("no architecture left");
        assert!(refused.to_string().contains("compute_1"), "{refused}");
    }
}
