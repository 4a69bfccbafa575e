//! A version's metadata.json: artifact digests whose paths must stay inside
//! the version directory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(digests) = sluice_core::model::repository::artifact_digests(text) {
        for (relative, _) in digests {
            assert!(
                relative.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                "accepted {relative:?}"
            );
        }
    }
});
