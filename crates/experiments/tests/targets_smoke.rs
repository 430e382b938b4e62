//! Every target end to end on its smoke profile (synthetic stand-ins in the
//! true file formats): training, evaluation, tables, plots and report; and
//! every spec's run configs valid under every profile.

use meg_experiments::spec::Experiment;
use meg_experiments::{reproduce, Mode, Options, Profile, TARGETS};
use serde_json::Value;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// libtorch has one global random generator per process. Tests that train
/// share it ([`shared_rng`]); a test that compares two trainings bit for bit
/// holds it alone ([`exclusive_rng`]), so no other test's draws interleave.
static RNG: RwLock<()> = RwLock::new(());

fn shared_rng() -> RwLockReadGuard<'static, ()> {
    RNG.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive_rng() -> RwLockWriteGuard<'static, ()> {
    RNG.write().unwrap_or_else(|e| e.into_inner())
}

fn smoke(target: &str, reports: &Path) -> Value {
    tch::set_num_threads(1);
    let opts = Options {
        profile: Profile::Smoke,
        device: tch::Device::Cpu,
        reports_dir: reports.to_path_buf(),
        seeds: None,
        reference: None,
        mode: Mode::All,
    };
    let out = reproduce(target, &opts).unwrap();
    assert_eq!(out, [reports.join(target).join("smoke")]);
    for f in ["results.json", "report.md", "loss.png"] {
        assert!(out[0].join(f).is_file(), "{target}: no {f}");
    }
    let index = std::fs::read_to_string(reports.join("index.md")).unwrap();
    assert!(
        index.contains(target),
        "{target} missing from index.md:\n{index}"
    );
    serde_json::from_str(&std::fs::read_to_string(out[0].join("results.json")).unwrap()).unwrap()
}

fn table_csv(reports: &Path, target: &str) -> String {
    std::fs::read_to_string(reports.join(target).join("smoke").join("table.csv")).unwrap()
}

#[test]
fn every_spec_is_valid_under_every_profile() {
    use meg_experiments::{anomaly, celeba, fig2, fig3, table1, table2};
    for target in TARGETS {
        let e = Experiment::load(target).unwrap();
        for profile in Profile::ALL {
            for run in &e.runs {
                e.run_config(run, profile)
                    .unwrap_or_else(|err| panic!("{target}/{profile}/{}: {err:#}", run.id));
            }
        }
        // The evaluation settings of every profile (each call reads them all).
        let p = Profile::Smoke;
        let eval = match *target {
            "table1" => e.eval_settings::<table1::Eval>(p).map(drop),
            "table2" => e.eval_settings::<table2::Eval>(p).map(drop),
            "table3" | "table4" => e.eval_settings::<anomaly::Eval>(p).map(drop),
            "fig2" => e.eval_settings::<fig2::Eval>(p).map(drop),
            "fig3" => e.eval_settings::<fig3::Eval>(p).map(drop),
            "celeba" => e.eval_settings::<celeba::Eval>(p).map(drop),
            other => panic!("no eval settings type for {other}"),
        };
        eval.unwrap_or_else(|err| panic!("{target}: {err:#}"));
    }
}

/// An unknown or mistyped evaluation setting in any profile stops a target
/// before any work, naming the file, the profile and the key.
#[test]
fn eval_typos_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (specs, reports) = (tmp.path().join("specs"), tmp.path().join("reports"));
    std::fs::create_dir_all(&specs).unwrap();
    let yaml = std::fs::read_to_string(meg_experiments::spec::experiments_dir().join("fig2.yaml"))
        .unwrap();
    for (from, to, want) in [
        (
            "kl_samples: 1000000}",
            "kl_samples: 1000000, smaples: 3}",
            "`smaples`",
        ),
        (
            "grid: 500, kl_samples: 100000}",
            "grid: lots, kl_samples: 100000}",
            "eval.grid",
        ),
    ] {
        assert!(yaml.contains(from), "{from}");
        let file = specs.join("fig2.yaml");
        std::fs::write(&file, yaml.replacen(from, to, 1)).unwrap();
        let e = Experiment::from_file(&file).unwrap();
        let err = format!(
            "{:#}",
            meg_experiments::fig2::run(&e, &smoke_opts(&reports)).unwrap_err()
        );
        assert!(
            err.contains("fig2.yaml: profiles.") && err.contains(want),
            "{err}"
        );
        if want == "`smaples`" {
            assert!(
                err.contains("`samples`, `grid`, `kl_samples`, `seed`"),
                "{err}"
            );
        }
    }
    assert!(!reports.exists(), "nothing is written");
}

