//! `meg train` / `meg sample` as a user runs them: a SIGKILL at each named
//! moment of a checkpoint or metrics write (`MEG_FAULT`, meg_plumbing::fault) never
//! leaves a broken checkpoint, and `--resume` ends exactly where an
//! uninterrupted run ends.

mod common;

use std::path::Path;
use std::process::Command;

/// A MEG run on a toy density: `(name, width and batch size, data set,
/// iterations, seed, log_every, checkpoint_every)`.
fn run_yaml(
    name: &str,
    width: u32,
    toy: &str,
    iterations: u64,
    seed: u64,
    log: u64,
    ckpt: u64,
) -> String {
    format!(
        "name: {name}\nmodel: {{family: toy, width: {width}}}\ndata: {{kind: toy, name: {toy}}}\n\
         objective: meg\nlambda: 0.1\nbatch_size: {width}\niterations: {iterations}\nseed: {seed}\n\
         log_every: {log}\ncheckpoint_every: {ckpt}\n"
    )
}

/// A long run that checkpoints every iteration and logs every 10.
fn long_config() -> String {
    run_yaml("kill-test", 64, "25gaussians", 1_000_000, 2, 10, 1)
}

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

/// A short run (checkpoints at 20, 40, 60; rows every 5 iterations) for the
/// crash tests.
fn short_config() -> String {
    run_yaml("crash-test", 32, "8gaussians", 60, 3, 5, 20)
}

/// metrics.csv without the seconds column, and every checkpoint tensor.
fn outcome(dir: &Path) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let rows = csv
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    let mut tensors: Vec<(String, Vec<f64>)> =
        tch::Tensor::read_safetensors(dir.join("checkpoint.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(k, t)| {
                let v = Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).reshape([-1])).unwrap();
                (k, v)
            })
            .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    (rows, tensors)
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

/// Killed (SIGKILL, by `MEG_FAULT`) at each named moment of a checkpoint or
/// metrics write, a run resumes to exactly the checkpoint and metrics of an
/// uninterrupted run: no row lost or repeated, no temporary file left.
#[test]
fn killed_at_each_write_point_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, short_config()).unwrap();
    let clean = tmp.path().join("clean");
    let o = meg().args(train_args(&cfg, &clean, &[])).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = outcome(&clean);
    assert_eq!(want.0.len(), 1 + 12, "header and a row every 5 iterations");

    for (i, fault) in [
        "partial-write:checkpoint.safetensors@2",
        "before-rename:checkpoint.safetensors@2",
        "after-rename:checkpoint.safetensors@2",
        "metrics-row-unflushed@7",
        "after-rename:checkpoint.safetensors@3",
        "partial-write:run.json",
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("run{i}"));
        common::run_killed_at(meg().args(train_args(&cfg, &out, &[])), fault);
        // A row torn by the crash (or a full disk) at the end of metrics.csv
        // is dropped on resume, not an error.
        let csv = out.join("metrics.csv");
        if csv.exists() {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&csv).unwrap();
            f.write_all(b"45,-0.1702398,0.02146").unwrap();
        }
        // Whatever checkpoint is there is complete and loads.
        if out.join("checkpoint.safetensors").exists() {
            checkpoint_iteration(&out);
        }
        let o = meg()
            .args(train_args(&cfg, &out, &["--resume"]))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{fault}: resume failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = outcome(&out);
        assert_eq!(got.0, want.0, "{fault}: metrics rows differ");
        assert!(got.1 == want.1, "{fault}: the final checkpoint differs");
        assert!(
            temporaries(&out).is_empty(),
            "{fault}: {:?}",
            temporaries(&out)
        );
    }
}

/// Two real processes given one output directory: while the first holds the
/// run's lock (stopped right after taking it), the second fails, naming the
/// directory and the holder, and leaves nothing of its own there; the first
/// then finishes with its own config, checkpoint and metrics.
#[test]
fn a_second_process_cannot_write_a_run_directory_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg_a, cfg_b) = (tmp.path().join("a.yaml"), tmp.path().join("b.yaml"));
    std::fs::write(&cfg_a, short_config()).unwrap();
    std::fs::write(
        &cfg_b,
        short_config().replace("iterations: 60", "iterations: 40"),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let a = common::spawn_stopped_at(meg().args(train_args(&cfg_a, &out, &[])), "run-locked");
    for extra in [&[][..], &["--resume"][..]] {
        let o = meg()
            .args(train_args(&cfg_b, &out, extra))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("is in use by another meg process")
                && err.contains(&format!("pid {}", a.id()))
                && err.contains(out.to_str().unwrap()),
            "{err}"
        );
    }
    common::resume(&a);
    let status = a.wait_with_output().unwrap().status;
    assert!(status.success(), "{status}");
    let saved = std::fs::read_to_string(out.join("config.yaml")).unwrap();
    assert!(saved.contains("iterations: 60"), "{saved}");
    let want = {
        let clean = tmp.path().join("clean");
        let o = meg()
            .args(train_args(&cfg_a, &clean, &[]))
            .output()
            .unwrap();
        assert!(o.status.success());
        outcome(&clean)
    };
    assert!(
        outcome(&out) == want,
        "the first run's results were disturbed"
    );
}

/// `--stop-at` leaves a resumable run whose iteration count continues, and the
/// model samples from its checkpoint.
#[test]
fn stopped_run_samples_and_continues_its_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, long_config()).unwrap();
    let out = tmp.path().join("run");
    let st = meg()
        .args(train_args(&cfg, &out, &["--stop-at", "0"]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        st.status.success() && err.contains("no checkpoint written"),
        "{err}"
    );
    assert_eq!(checkpoint_iteration(&out), None);
    let st = meg()
        .args(train_args(&cfg, &out, &["--stop-at", "12"]))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(checkpoint_iteration(&out), Some(12));
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
    let samples = std::fs::read_to_string(tmp.path().join("s.csv")).unwrap();
    assert_eq!(samples.lines().count(), 4);
    let target = 19;
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
    // Rows at log_every (10) only: a stop adds none of its own.
    assert_eq!(its, [10], "metrics rows");
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
}

