//! `fig2` end to end on the smoke profile: training, evaluation, plots, report;
//! a second invocation reuses the finished runs.

use meg_experiments::{reproduce, Mode, Options, Profile};

/// Regenerates the run's evaluation samples from its checkpoint (seed
/// `eval_seed`, `eval_samples` draws) and recounts, without the metrics crate,
/// the samples within 3 std of their nearest centre: the reported counts,
/// high-quality share and covered modes (>= 1/5 of a fair share) must agree.
fn check_mode_counts(
    out: &std::path::Path,
    name: &str,
    r: &serde_json::Value,
    summary: &serde_json::Value,
) {
    use meg_models::checkpoint::Checkpoint;
    use meg_models::config::RunConfig;
    use meg_models::nets::Model;
    let cfg: RunConfig = serde_json::from_value(r["config"].clone()).unwrap();
    let model = Model::new(&cfg.model, tch::Device::Cpu);
    let ck = Checkpoint::read(&out.join(format!("runs/{name}/checkpoint.safetensors"))).unwrap();
    ck.restore_model(&model).unwrap();
    let (seed, n) = (
        summary["eval_seed"].as_i64().unwrap(),
        summary["eval_samples"].as_i64().unwrap(),
    );
    tch::manual_seed(seed);
    let x = tch::no_grad(|| model.generate(&model.sample_z(n), false));
    let x: Vec<f32> = Vec::try_from(x.reshape([-1])).unwrap();
    let toy = meg_datasets::toy::Toy::parse(name).unwrap();
    let (centres, std) = toy.mixture().unwrap();
    let mut counts = vec![0u64; centres.len()];
    let mut nearest_d2 = f64::INFINITY;
    for p in x.chunks(2) {
        let (k, d2) = centres
            .iter()
            .map(|c| (p[0] as f64 - c[0]).powi(2) + (p[1] as f64 - c[1]).powi(2))
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        nearest_d2 = nearest_d2.min(d2);
        if d2 <= 9.0 * std * std {
            counts[k] += 1;
        }
    }
    let reported: Vec<u64> = serde_json::from_value(r["mode_counts"].clone()).unwrap();
    assert_eq!(
        reported,
        counts,
        "{name}: mode counts (closest sample at {:.3} std)",
        nearest_d2.sqrt() / std
    );
    let total: u64 = counts.iter().sum();
    let share = r["high_quality_share"].as_f64().unwrap();
    assert_eq!(share, total as f64 / n as f64, "{name}: high-quality share");
    let fair = total as f64 / counts.len() as f64;
    let covered = counts
        .iter()
        .filter(|&&c| total > 0 && c as f64 >= 0.2 * fair)
        .count();
    assert_eq!(r["modes_covered"], covered, "{name}: modes covered");
}

#[test]
fn fig2_smoke_writes_the_report_and_reuses_finished_runs() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        profile: Profile::Smoke,
        device: tch::Device::Cpu,
        reports_dir: tmp.path().to_path_buf(),
        seeds: None,
        reference: None,
        mode: Mode::All,
    };
    let out = reproduce("fig2", &opts).unwrap().remove(0);
    assert_eq!(out, tmp.path().join("fig2").join("smoke"));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    for (name, modes) in [
        ("swissroll", None),
        ("25gaussians", Some(25)),
        ("8gaussians", Some(8)),
    ] {
        let r = &results["runs"][name];
        assert_eq!(r["iterations"], 30, "{name}");
        let kl = r["kl_data_model"].as_f64().unwrap();
        assert!(kl.is_finite() && kl > 0.0, "{name}: KL {kl}");
        if let Some(m) = modes {
            assert_eq!(r["modes_total"], m);
            check_mode_counts(&out, name, r, &results["summary"]);
        }
        let png = image::open(out.join(format!("{name}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (1600, 400));
    }
    assert!(results["provenance"]["libtorch_version"]
        .as_str()
        .unwrap()
        .starts_with("2.11.0"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for img in [
        "swissroll.png",
        "25gaussians.png",
        "8gaussians.png",
        "loss.png",
    ] {
        assert!(
            report.contains(&format!("]({img})")),
            "report.md does not embed {img}"
        );
    }

    // Finished runs are not retrained: their checkpoints stay untouched.
    let ck = out.join("runs/8gaussians/checkpoint.safetensors");
    let before = std::fs::metadata(&ck).unwrap().modified().unwrap();
    reproduce("fig2", &opts).unwrap();
    assert_eq!(std::fs::metadata(&ck).unwrap().modified().unwrap(), before);
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        again["runs"]["25gaussians"]["kl_data_model"],
        results["runs"]["25gaussians"]["kl_data_model"]
    );
}
