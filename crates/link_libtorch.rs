//! Build script shared by every crate whose binaries or tests link libtorch.
//!
//! torch-sys exports libtorch's library directory as `DEP_TCH_LIBTORCH_LIB`
//! (its `links = "tch"` key), visible here because each such crate depends on
//! torch-sys directly. We embed it as an rpath so binaries run without
//! `LD_LIBRARY_PATH`, and force `libtorch.so` to stay linked so its CUDA
//! library (when present) is loaded and CUDA does not silently disappear.

/// Emits the link arguments; returns libtorch's library directory.
pub fn link_libtorch() -> String {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("DEP_TCH_LIBTORCH_LIB is unset: this crate must depend on torch-sys directly");
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-L{lib}");
    println!("cargo:rustc-link-arg=-ltorch");
    lib
}

#[allow(dead_code)] // unused where another build script includes this file as a module
fn main() {
    link_libtorch();
}
