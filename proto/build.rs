//! Compiles the inference protos with the vendored `protoc`, so a build needs
//! no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    println!("cargo:rerun-if-changed=grpc_predict_v2.proto");
    println!("cargo:rerun-if-changed=model_config.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `bytes::Bytes` for raw tensor contents: decoded without copying.
        .bytes(".")
        .compile_with_config(config, &["grpc_predict_v2.proto"], &["."])?;
    Ok(())
}
