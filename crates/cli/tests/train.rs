//! `meg train` / `meg sample` as a user runs them: SIGKILL in the middle of
//! training (and so, often, in the middle of a checkpoint save) never leaves a
//! broken checkpoint, and `--resume` continues the iteration count.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONFIG: &str = "
name: kill-test
model: {family: toy, width: 64}
data: {kind: toy, name: 25gaussians}
objective: meg
lambda: 0.1
batch_size: 64
iterations: 1000000
seed: 2
log_every: 10
checkpoint_every: 1
";

fn meg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meg"));
    c.env("MEG_THREADS", "1");
    c
}

/// `meg train CONFIG --out OUT --device cpu`, plus `extra`.
fn train_args(cfg: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let base = [
        "train",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn checkpoint_iteration(dir: &Path) -> Option<u64> {
    let ck = dir.join("checkpoint.safetensors");
    ck.exists().then(|| {
        meg_models::checkpoint::Checkpoint::read(&ck)
            .expect("the checkpoint under the final name is always complete")
            .iteration()
            .unwrap()
    })
}

#[test]
fn killed_training_resumes_from_an_intact_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = tmp.path().join("run");
    let mut last = 0;
    for (round, wait_ms) in [700u64, 450, 830, 600, 910].into_iter().enumerate() {
        let args = train_args(&cfg, &out, if round > 0 { &["--resume"] } else { &[] });
        let mut child = meg()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if let Some(it) = checkpoint_iteration(&out) {
            assert!(
                it >= last,
                "round {round}: checkpoint went back from {last} to {it}"
            );
            last = it;
        }
        // The model loads and samples from whatever checkpoint is there.
        if last > 0 {
            let s = meg()
                .args([
                    "sample",
                    out.to_str().unwrap(),
                    "-n",
                    "4",
                    "--device",
                    "cpu",
                    "--out",
                ])
                .arg(tmp.path().join("s.csv"))
                .output()
                .unwrap();
            assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
        }
    }
    assert!(last > 0, "no checkpoint was ever written");
    // Resume and stop at a fixed count: the iteration count continues from the checkpoint.
    let target = last + 7;
    let st = meg()
        .args(train_args(
            &cfg,
            &out,
            &["--resume", "--stop-at", &target.to_string()],
        ))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(checkpoint_iteration(&out), Some(target));
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let its: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        its.windows(2).all(|w| w[0] < w[1]),
        "metrics rows repeat or go back: {its:?}"
    );
    assert_eq!(*its.last().unwrap(), target);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let samples = std::fs::read_to_string(tmp.path().join("s.csv")).unwrap();
    assert_eq!(samples.lines().count(), 4);
}

#[test]
fn bad_config_names_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.yaml");
    std::fs::write(&cfg, CONFIG.replace("lambda: 0.1", "lambda: lots")).unwrap();
    let o = meg()
        .args(["train", cfg.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("bad.yaml") && err.contains("lambda"), "{err}");
}
