//! Links libtorch (see `../link_libtorch.rs`) and compiles `csrc/`, the C++
//! glue for the libtorch kernels tch does not bind, against libtorch's headers.

#[path = "../link_libtorch.rs"]
mod link;

fn main() {
    let lib = std::path::PathBuf::from(link::link_libtorch());
    // libtorch's layout: headers in `include/` beside `lib/`.
    let include = lib
        .parent()
        .expect("libtorch's lib has a parent")
        .join("include");
    println!("cargo:rerun-if-changed=csrc/grad.cpp");
    println!("cargo:rerun-if-changed=csrc/runtime.cpp");
    // The C++ ABI torch-sys builds its own glue with (PyTorch's Linux wheels use 1).
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        // libtorch's own headers trip -Wextra's unused-parameter warnings.
        .warnings(false)
        .std("c++17")
        .include(&include)
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .file("csrc/grad.cpp")
        .file("csrc/runtime.cpp")
        .compile("meg_nn_csrc");
}