/// `--stop-at` between checkpoints stops at the last checkpoint before it
/// and says so; resuming then ends exactly as an uninterrupted run.
#[test]
fn stop_between_checkpoints_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, short_config()).unwrap();
    let clean = tmp.path().join("clean");
    assert!(meg()
        .args(train_args(&cfg, &clean, &[]))
        .status()
        .unwrap()
        .success());
    let out = tmp.path().join("run");
    let o = meg()
        .args(train_args(&cfg, &out, &["--stop-at", "35"]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("--stop-at 35 is not a checkpoint iteration") && err.contains("iteration 20"),
        "{err}"
    );
    assert_eq!(checkpoint_iteration(&out), Some(20));
    let o = meg()
        .args(train_args(&cfg, &out, &["--resume"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        outcome(&out) == outcome(&clean),
        "stopped at 35 and resumed: results differ"
    );
}

#[test]
fn bad_config_names_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.yaml");
    std::fs::write(&cfg, long_config().replace("lambda: 0.1", "lambda: lots")).unwrap();
    let o = meg()
        .args(["train", cfg.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("bad.yaml") && err.contains("lambda"), "{err}");
}

/// `meg sample` streams its output: many samples (more than one chunk) come
/// out the same in CSV and safetensors, and an output no disk can hold is
/// refused before anything is written.
#[test]
fn samples_stream_to_csv_and_safetensors_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, run_yaml("s", 16, "8gaussians", 2, 1, 1, 1)).unwrap();
    let out = tmp.path().join("run");
    let st = meg().args(train_args(&cfg, &out, &[])).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let sample = |n: &str, file: &Path| {
        meg()
            .args([
                "sample",
                out.to_str().unwrap(),
                "--device",
                "cpu",
                "--seed",
                "5",
                "-n",
                n,
                "--out",
            ])
            .arg(file)
            .output()
            .unwrap()
    };
    let n = 70_000;
    let (csv, st) = (tmp.path().join("s.csv"), tmp.path().join("s.safetensors"));
    for f in [&csv, &st] {
        let o = sample(&n.to_string(), f);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let rows: Vec<Vec<f32>> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    let t = tch::Tensor::read_safetensors(&st).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].0, "samples");
    assert_eq!(t[0].1.size(), [n, 2]);
    let flat: Vec<f32> = Vec::try_from(t[0].1.reshape([-1])).unwrap();
    assert_eq!(rows.len() as i64, n);
    assert!(rows.iter().all(|r| r.len() == 2));
    // f32's Display round-trips: the two files hold the same numbers.
    assert_eq!(rows.concat(), flat);
    // The chunks are not copies of one another.
    assert_ne!(rows[0], rows[65_536]);

    let huge = tmp.path().join("huge.csv");
    let o = sample("4000000000000000000", &huge);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs at least") && err.contains("the disk of"),
        "{err}"
    );
    assert!(!huge.exists());
}

/// A model or batch too large for the machine is refused before anything is
/// allocated, naming the setting, and leaves no half-made run behind.
#[test]
fn oversized_runs_are_refused_with_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    for (yaml, setting) in [
        (
            run_yaml("w", 1_000_000_000, "8gaussians", 10, 1, 1, 1)
                .replace("batch_size: 1000000000", "batch_size: 8"),
            "`model.width`",
        ),
        (
            run_yaml("b", 16, "8gaussians", 10, 1, 1, 1)
                .replace("batch_size: 16", "batch_size: 100000000000"),
            "`batch_size`",
        ),
    ] {
        let cfg = tmp.path().join("run.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        let out = tmp.path().join("run");
        let o = meg().args(train_args(&cfg, &out, &[])).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("needs at least") && err.contains(setting),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != ".meg.lock")
            .collect();
        assert!(left.is_empty(), "a refused run left {left:?}");
    }
}

/// A new run that fails before its first checkpoint (here it diverges) leaves
/// no config.yaml or metrics.csv that would pass for a run.
#[test]
fn a_new_run_that_fails_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(
        &cfg,
        format!(
            "{}lr: 10000\n",
            run_yaml("d", 16, "8gaussians", 100, 1, 1, 1000)
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let o = meg().args(train_args(&cfg, &out, &[])).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("training stopped") && err.contains("no checkpoint had been written yet"),
        "{err}"
    );
    for f in [
        "config.yaml",
        "metrics.csv",
        "checkpoint.safetensors",
        "run.json",
    ] {
        assert!(!out.join(f).exists(), "{f} left behind");
    }
}

/// A metrics row that cannot be written (here the file-size limit, as a full
/// disk would) stops training with an error that names metrics.csv.
#[test]
fn a_failed_metrics_append_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(
        &cfg,
        run_yaml("full", 8, "8gaussians", 100_000, 1, 1, 100_000),
    )
    .unwrap();
    let out = tmp.path().join("run");
    // 4 KiB per file; SIGXFSZ ignored, so that the write fails with EFBIG
    // instead of killing the process.
    let o = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 4; exec \"$@\"")
        .arg("bash")
        .arg(env!("CARGO_BIN_EXE_meg"))
        .args(train_args(&cfg, &out, &[]))
        .env("MEG_THREADS", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("to {}", out.join("metrics.csv").display()))
            && err.contains("File too large"),
        "{err}"
    );
}
