//! `meg hashes update|check`: exit codes and what a failed check prints.

use meg_reports::canonical;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn meg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meg"))
        .args(args)
        .output()
        .expect("meg runs")
}

fn write_results(reports: &Path, target: &str, v: &Value) {
    let dir = reports.join(target).join("smoke");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("results.json"), v.to_string()).unwrap();
}

fn results(kl: f64) -> Value {
    json!({"target": "fig2", "wall_seconds": 2.0, "runs": {"swissroll": {"kl_data_model": kl}}})
}

#[test]
fn update_then_check_and_a_failing_check() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let lock = dir.path().join("hashes.lock");
    let (r, l) = (reports.to_str().unwrap(), lock.to_str().unwrap());
    write_results(&reports, "fig2", &results(2.16094));

    let out = meg(&["hashes", "update", "--reports", r, "--lock", l]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = canonical::hash(&results(2.16094));
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains(&format!("fig2 smoke {hash}\n")), "{text}");
    assert!(dir.path().join("hashes/fig2.smoke.json").is_file());

    let out = meg(&["hashes", "check", "--reports", r, "--lock", l]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fig2 (smoke): OK\n");

    write_results(&reports, "fig2", &results(3.0));
    let out = meg(&["hashes", "check", "--reports", r, "--lock", l]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("fig2 (smoke): hash changed"), "{err}");
    assert!(err.contains(&hash), "{err}");
    assert!(err.contains(&canonical::hash(&results(3.0))), "{err}");
    assert!(
        err.contains("runs.swissroll.kl_data_model: expected 2.161, got 3.0"),
        "{err}"
    );

    // A target without a lock entry fails by name.
    write_results(&reports, "fig2", &results(2.16094));
    write_results(&reports, "table1", &json!({"target": "table1"}));
    let out = meg(&["hashes", "check", "--reports", r, "--lock", l]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("table1: no `table1 smoke` entry"), "{err}");
}
