//! `meg reproduce --launcher slurm` against a real Slurm: the single-node
//! cluster of `.ci/slurm-cluster.sh start` (found through
//! `$MEG_SLURM_DIR/slurm.conf`, default `/tmp/meg-slurm/slurm.conf`; listed
//! in xtask/src/inputs.rs). Table 3's smoke profile (five runs, each
//! evaluated at its last epochs while it trains) through a job array ends
//! with the serial run's results hash, also when one element is requeued
//! mid-training; a failed element cancels the evaluation job and its log
//! names the run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The cluster's configuration; the tests fail without it.
fn slurm_conf() -> PathBuf {
    let dir = std::env::var_os("MEG_SLURM_DIR").unwrap_or_else(|| "/tmp/meg-slurm".into());
    let conf = Path::new(&dir).join("slurm.conf");
    assert!(
        conf.exists(),
        "no Slurm cluster: {} is missing (start one with .ci/slurm-cluster.sh start)",
        conf.display()
    );
    conf
}

fn slurm(cmd: &str) -> Command {
    let mut c = Command::new(cmd);
    c.env("SLURM_CONF", slurm_conf());
    c
}

fn reproduce(reports: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meg"));
    c.env("MEG_THREADS", "1")
        .env("SLURM_CONF", slurm_conf())
        .env_remove("MEG_FAULT")
        .env_remove("MEG_FAULT_ACTION")
        .args([
            "reproduce",
            "table3",
            "--profile",
            "smoke",
            "--device",
            "cpu",
        ])
        .arg("--reports-dir")
        .arg(reports);
    c
}

fn results_hash(reports: &Path) -> String {
    let text = std::fs::read_to_string(reports.join("table3/smoke/results.json")).unwrap();
    meg_reports::canonical::hash(&serde_json::from_str(&text).unwrap())
}

/// One case at a time: they share the cluster's two CPUs, and the serial
/// hash is computed once.
fn serial_hash() -> (std::sync::MutexGuard<'static, ()>, String) {
    static LOCK: Mutex<()> = Mutex::new(());
    static HASH: OnceLock<String> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let hash = HASH.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let o = reproduce(tmp.path()).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        results_hash(tmp.path())
    });
    (guard, hash.clone())
}

/// The job ids printed by `meg reproduce --launcher slurm`.
struct Jobs {
    array: String,
    evaluate: String,
    logs: PathBuf,
}

