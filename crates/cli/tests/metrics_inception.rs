//! `meg fid` and `meg is` against pytorch-fid / torch-fidelity on the synthetic
//! weights and image folders of tests/golden/metrics_fid.py, and their errors.

use meg_metrics::{InceptionFid, Stats};
use meg_nn::golden::Golden;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tch::{Kind, Tensor};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

/// `meg ARGS` with an empty data cache (so nothing comes from the user's).
fn meg(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meg"))
        .args(args)
        .env("MEG_DATA_DIR", data)
        .env("MEG_THREADS", "2")
        .output()
        .expect("meg runs")
}

fn ok_json(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "meg failed: {stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Fails unless `out` is a clean error (non-zero, no panic) mentioning `needle`.
fn err_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One test for everything that needs the 95 MB weight file, written once.
#[test]
fn fid_and_is_match_pytorch_fid_and_torch_fidelity() {
    let g = Golden::load("metrics_fid.json").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let weights = tmp.path().join("synthetic.safetensors");
    let sd = InceptionFid::synthetic_state_dict();
    let named: Vec<(&String, &Tensor)> = sd.iter().collect();
    Tensor::write_safetensors(&named, &weights).unwrap();
    let (a, b) = (
        golden_dir().join("metrics_fid/a"),
        golden_dir().join("metrics_fid/b"),
    );
    let stats_a = tmp.path().join("a.npz");
    let common = ["--weights", s(&weights), "--device", "cpu", "--json"];

    // Two folders (b mixes sizes, PNG kinds and JPEGs), saving a's statistics.
    let mut args = vec![
        "fid",
        s(&a),
        s(&b),
        "--batch-size",
        "5",
        "--save-stats",
        s(&stats_a),
    ];
    args.extend(common);
    let got = ok_json(&meg(&data, &args))["fid"].as_f64().unwrap();
    let want = g.scalar("fid").unwrap();
    assert!(
        (got - want).abs() / want < 1e-3,
        "FID {got} vs pytorch-fid {want}"
    );

    // The saved statistics are float64 mu/sigma of a's 12 images, and give the same
    // FID (through the 12 x 12 route instead of the nuclear norm: round-off apart).
    let saved = Stats::load_npz(&stats_a).unwrap();
    assert_eq!(
        (saved.mu.kind(), saved.sigma.size()),
        (Kind::Double, vec![2048, 2048])
    );
    let mut args = vec!["fid", s(&stats_a), s(&b)];
    args.extend(common);
    let again = ok_json(&meg(&data, &args))["fid"].as_f64().unwrap();
    assert!((again - got).abs() / got < 1e-7, "{again} vs {got}");

    // IS of folder a over 3 splits, as torch-fidelity computes it.
    let mut args = vec!["is", s(&a), "--splits", "3"];
    args.extend(common);
    let v = ok_json(&meg(&data, &args));
    let (m, sd) = (
        v["is_mean"].as_f64().unwrap(),
        v["is_std"].as_f64().unwrap(),
    );
    let (wm, ws) = (
        g.scalar("is_a_mean_3").unwrap(),
        g.scalar("is_a_std_3").unwrap(),
    );
    assert!(
        (m - wm).abs() / wm < 1e-3 && (sd - ws).abs() <= 1e-3 * wm,
        "IS {m} ± {sd} vs {wm} ± {ws}"
    );

    // Unreadable images are named.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(a.join("000.png"), bad.join("good.png")).unwrap();
    std::fs::write(bad.join("broken.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let mut args = vec!["fid", s(&bad), s(&stats_a)];
    args.extend(common);
    err_with(&meg(&data, &args), "broken.png");
    std::fs::remove_file(bad.join("broken.png")).unwrap();
    let jpeg = std::fs::read(b.join("004.jpg")).unwrap();
    std::fs::write(bad.join("cut.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    err_with(&meg(&data, &args), "cut.jpg");
    // Fewer images than splits for IS.
    let mut args = vec!["is", s(&bad), "--splits", "10"];
    args.extend(common);
    err_with(&meg(&data, &args), "need at least 10");
}

#[test]
fn fid_bad_inputs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = golden_dir().join("metrics_fid/a");

    // Two .npz files need no weights; mismatched dimensions are an error.
    let (s3, s4) = (tmp.path().join("d3.npz"), tmp.path().join("d4.npz"));
    let eye = |d: i64| Tensor::eye(d, (Kind::Double, tch::Device::Cpu));
    Stats::new(Tensor::zeros([3], (Kind::Double, tch::Device::Cpu)), eye(3))
        .unwrap()
        .save_npz(&s3)
        .unwrap();
    Stats::new(Tensor::ones([4], (Kind::Double, tch::Device::Cpu)), eye(4))
        .unwrap()
        .save_npz(&s4)
        .unwrap();
    let v = ok_json(&meg(&data, &["fid", s(&s4), s(&s4), "--json"]));
    assert_eq!(v["fid"].as_f64().unwrap(), 0.0);
    err_with(
        &meg(&data, &["fid", s(&s3), s(&s4)]),
        "different dimensions",
    );
    // Plain text output.
    let out = meg(&data, &["fid", s(&s3), s(&s3)]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("FID: 0"));

    // An .npz without sigma, a folder with one image, a stray file, a missing path.
    let only_mu = tmp.path().join("mu.npz");
    Tensor::write_npz(
        &[("mu", &Tensor::zeros([3], (Kind::Double, tch::Device::Cpu)))],
        &only_mu,
    )
    .unwrap();
    err_with(
        &meg(&data, &["fid", s(&only_mu), s(&s3)]),
        "no array `sigma`",
    );
    let one = tmp.path().join("one");
    std::fs::create_dir(&one).unwrap();
    std::fs::copy(a.join("000.png"), one.join("x.png")).unwrap();
    err_with(
        &meg(&data, &["fid", s(&one), s(&s3)]),
        "found 1 image(s), need at least 2",
    );
    std::fs::copy(a.join("001.png"), one.join("y.png")).unwrap();
    std::fs::write(one.join("notes.txt"), "x").unwrap();
    err_with(
        &meg(&data, &["fid", s(&one), s(&s3)]),
        "notes.txt: not an image file",
    );
    err_with(
        &meg(&data, &["fid", "/nonexistent/dir", s(&s3)]),
        "/nonexistent/dir",
    );

    // A folder without --weights and no weights in the cache: how to get them.
    err_with(
        &meg(&data, &["fid", s(&a), s(&s3)]),
        "meg data fetch inception-fid",
    );
    // A weights file that is not an Inception state dict.
    let junk = tmp.path().join("junk.safetensors");
    Tensor::write_safetensors(
        &[("w", &Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)))],
        &junk,
    )
    .unwrap();
    err_with(
        &meg(&data, &["fid", s(&a), s(&s3), "--weights", s(&junk)]),
        "unexpected tensor `w`",
    );
}
