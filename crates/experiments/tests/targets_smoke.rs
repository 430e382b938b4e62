//! Every target end to end on its smoke profile (synthetic stand-ins in the
//! true file formats): training, evaluation, tables, plots and report; and
//! every spec's run configs valid under every profile.

use meg_experiments::spec::Experiment;
use meg_experiments::{reproduce, Options, TARGETS};
use serde_json::Value;
use std::path::Path;

fn smoke(target: &str, reports: &Path) -> Value {
    tch::set_num_threads(1);
    let opts = Options {
        profile: "smoke".into(),
        device: tch::Device::Cpu,
        reports_dir: reports.to_path_buf(),
        seeds: None,
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
    for target in TARGETS {
        let e = Experiment::load(target).unwrap();
        for profile in ["smoke", "quick", "paper"] {
            for run in &e.runs {
                e.run_config(run, profile)
                    .unwrap_or_else(|err| panic!("{target}/{profile}/{}: {err:#}", run.id));
            }
        }
    }
}

#[test]
fn table1_counts_modes_beside_the_paper() {
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
        let modes = run["modes"].as_u64().unwrap();
        assert!(
            (1..=400).contains(&modes),
            "{id}: {modes} modes from 400 samples"
        );
        assert!(run["kl"].as_f64().unwrap() >= 0.0);
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
    let tmp = tempfile::tempdir().unwrap();
    let r = smoke("table3", tmp.path());
    for s in 0..5 {
        let run = &r["runs"][format!("meg-s{s}")];
        assert_eq!(run["seed"], s);
        assert_eq!(run["epochs_evaluated"].as_array().unwrap().len(), 2);
        let frac = run["test_anomalies"].as_f64().unwrap() / run["test_examples"].as_f64().unwrap();
        assert!((frac - 0.2).abs() < 0.01, "anomaly share {frac}");
    }
    let f1 = &r["summary"]["score_norm"]["f1"];
    assert!(f1["mean"].as_f64().unwrap() >= 0.0 && f1["std"].as_f64().unwrap() >= 0.0);
    let csv = table_csv(tmp.path(), "table3");
    assert!(csv.contains("0.9389"), "{csv}");
    assert!(tmp.path().join("table3/smoke/pr_curves.png").is_file());
}

#[test]
fn table4_reports_auprc_for_all_ten_digits() {
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
