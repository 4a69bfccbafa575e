//! Giving model memory back to the operating system on unload.
//!
//! ONNX Runtime allocates through the C allocator. glibc raises its mmap
//! threshold each time a large mmapped block is freed (up to 32 MiB), so
//! after the first unload a model's weight-sized buffers come from the heap
//! arenas instead, where they fragment and are never returned: every
//! load/unload cycle ratchets resident memory up (the reload "leak" Triton
//! users report; measured here: +57% after 200 cycles of a 16 MB model).
//! A fixed threshold keeps large blocks in mmap, which `free` unmaps at
//! once; `malloc_trim` after an unload releases what is left in the arenas.

/// Blocks at least this large are always mmapped (and unmapped on free).
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Fixes glibc's mmap threshold, unless the operator set one through
/// `MALLOC_MMAP_THRESHOLD_`. Call once at start-up, before loading models.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: mallopt only sets an allocator tuning parameter; it takes
        // the allocator's lock itself and has no memory-safety preconditions.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Returns free heap memory to the OS (glibc only; elsewhere a no-op).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only inspects and releases the allocator's own free
    // lists; it takes the arena locks itself and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
