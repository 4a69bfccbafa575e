//! A gRPC ModelInferRequest from raw protobuf bytes, converted as the
//! ModelInfer handler does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = sluice_proto::ModelInferRequest::decode(data) {
        let _ = sluice::grpc::convert::request(request, 1 << 16);
    }
});
