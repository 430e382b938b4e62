//! The `meg` binary finds libtorch through its rpath, without LD_LIBRARY_PATH.

use std::process::Command;

#[test]
fn meg_starts_without_ld_library_path() {
    let out = Command::new(env!("CARGO_BIN_EXE_meg"))
        .args(["doctor", "--json"])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LIBTORCH")
        .output()
        .expect("meg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "meg doctor failed: {stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON");
    let version = v["libtorch_version"].as_str().unwrap();
    assert!(version.starts_with("2.11.0"), "loaded libtorch {version}");
    // libtorch_cuda stays linked when the library has it (--no-as-needed): the wheel ships it.
    let lib = v["libtorch_lib"].as_str().unwrap();
    if std::path::Path::new(lib).join("libtorch_cuda.so").exists() {
        let needed = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "readelf -d {} | grep NEEDED",
                env!("CARGO_BIN_EXE_meg")
            ))
            .output()
            .unwrap();
        let needed = String::from_utf8_lossy(&needed.stdout);
        assert!(
            needed.contains("libtorch.so"),
            "libtorch.so not NEEDED by meg:\n{needed}"
        );
    }
}
