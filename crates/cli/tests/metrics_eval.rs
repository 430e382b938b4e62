//! `meg eval anomaly FILE.csv`: scikit-learn's numbers (tests/golden/metrics_anomaly.py)
//! and clear errors for bad files.

use meg_nn::golden::Golden;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meg"))
        .args(args)
        .output()
        .expect("meg runs")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

#[test]
fn anomaly_json_equals_scikit_learn_with_ties() {
    let csv = golden_dir().join("metrics_anomaly/ties.csv");
    let out = meg(&["eval", "anomaly", csv.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let g = Golden::load("metrics_anomaly.json").unwrap();
    for key in ["precision", "recall", "f1", "auprc", "average_precision"] {
        let got = v[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key} in {text}"));
        let want = g.scalar(&format!("ties_{key}")).unwrap();
        assert!((got - want).abs() <= 1e-9, "{key}: {got} vs sklearn {want}");
    }
    // The text form names the file and the counts.
    let out = meg(&["eval", "anomaly", csv.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("200 examples, 39 anomalies") && text.contains("auprc"),
        "{text}"
    );
}

/// Runs `meg eval anomaly` on `content`; returns stderr after checking the exit.
fn bad_csv(content: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.csv");
    std::fs::write(&path, content).unwrap();
    let out = meg(&["eval", "anomaly", path.to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "accepted {content:?}");
    assert!(out.stdout.is_empty(), "printed a result for {content:?}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(
        err.contains(path.to_str().unwrap()),
        "file not named: {err}"
    );
    err
}

#[test]
fn anomaly_bad_input_names_file_and_line() {
    assert!(bad_csv("label,value\n1,0.5\n").contains(":1: missing column `score`"));
    assert!(bad_csv("score\n0.5\n").contains(":1: missing column `label`"));
    assert!(
        bad_csv("label,score\n1,0.5\n0,high\n").contains(":3: score `high` is not a finite number")
    );
    assert!(bad_csv("label,score\n1,0.5\n0,NaN\n").contains(":3: score `NaN`"));
    assert!(bad_csv("label,score\n1,0.5\n0,inf\n").contains(":3: score `inf`"));
    assert!(bad_csv("label,score\n1,0.5\n-1,0.2\n").contains(":3: label `-1` is not 0 or 1"));
    assert!(bad_csv("label,score\n1,0.5\n0.5,0.2\n").contains(":3: label `0.5`"));
    assert!(bad_csv("label,score\n1,0.5\n0,0.1,7\n").contains(":3:"));
    assert!(bad_csv("label,score\n0,0.5\n0,0.1\n").contains("no anomalies"));
    assert!(bad_csv("").contains("missing column"));
    let out = meg(&["eval", "anomaly", "/nonexistent/scores.csv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/nonexistent/scores.csv"),
        "{err}"
    );
}
