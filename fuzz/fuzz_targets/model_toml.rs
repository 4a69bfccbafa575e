//! model.toml, parsed and validated as a repository load does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sluice_core::ModelConfig::from_toml(text, "fuzz/model.toml");
    }
});
