//! `fig2` end to end on the smoke profile: training, evaluation, plots, report;
//! a second invocation reuses the finished runs.

use meg_experiments::{reproduce, Options};

#[test]
fn fig2_smoke_writes_the_report_and_reuses_finished_runs() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        profile: "smoke".into(),
        device: tch::Device::Cpu,
        reports_dir: tmp.path().to_path_buf(),
        seeds: None,
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
            assert!(r["modes_covered"].as_u64().unwrap() <= m);
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
