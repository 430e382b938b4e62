//! `meg train-classifier`: argument and data errors (the real training is a
//! measurement on Fashion-MNIST, not a test).

use std::process::Command;

#[test]
fn train_classifier_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_meg"))
            .arg("train-classifier")
            .args(args)
            .env("MEG_DATA_DIR", tmp.path())
            .output()
            .expect("meg runs");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && !err.contains("panicked"), "{err}");
        err
    };
    assert!(run(&["--dataset", "cifar10"]).contains("neither mnist nor fashion-mnist"));
    // Empty cache: the error says how to get the data.
    let err = run(&["--dataset", "fashion-mnist", "--device", "cpu"]);
    assert!(
        err.contains("fashion-mnist") && err.contains("meg data"),
        "{err}"
    );
}
