//! Compiles `proto/helloworld.proto` with protox, a protobuf compiler in pure Rust: no
//! `protoc` is needed on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["helloworld.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