fn submit(reports: &Path, env: &[(&str, &str)]) -> Jobs {
    let o = reproduce(reports)
        .args(["--launcher", "slurm"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // "submitted: training array A (5 elements), evaluation E (after ...)"
    let line = out
        .lines()
        .find(|l| l.starts_with("submitted: training array "))
        .unwrap_or_else(|| panic!("no job ids in:\n{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let (array, evaluate) = (
        words[3].to_string(),
        words[7].trim_end_matches(',').to_string(),
    );
    assert!(
        out.contains(&format!("squeue -j {array},{evaluate}")),
        "{out}"
    );
    eprintln!("submitted array {array}, evaluation {evaluate}");
    Jobs {
        array,
        evaluate,
        logs: reports.join("table3/smoke/slurm/logs"),
    }
}

/// Waits until the cluster reaches the state `reached` tests for, asking it
/// again every `POLL` (the daemons change state on their own; the tests never
/// act after a time, only on a state), and fails with `what` after `limit`.
fn wait_until(limit: Duration, mut reached: impl FnMut() -> bool, what: impl Fn() -> String) {
    const POLL: Duration = Duration::from_millis(100);
    let t0 = Instant::now();
    while !reached() {
        assert!(t0.elapsed() < limit, "{}", what());
        std::thread::sleep(POLL);
    }
}

/// Polls `squeue` until none of the jobs is pending or running.
fn wait_done(jobs: &Jobs) {
    let ids = format!("{},{}", jobs.array, jobs.evaluate);
    let queued = || {
        let o = slurm("squeue")
            .args(["-h", "-o", "%i %T", "-j", &ids])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    wait_until(
        Duration::from_secs(600),
        || {
            let (ok, out) = queued();
            ok && out.trim().is_empty()
        },
        || {
            format!(
                "jobs still queued after 10 minutes:\n{}\nlogs: {}",
                queued().1,
                logs_text(&jobs.logs)
            )
        },
    );
}

/// `JobState` of a job (or of array element `A_I`).
fn state(job: &str) -> String {
    let o = slurm("scontrol")
        .args(["show", "job", "-o", job])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .unwrap_or_else(|| panic!("no JobState for {job}: {out}"))
        .to_string()
}

fn logs_text(dir: &Path) -> String {
    let mut s = String::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        s += &format!(
            "==> {} <==\n{}\n",
            f.display(),
            std::fs::read_to_string(&f).unwrap_or_default()
        );
    }
    s
}

fn element_log(jobs: &Jobs, index: usize) -> String {
    std::fs::read_to_string(jobs.logs.join(format!("{}_{index}.out", jobs.array)))
        .unwrap_or_default()
}

#[test]
fn slurm_array_matches_the_serial_run() {
    let (_one, serial) = serial_hash();
    let tmp = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let jobs = submit(tmp.path(), &[]);
    wait_done(&jobs);
    eprintln!(
        "table3 smoke through Slurm: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        state(&jobs.evaluate),
        "COMPLETED",
        "{}",
        logs_text(&jobs.logs)
    );
    assert_eq!(results_hash(tmp.path()), serial);
    for i in 0..5 {
        let log = element_log(&jobs, i);
        assert!(
            log.contains(&format!(
                "meg: run meg-s{i} of table3 (smoke), array element {i}, attempt 1"
            )),
            "{log}"
        );
    }
}

#[test]
fn slurm_requeued_element_resumes_and_matches_the_serial_run() {
    let (_one, serial) = serial_hash();
    let tmp = tempfile::tempdir().unwrap();
    // Element 1 stops itself after its first checkpoint (iteration 8 of 18)...
    let jobs = submit(
        tmp.path(),
        &[
            ("MEG_FAULT", "checkpoint:meg-s1"),
            ("MEG_FAULT_ACTION", "stop"),
        ],
    );
    wait_until(
        Duration::from_secs(300),
        || element_log(&jobs, 1).contains("stopping this process (SIGSTOP) at `checkpoint:meg-s1`"),
        || {
            format!(
                "element 1 never reached its checkpoint:\n{}",
                logs_text(&jobs.logs)
            )
        },
    );
    // ...and is requeued there, as a preempted job is: killed and queued again.
    let element = format!("{}_1", jobs.array);
    let o = slurm("scontrol")
        .args(["requeue", &element])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Slurm makes a requeued job eligible two minutes later; make it
    // eligible now, once it is pending again.
    wait_until(
        Duration::from_secs(120),
        || state(&element) == "PENDING",
        || state(&element),
    );
    let o = slurm("scontrol")
        .args(["update", &format!("JobId={element}"), "StartTime=now"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_done(&jobs);
    assert_eq!(
        state(&jobs.evaluate),
        "COMPLETED",
        "{}",
        logs_text(&jobs.logs)
    );
    let log = element_log(&jobs, 1);
    let (first, second) = log
        .split_once("array element 1, attempt 2")
        .unwrap_or_else(|| panic!("element 1 was not requeued:\n{log}"));
    assert!(first.contains("iteration 8/18"), "{log}");
    // The second attempt continued from the checkpoint at iteration 8.
    assert!(
        second.contains("iteration 12/18") && !second.contains("iteration 4/18"),
        "{log}"
    );
    assert_eq!(results_hash(tmp.path()), serial);
}

#[test]
fn slurm_failed_element_cancels_the_evaluation_and_names_the_run() {
    let (_one, _) = serial_hash();
    let tmp = tempfile::tempdir().unwrap();
    let jobs = submit(tmp.path(), &[("MEG_FAULT", "checkpoint:meg-s2")]);
    wait_done(&jobs);
    assert_eq!(state(&format!("{}_2", jobs.array)), "FAILED");
    assert_eq!(state(&format!("{}_0", jobs.array)), "COMPLETED");
    assert_eq!(
        state(&jobs.evaluate),
        "CANCELLED",
        "{}",
        logs_text(&jobs.logs)
    );
    let log = element_log(&jobs, 2);
    assert!(
        log.contains("meg: run meg-s2 of table3 (smoke) FAILED (exit status 137; array element 2)"),
        "{log}"
    );
    assert!(!tmp.path().join("table3/smoke/results.json").exists());
    // What the evaluation job would have said.
    let o = reproduce(tmp.path())
        .arg("--evaluate-only")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("are not finished: meg-s2 ("), "{err}");
}