#[test]
fn table1_counts_modes_beside_the_paper() {
    let _rng = shared_rng();
    let tmp = tempfile::tempdir().unwrap();
    let r = smoke("table1", tmp.path());
    for (id, stacks) in [
        ("meg-3", 3),
        ("wgan-gp-3", 3),
        ("meg-4", 4),
        ("wgan-gp-4", 4),
    ] {
        let run = &r["runs"][id];
        assert_eq!(run["stacks"], stacks, "{id}");
        // KL(p || uniform over M = 10^stacks modes) = log M - H(p), and the
        // entropy of a histogram over `modes` classes lies in [0, log modes]:
        // the reported KL, mode count and stack count must agree.
        let modes = run["modes"].as_u64().unwrap() as f64;
        let kl = run["kl"].as_f64().unwrap();
        let log_m = 10f64.powi(stacks).ln();
        assert!(
            modes >= 1.0 && kl <= log_m + 1e-9 && kl >= log_m - modes.ln() - 1e-9,
            "{id}: KL {kl} is impossible with {modes} modes of 10^{stacks}"
        );
    }
    let acc = r["summary"]["classifier"]["test_accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc > 0.5, "classifier on synthetic digits: {acc}");
    let csv = table_csv(tmp.path(), "table1");
    assert!(
        csv.contains("MEG, 3 stacks") && csv.contains("0.0313"),
        "{csv}"
    );
    assert!(tmp
        .path()
        .join("table1/smoke/mode_frequencies.png")
        .is_file());
}

#[test]
fn table2_measures_is_and_fid_with_latent_mala() {
    let _rng = shared_rng();
    let tmp = tempfile::tempdir().unwrap();
    let r = smoke("table2", tmp.path());
    let meg = &r["runs"]["meg"];
    for key in ["generator", "latent_mala"] {
        let q = &meg[key];
        assert!(
            q["fid"].as_f64().unwrap().is_finite() && q["fid"].as_f64().unwrap() > 0.0,
            "{key}"
        );
        assert!(q["is_mean"].as_f64().unwrap() >= 1.0, "{key}");
    }
    let acc: Vec<f64> = serde_json::from_value(meg["mala_acceptance"].clone()).unwrap();
    assert_eq!(acc.len(), 2);
    assert!(acc.iter().all(|a| (0.0..=1.0).contains(a)));
    assert!(r["runs"]["wgan-gp"]["latent_mala"].is_null());
    let md = std::fs::read_to_string(tmp.path().join("table2/smoke/report.md")).unwrap();
    assert!(
        md.contains("SYNTHETIC"),
        "the report must say the Inception weights are synthetic"
    );
    assert!(table_csv(tmp.path(), "table2").contains("34.55"));
}

#[test]
fn table3_averages_last_epochs_over_seeds() {
    let _rng = shared_rng();
    let tmp = tempfile::tempdir().unwrap();
    let r = smoke("table3", tmp.path());
    for s in 0..5 {
        let run = &r["runs"][format!("meg-s{s}")];
        assert_eq!(run["seed"], s);
        assert_eq!(run["epochs_evaluated"].as_array().unwrap().len(), 2);
        let frac = run["test_anomalies"].as_f64().unwrap() / run["test_examples"].as_f64().unwrap();
        assert!((frac - 0.2).abs() < 0.01, "anomaly share {frac}");
    }
    // The summary is the mean and sample standard deviation over the seeds.
    let per_seed: Vec<f64> = (0..5)
        .map(|s| {
            r["runs"][format!("meg-s{s}")]["score_norm"]["f1"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let mean = per_seed.iter().sum::<f64>() / 5.0;
    let sd = (per_seed.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    let f1 = &r["summary"]["score_norm"]["f1"];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
    assert!(
        close(f1["mean"].as_f64().unwrap(), mean) && close(f1["std"].as_f64().unwrap(), sd),
        "summary {f1} against seeds {per_seed:?}: mean {mean}, std {sd}"
    );
    assert!(sd > 0.0, "five seeds gave the same F1: {per_seed:?}");
    let csv = table_csv(tmp.path(), "table3");
    assert!(csv.contains("0.9389"), "{csv}");
    assert!(tmp.path().join("table3/smoke/pr_curves.png").is_file());
}

#[test]
fn table4_reports_auprc_for_all_ten_digits() {
    let _rng = shared_rng();
    let tmp = tempfile::tempdir().unwrap();
    let r = smoke("table4", tmp.path());
    for d in 0..10 {
        let a = r["summary"][format!("digit_{d}")]["auprc_score_norm"]
            .as_f64()
            .unwrap();
        assert!((0.0..=1.0).contains(&a), "digit {d}: {a}");
    }
    assert!(table_csv(tmp.path(), "table4").contains("MEG, digit 9"));
}

#[test]
fn fig3_and_celeba_write_sample_grids() {
    let _rng = shared_rng();
    let tmp = tempfile::tempdir().unwrap();
    let r = smoke("fig3", tmp.path());
    for space in ["visible", "latent"] {
        let a = r["summary"][space]["mean_acceptance"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{space}: {a}");
        for step in [0, 5, 10] {
            assert!(tmp
                .path()
                .join(format!("fig3/smoke/{space}_{step}.png"))
                .is_file());
        }
    }
    let r = smoke("celeba", tmp.path());
    assert_eq!(r["runs"]["meg"]["iterations"], 3);
    assert!(tmp
        .path()
        .join("celeba/smoke/samples_meg_mala.png")
        .is_file());
}

/// Overrides that shrink an image target's quick profile to seconds on synthetic digits.
const IMAGE_SHRINK: &str =
    "{data.synthetic: true, model.dim: 16, model.z_dim: 16, batch_size: 8, iterations: 3, log_every: 1, checkpoint_every: 3}";

/// `target`'s quick profile, as its YAML gives it, shrunk to seconds on the
/// synthetic digits: its overrides, then `shrink` (dotted paths), saved as
/// the `smoke` profile of a copy of the spec; `eval` entries replace the
/// quick profile's.
fn shrunk_quick(target: &str, dir: &Path, shrink: &str, eval: &str) -> Experiment {
    use serde_yaml_ng::{Mapping, Value as Y};
    let path = meg_experiments::spec::experiments_dir().join(format!("{target}.yaml"));
    let mut spec: Y = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let profiles = spec["profiles"].as_mapping_mut().unwrap();
    let mut quick = profiles[&Y::from("quick")].clone();
    let over = quick["overrides"].as_mapping_mut().unwrap();
    let shrink: Mapping = serde_yaml_ng::from_str(shrink).unwrap();
    over.extend(shrink);
    let ev = quick["eval"].as_mapping_mut().unwrap();
    let eval: Mapping = serde_yaml_ng::from_str(eval).unwrap();
    ev.extend(eval);
    profiles.insert("smoke".into(), quick);
    let file = dir.join(format!("{target}.yaml"));
    std::fs::write(&file, serde_yaml_ng::to_string(&spec).unwrap()).unwrap();
    Experiment::from_file(&file).unwrap()
}

fn smoke_opts(reports: &Path) -> Options {
    tch::set_num_threads(1);
    Options {
        profile: Profile::Smoke,
        device: tch::Device::Cpu,
        reports_dir: reports.to_path_buf(),
        seeds: None,
        reference: None,
        mode: Mode::All,
    }
}

/// The quick profiles of table2, table3 and celeba run on a Fashion-MNIST
/// stand-in: their configs work end to end (here on synthetic digits) and
/// the reports say so.
#[test]
fn quick_stand_ins_run_the_same_protocols_and_say_so() {
    let _rng = shared_rng();
    let tmp = tempfile::tempdir().unwrap();
    let (specs, reports) = (tmp.path().join("specs"), tmp.path().join("reports"));
    std::fs::create_dir_all(&specs).unwrap();
    let opts = smoke_opts(&reports);

    // Table 2: IS / FID in the classifier's feature space; MEG keeps its own λ.
    let e = shrunk_quick(
        "table2",
        &specs,
        IMAGE_SHRINK,
        "{classifier_epochs: 5, classifier_min_accuracy: 0.5, samples: 20, is_splits: 2, batch: 20, inception_batch: 20, mala: {steps: 2, alpha: 0.01, beta: 0.2}}",
    );
    let lambdas: Vec<f64> = e
        .runs
        .iter()
        .map(|r| e.run_config(r, Profile::Smoke).unwrap().lambda)
        .collect();
    assert_eq!(
        lambdas,
        [10.0, 0.012755],
        "WGAN-GP keeps λ = 10, MEG gets 10/784"
    );
    let out = meg_experiments::table2::run(&e, &opts).unwrap();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["summary"]["inception"], "classifier");
    let acc = r["summary"]["classifier"]["test_accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc > 0.5, "classifier on synthetic digits: {acc}");
    assert_eq!(
        r["summary"]["classifier"]["arch"], "small-cnn",
        "Fashion-MNIST's"
    );
    // A classifier below the profile's minimum accuracy stops the target,
    // naming the setting (an Adam step of 10 leaves it at chance).
    std::fs::create_dir_all(specs.join("bad")).unwrap();
    let bad = shrunk_quick(
        "table2",
        &specs.join("bad"),
        IMAGE_SHRINK,
        "{classifier_epochs: 1, classifier_lr: 10.0, classifier_min_accuracy: 0.5, samples: 20, is_splits: 2, batch: 20, inception_batch: 20}",
    );
    let bad_opts = Options {
        reports_dir: opts.reports_dir.join("bad"),
        ..opts.clone()
    };
    let err = format!(
        "{:#}",
        meg_experiments::table2::run(&bad, &bad_opts).unwrap_err()
    );
    assert!(
        err.contains("below the 50.00%") && err.contains("classifier_min_accuracy"),
        "{err}"
    );
    let real_is = r["summary"]["real_data"]["is_mean"].as_f64().unwrap();
    assert!(
        (1.0..=10.0).contains(&real_is),
        "IS over 10 classes: {real_is}"
    );
    for key in ["generator", "latent_mala"] {
        let fid = r["runs"]["meg"][key]["fid"].as_f64().unwrap();
        assert!(fid.is_finite() && fid > 0.0, "{key}: {fid}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("NOT Inception") && md.contains("synthetic Fashion-MNIST-format stand-in"),
        "{md}"
    );

    // Table 3: a held-out class plays KDD99's anomaly class, re-mixed to 20%.
    let e = shrunk_quick(
        "table3",
        &specs,
        "{data: {kind: mnist-holdout, digit: 8, dataset: fashion-mnist, flat: true, split_seed: 42, synthetic: true}, epochs: 2, log_every: 4, checkpoint_every: 8}",
        "{last_epochs: 2}",
    );
    let out = meg_experiments::table3::run(&e, &opts).unwrap();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let run = &r["runs"]["meg-s0"];
    assert_eq!(run["config"]["model"]["x_dim"], 784);
    let frac = run["test_anomalies"].as_f64().unwrap() / run["test_examples"].as_f64().unwrap();
    assert!((frac - 0.2).abs() < 0.01, "anomaly share {frac}");
    assert_eq!(run["epochs_evaluated"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("STAND-IN for KDD99"), "{md}");

    // CelebA: 28x28 grids, labelled.
    let e = shrunk_quick(
        "celeba",
        &specs,
        IMAGE_SHRINK,
        "{samples: 16, mala: {steps: 2, alpha: 0.01, beta: 0.2}}",
    );
    let out = meg_experiments::celeba::run(&e, &opts).unwrap();
    assert!(out.join("samples_meg_mala.png").is_file());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("STAND-IN for CelebA"), "{md}");
}

/// Table 1's quick profile counts modes while training (`modes_every`): a
/// count at every multiple, kept in the run's folder, plotted against the
/// iteration; and the counting leaves the training itself unchanged (the
/// same final losses as without it, bit for bit).
#[test]
fn table1_mode_trajectory_leaves_training_unchanged() {
    // Alone: the comparison below is bit for bit, and the other tests
    // of this binary draw from libtorch's one global generator.
    let _rng = exclusive_rng();
    let tmp = tempfile::tempdir().unwrap();
    let shrink =
        "{data.synthetic: true, model.dim: 16, model.z_dim: 16, batch_size: 8, iterations: 6, log_every: 1, checkpoint_every: 3}";
    let eval = "{classifier_epochs: 5, classifier_min_accuracy: 0.5, samples: 400, batch: 200";
    let mut results = Vec::new();
    for (name, every) in [
        ("with", "modes_every: 2}"),
        ("without", "modes_every: null}"),
    ] {
        let specs = tmp.path().join(name);
        std::fs::create_dir_all(&specs).unwrap();
        let e = shrunk_quick("table1", &specs, shrink, &format!("{eval}, {every}"));
        let opts = smoke_opts(&tmp.path().join(name).join("reports"));
        let out = meg_experiments::table1::run(&e, &opts).unwrap();
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap())
                .unwrap();
        results.push((out, r));
    }
    // The same runs trained one by one as `--jobs` processes and Slurm
    // elements do (`--train-run ID`), then evaluated: the same counts.
    let specs = tmp.path().join("split");
    std::fs::create_dir_all(&specs).unwrap();
    let e = shrunk_quick(
        "table1",
        &specs,
        shrink,
        &format!("{eval}, modes_every: 2}}"),
    );
    let opts = smoke_opts(&specs.join("reports"));
    for id in ["meg-3", "wgan-gp-3"] {
        let one = Options {
            mode: Mode::TrainRun(id.into()),
            ..opts.clone()
        };
        meg_experiments::table1::train_run(&e, &one).unwrap();
    }
    let out = meg_experiments::table1::run(&e, &opts).unwrap();
    let split: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    for id in ["meg-3", "wgan-gp-3"] {
        assert_eq!(
            split["runs"][id]["trajectory"], results[0].1["runs"][id]["trajectory"],
            "{id}: trained by --train-run"
        );
    }
    let ((with_dir, with), (without_dir, without)) = (&results[0], &results[1]);
    for id in ["meg-3", "wgan-gp-3"] {
        let traj = with["runs"][id]["trajectory"].as_array().unwrap();
        let its: Vec<u64> = traj
            .iter()
            .map(|p| p["iteration"].as_u64().unwrap())
            .collect();
        assert_eq!(its, [2, 4, 6], "{id}");
        for p in traj {
            let (modes, kl) = (p["modes"].as_f64().unwrap(), p["kl"].as_f64().unwrap());
            let log_m = 1000f64.ln();
            assert!(
                modes >= 1.0 && kl <= log_m + 1e-9 && kl >= log_m - modes.ln() - 1e-9,
                "{id}: KL {kl} is impossible with {modes} modes"
            );
        }
        assert!(with_dir.join(format!("runs/{id}/modes-4.json")).is_file());
        assert!(without["runs"][id].get("trajectory").is_none(), "{id}");
        for key in ["iteration", "e_real", "e_fake", "penalty", "mi_loss"] {
            assert_eq!(
                with["runs"][id]["final"][key], without["runs"][id]["final"][key],
                "{id}: {key}: counting modes changed the training"
            );
        }
    }
    assert!(with_dir.join("modes_trajectory.png").is_file());
    assert!(!without_dir.join("modes_trajectory.png").exists());
    let md = std::fs::read_to_string(with_dir.join("report.md")).unwrap();
    assert!(md.contains("modes_trajectory.png"), "{md}");
}
