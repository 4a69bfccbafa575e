//! The binary tensor extension: a JSON header of the length the first two
//! bytes give (Inference-Header-Content-Length), then raw tensor data.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice::http::decode::{DecodeLimits, decode};

fuzz_target!(|data: &[u8]| {
    let Some((length, body)) = data.split_first_chunk::<2>() else { return };
    let header_length = usize::from(u16::from_le_bytes(*length));
    let limits = DecodeLimits { max_elements: 1 << 16, max_json_depth: 100 };
    let _ = decode(bytes::Bytes::copy_from_slice(body), Some(header_length), "fraud-detection".into(), None, limits);
});
