//! `meg reproduce` as a user runs it: killed with SIGKILL at named points
//! (`MEG_FAULT`, meg_plumbing::fault) and started again, it continues from the interrupted run's last checkpoint,
//! skips finished runs, leaves nothing half-written, and ends with the same
//! results (canonical hash) as a run that was never interrupted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn meg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meg"));
    c.env("MEG_THREADS", "1");
    c
}

fn reproduce(target: &str, reports: &Path) -> Command {
    let mut c = meg();
    c.args(["reproduce", target, "--profile", "smoke", "--device", "cpu"])
        .arg("--reports-dir")
        .arg(reports);
    c
}

fn results_hash(reports: &Path, target: &str) -> String {
    let text =
        std::fs::read_to_string(reports.join(target).join("smoke").join("results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    meg_reports::canonical::hash(&v)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn killed_reproduce_continues_and_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (clean, killed) = (tmp.path().join("clean"), tmp.path().join("killed"));
    let st = reproduce("table3", &clean).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // Killed (MEG_FAULT, SIGKILL) at named moments, one after another: between
    // two runs, in the middle of an evaluation cache write, with a checkpoint
    // complete but not renamed, in the middle of writing results.json.
    let runs = killed.join("table3").join("smoke").join("runs");
    for fault in [
        "before-run@3",
        "partial-write:epoch-3.json",
        "before-rename:checkpoint.safetensors@2",
        "partial-write:results.json",
    ] {
        common::run_killed_at(&mut reproduce("table3", &killed), fault);
    }
    let st = reproduce("table3", &killed).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(
        results_hash(&clean, "table3"),
        results_hash(&killed, "table3"),
        "interrupted and uninterrupted runs disagree"
    );
    // No metrics row lost or repeated (the seconds column aside).
    let rows = |reports: &Path, run: &str| -> Vec<String> {
        let p = reports
            .join("table3/smoke/runs")
            .join(run)
            .join("metrics.csv");
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    for s in 0..5 {
        let run = format!("meg-s{s}");
        assert_eq!(
            rows(&clean, &run),
            rows(&killed, &run),
            "{run}: metrics.csv"
        );
    }
    let tmp_files: Vec<_> = files_under(&killed)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.contains(".tmp") || n.ends_with(".part")
        })
        .collect();
    assert!(
        tmp_files.is_empty(),
        "half-written files left: {tmp_files:?}"
    );

    // A finished target is not retrained: checkpoints are left untouched.
    let ck = runs.join("meg-s4").join("checkpoint.safetensors");
    let before = std::fs::metadata(&ck).unwrap().modified().unwrap();
    let st = reproduce("table3", &killed).output().unwrap();
    assert!(st.status.success());
    assert_eq!(std::fs::metadata(&ck).unwrap().modified().unwrap(), before);
    assert_eq!(
        results_hash(&clean, "table3"),
        results_hash(&killed, "table3")
    );
}

/// Two `meg reproduce` of one target and profile: the second fails clearly
/// while the first holds the target's directory, which ends as a lone run's.
#[test]
fn a_second_reproduce_of_one_target_fails_while_the_first_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let first = common::spawn_stopped_at(&mut reproduce("fig3", &reports), "target-locked");
    let o = reproduce("fig3", &reports).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("is in use by another meg process")
            && err.contains(&format!("pid {}", first.id()))
            && err.contains("fig3"),
        "{err}"
    );
    common::resume(&first);
    assert!(first.wait_with_output().unwrap().status.success());
    let clean = tmp.path().join("clean");
    assert!(reproduce("fig3", &clean).output().unwrap().status.success());
    assert_eq!(results_hash(&clean, "fig3"), results_hash(&reports, "fig3"));
}

#[test]
fn missing_data_stops_before_training_with_the_command_to_run() {
    // The paper profile needs KDD99; the quick one its Fashion-MNIST stand-in.
    for (profile, fix) in [
        ("paper", "meg data fetch kdd99"),
        ("quick", "meg data fetch fashion-mnist"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = meg()
            .env("MEG_DATA_DIR", tmp.path().join("empty-cache"))
            .args([
                "reproduce",
                "table3",
                "--profile",
                profile,
                "--device",
                "cpu",
            ])
            .arg("--reports-dir")
            .arg(tmp.path().join("reports"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{profile}");
        assert!(err.contains(fix), "{profile}: {err}");
        assert!(
            !tmp.path().join("reports/table3").exists(),
            "{profile}: training started although the data is missing"
        );
    }
}

#[test]
fn unknown_target_and_profile_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = reproduce("table9", tmp.path()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("table9") && err.contains("table1"),
        "{err}"
    );
    let o = meg()
        .args([
            "reproduce",
            "table1",
            "--profile",
            "huge",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("huge") && err.contains("smoke"),
        "{err}"
    );
}

/// A `meg` binary reads `experiments/` from the checkout it is run in (the
/// current directory or an ancestor holding `Cargo.toml` and `experiments/`),
/// or from `MEG_WORKSPACE`, not only from the tree it was built from: here a
/// broken spec in such a checkout is the one that fails.
#[test]
fn a_binary_reads_the_checkout_it_runs_in() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("checkout");
    std::fs::create_dir_all(ws.join("experiments")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), "[workspace]\n").unwrap();
    std::fs::write(
        ws.join("experiments").join("fig2.yaml"),
        "defaults: [unclosed\n",
    )
    .unwrap();
    let spec = ws.join("experiments").join("fig2.yaml");
    let reports = tmp.path().join("reports");
    for (cwd, env) in [
        (ws.join("experiments"), None),
        (tmp.path().to_path_buf(), Some(&ws)),
    ] {
        let mut c = reproduce("fig2", &reports);
        c.current_dir(&cwd).env_remove("MEG_WORKSPACE");
        if let Some(ws) = env {
            c.env("MEG_WORKSPACE", ws);
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(&spec.display().to_string()),
            "run in {} (MEG_WORKSPACE {env:?}): {err}",
            cwd.display()
        );
    }
}

#[test]
fn zero_seeds_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let o = reproduce("table3", tmp.path())
        .args(["--seeds", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("--seeds") && err.contains('0'), "{err}");
    assert!(!tmp.path().join("table3").exists(), "nothing is written");
}
