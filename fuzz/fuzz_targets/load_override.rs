//! The repository API's load `config` parameter (Triton's or model.toml's
//! spelling), parsed and applied to a model's configuration.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_core::model::load_override::LoadOverride;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(changes) = LoadOverride::parse(text) {
        let base = sluice_core::ModelConfig::from_toml("backend = \"onnx\"\nmax_batch_size = 8", "base")
            .expect("a valid base");
        let _ = changes.apply(&base);
    }
});
