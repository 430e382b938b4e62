//! The `parity` target end to end on its smoke profile: our runs and the
//! PyTorch reference's (tests/parity/reference.py, which needs the torch
//! venv: see xtask/src/inputs.rs), evaluation, band plots and verdicts.

use meg_experiments::spec::Experiment;
use meg_experiments::{parity, reproduce, Options, Profile};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn opts(reports: &Path, reference: Option<PathBuf>) -> Options {
    tch::set_num_threads(1);
    Options {
        profile: Profile::Smoke,
        device: tch::Device::Cpu,
        reports_dir: reports.to_path_buf(),
        seeds: None,
        reference,
        mode: meg_experiments::Mode::All,
    }
}

#[test]
fn parity_spec_is_valid_under_every_profile() {
    let e = Experiment::load("parity").unwrap();
    for profile in Profile::ALL {
        for run in &e.runs {
            let cfg = e.run_config(run, profile).unwrap();
            assert!(cfg.iterations.unwrap() >= 20, "{profile}: too short");
        }
    }
    e.eval_settings::<parity::Eval>(Profile::Smoke).unwrap();
    let quick = e.eval_settings::<parity::Eval>(Profile::Quick).unwrap();
    assert!(quick.every <= 500 && quick.samples >= 1000);
}

#[test]
fn reference_dir_is_refused_for_other_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let err = reproduce("fig2", &opts(tmp.path(), Some(tmp.path().into()))).unwrap_err();
    assert!(
        format!("{err:#}").contains("--reference is for the parity target only"),
        "{err:#}"
    );
}

#[test]
fn parity_smoke_trains_both_sides_and_writes_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = reproduce("parity", &opts(tmp.path(), None)).unwrap();
    let dir = tmp.path().join("parity").join("smoke");
    assert_eq!(out, [dir.clone()]);
    for f in [
        "report.md",
        "results.json",
        "toy-meg-trajectories.png",
        "toy-meg-generator.png",
        "smnist-meg-trajectories.png",
        "smnist-wgan-generator.png",
    ] {
        assert!(dir.join(f).is_file(), "no {f}");
    }
    let res: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let runs = res["runs"].as_object().unwrap();
    assert_eq!(runs.len(), 24, "4 specs x 3 seeds x 2 sides");
    // Evaluations every 20 iterations (StackedMNIST: `stack_every`, 10) and
    // at the end, on both sides.
    for (spec, end, evals) in [
        ("toy-meg", 40, &[20, 40][..]),
        ("smnist-meg", 20, &[10, 20][..]),
        ("smnist-wgan", 20, &[10, 20][..]),
        ("smnist-wgan-std", 20, &[10, 20][..]),
    ] {
        for k in 0..3 {
            for (id, side) in [
                (format!("{spec}-s{k}"), "ours"),
                (format!("{spec}-s{k}-ref"), "reference"),
            ] {
                let r = &runs[&id];
                assert_eq!(r["side"], side, "{id}");
                assert_eq!(r["seed"], k, "{id}");
                let its: Vec<u64> = r["evals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["iteration"].as_u64().unwrap())
                    .collect();
                assert_eq!(its, evals, "{id}");
                assert_eq!(r["final"]["iteration"], end, "{id}");
                let mi = r["final"]["mi_loss"].as_f64().unwrap();
                if spec.starts_with("smnist-wgan") {
                    assert_eq!(mi, 0.0, "{id}: WGAN-GP has no MI term");
                } else {
                    assert!(mi > 0.0, "{id}");
                }
                // StackedMNIST: at least one digit tuple among the samples.
                let modes = r["evals"][0]["modes"].as_f64().unwrap();
                assert!(spec == "toy-meg" || modes >= 1.0, "{id}: {modes}");
            }
        }
    }
    // The authors' per-pixel penalty reaches both sides of `smnist-wgan`;
    // `smnist-wgan-std` keeps the default on both.
    for (spec, per_pixel) in [("smnist-wgan", true), ("smnist-wgan-std", false)] {
        let ours =
            std::fs::read_to_string(dir.join(format!("runs/{spec}-s0/config.yaml"))).unwrap();
        assert_eq!(
            ours.contains("gradient_penalty: per-pixel"),
            per_pixel,
            "{ours}"
        );
        let theirs: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("runs/{spec}-s0-ref/config.json"))).unwrap(),
        )
        .unwrap();
        let want = if per_pixel {
            "per-pixel"
        } else {
            "per-example"
        };
        assert_eq!(theirs["gradient_penalty"], want, "{theirs}");
    }
    // The exported StackedMNIST set the reference trained on.
    assert!(dir.join("runs/smnist-meg-data.safetensors").is_file());
    assert_eq!(res["summary"]["reference"]["kind"], "own");
    assert_eq!(res["summary"]["classifier"]["source"], "trained here");
    // WGAN-GP has no MI term, so no verdict on it.
    let wgan = res["summary"]["verdicts"]["smnist-wgan"]
        .as_array()
        .unwrap();
    assert!(wgan.iter().all(|q| q["quantity"] != "MI loss (BCE)"));
    let v = res["summary"]["verdicts"]["toy-meg"].as_array().unwrap();
    let names: Vec<&str> = v.iter().map(|q| q["quantity"].as_str().unwrap()).collect();
    assert_eq!(
        names[..5],
        [
            "E(real)",
            "E(fake)",
            "E(real) − E(fake)",
            "penalty",
            "MI loss (BCE)"
        ]
    );
    // The gap's seed mean is the difference of the two levels' seed means
    // (tail means are linear); the tolerance is rounding on their magnitudes.
    for side in ["ours_mean", "ref_mean"] {
        let m = |i: usize| v[i][side].as_f64().unwrap();
        let scale = m(0).abs() + m(1).abs();
        assert!(
            (m(2) - (m(0) - m(1))).abs() <= 1e-12 * scale.max(1.0),
            "{side}: gap {} against {} - {}",
            m(2),
            m(0),
            m(1)
        );
    }
    for q in &v[..5] {
        assert_eq!(q["seeds_ours"], 3);
        assert_eq!(q["seeds_ref"], 3);
        let (d, t) = (
            q["diff"].as_f64().unwrap(),
            q["threshold"].as_f64().unwrap(),
        );
        assert_eq!(q["agree"].as_bool().unwrap(), d <= t, "{q}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("the project's own PyTorch code"),
        "{report}"
    );
    let index = std::fs::read_to_string(tmp.path().join("index.md")).unwrap();
    assert!(index.contains("| parity | smoke | complete"), "{index}");
    // A second invocation finds both sides finished and trains nothing.
    let t0 = std::time::Instant::now();
    reproduce("parity", &opts(tmp.path(), None)).unwrap();
    assert!(t0.elapsed().as_secs_f64() < 20.0, "re-ran training");
}

#[test]
fn parity_reference_dir_without_the_authors_code_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("not-a-checkout");
    std::fs::create_dir_all(&fake).unwrap();
    let err = reproduce("parity", &opts(&tmp.path().join("r"), Some(fake))).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("not-a-checkout: no scripts/train/functions.py"),
        "{msg}"
    );
    // Refused before any training.
    assert!(!tmp.path().join("r/parity/smoke/runs").exists());
}
