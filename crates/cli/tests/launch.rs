//! `meg reproduce` spread out: `--jobs N` trains the runs as separate
//! processes and ends with the same results (canonical hash) as a serial
//! run; `--launcher slurm --dry-run` writes a GPU job array and its
//! dependent evaluation job without submitting anything (no Slurm needed).

use std::path::Path;
use std::process::Command;

fn reproduce(target: &str, reports: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meg"));
    c.env("MEG_THREADS", "1")
        .args(["reproduce", target, "--profile", "smoke", "--device", "cpu"])
        .arg("--reports-dir")
        .arg(reports);
    c
}

fn results_hash(reports: &Path, target: &str) -> String {
    let text =
        std::fs::read_to_string(reports.join(target).join("smoke").join("results.json")).unwrap();
    meg_reports::canonical::hash(&serde_json::from_str(&text).unwrap())
}

#[track_caller]
fn ok(cmd: &mut Command) -> (String, String) {
    let o = cmd.output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{cmd:?} failed:\n{out}\n{err}");
    (out, err)
}

#[test]
fn jobs_2_matches_the_serial_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (serial, jobs) = (tmp.path().join("serial"), tmp.path().join("jobs"));
    // table3: five seeds, each evaluated at its last epochs while training.
    ok(&mut reproduce("table3", &serial));
    let (_, err) = ok(reproduce("table3", &jobs).args(["--jobs", "2"]));
    assert_eq!(
        results_hash(&serial, "table3"),
        results_hash(&jobs, "table3")
    );
    // One line per run as it starts and ends (stderr is not a terminal here),
    // and each child's output in its run's train.log.
    for s in 0..5 {
        let id = format!("meg-s{s}");
        assert!(err.contains(&format!("[{id}] training (pid ")), "{err}");
        assert!(err.contains(&format!("[{id}] done in ")), "{err}");
        let log = jobs.join("table3/smoke/runs").join(&id).join("train.log");
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("iteration 18/18"), "{log}");
    }
}

#[test]
fn a_failed_job_is_named_and_nothing_is_evaluated() {
    let tmp = tempfile::tempdir().unwrap();
    let o = reproduce("fig2", tmp.path())
        .args(["--jobs", "2"])
        .env("MEG_FAULT", "checkpoint:25gaussians")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("1 of the 3 runs of fig2 (smoke) failed")
            && err.contains("run `25gaussians` (signal: 9")
            && err.contains("25gaussians/train.log"),
        "{err}"
    );
    assert!(!tmp.path().join("fig2/smoke/results.json").exists());
    // The others finished; evaluating alone names the one that did not.
    let o = reproduce("fig2", tmp.path())
        .arg("--evaluate-only")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("1 of the 3 runs of fig2 (smoke) are not finished: 25gaussians ("),
        "{err}"
    );
}

#[test]
fn slurm_dry_run_writes_a_gpu_array_and_its_evaluation_job_and_submits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-sbatch-here");
    std::fs::create_dir_all(&empty).unwrap();
    let (out, _) = ok(reproduce("fig2", tmp.path())
        .args(["--launcher", "slurm", "--dry-run", "--gpus-per-task", "1"])
        .args([
            "--partition",
            "gpu",
            "--time",
            "02:00:00",
            "--account",
            "lab",
        ])
        // sbatch cannot be found: a dry run must not need it.
        .env("PATH", &empty));
    let dir = tmp.path().join("fig2/smoke/slurm");
    let train = std::fs::read_to_string(dir.join("train.sbatch")).unwrap();
    let evaluate = std::fs::read_to_string(dir.join("evaluate.sbatch")).unwrap();
    assert!(out.contains(&train) && out.contains(&evaluate), "{out}");
    let meg = std::fs::canonicalize(env!("CARGO_BIN_EXE_meg")).unwrap();
    for line in [
        "#SBATCH --array=0-2",
        "#SBATCH --requeue",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=02:00:00",
        "#SBATCH --account=lab",
        "RUNS=(swissroll 25gaussians 8gaussians)",
        &format!("MEG={}", meg.display()),
        &format!("--output={}/logs/%A_%a.out", dir.display()),
        "--train-run \"$RUN\"",
    ] {
        assert!(train.contains(line), "missing `{line}` in:\n{train}");
    }
    for line in [
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --gpus-per-task=1",
        "--evaluate-only",
        "export MEG_WORKSPACE=/",
    ] {
        assert!(evaluate.contains(line), "missing `{line}` in:\n{evaluate}");
    }
    assert!(!evaluate.contains("--array"), "{evaluate}");
    assert!(
        out.contains(&format!(
            "sbatch --parsable --dependency=afterok:$ARRAY {}",
            dir.join("evaluate.sbatch").display()
        )),
        "{out}"
    );
    assert!(dir.join("logs").is_dir());
    // Each run's config is in its folder, as `meg train` reads it.
    for id in ["swissroll", "25gaussians", "8gaussians"] {
        let cfg = tmp
            .path()
            .join("fig2/smoke/runs")
            .join(id)
            .join("config.yaml");
        assert!(std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("iterations: 30"));
    }
    // A bad setting is named before anything is written.
    let o = reproduce("fig3", tmp.path())
        .args(["--launcher", "slurm", "--dry-run", "--time", "2h"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--time `2h`"), "{err}");
    assert!(!tmp.path().join("fig3").exists());
}
