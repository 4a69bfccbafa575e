//! A REST v2 request body as JSON, decoded as the infer route does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice::http::decode::{DecodeLimits, decode};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_elements: 1 << 16, max_json_depth: 100 };
    let _ = decode(bytes::Bytes::copy_from_slice(data), None, "fraud-detection".into(), Some(1), limits);
});
