//! pytorch-fid parity of the Inception network, the image reader and the FID, on
//! the synthetic weights and image folders of tests/golden/metrics_fid.py; and the
//! state-dict loading path.

use meg_metrics::images::{list_images, load_image};
use meg_metrics::inception::synthetic_uniform;
use meg_metrics::weights::load_state_dict;
use meg_metrics::{fid, InceptionFid, Stats};
use meg_nn::golden::Golden;
use meg_nn::tolerance::closeness;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

#[test]
fn fid_and_features_match_pytorch_fid() {
    let g = Golden::load("metrics_fid.json").unwrap();
    let net = InceptionFid::synthetic(Device::Cpu);
    let root = golden_dir().join("metrics_fid");
    // Folder b mixes sizes and modes: batches of 4 resize each image on its own.
    let (fa, la) = net
        .folder_features_and_logits(&root.join("a"), 2, 6)
        .unwrap();
    let (fb, _) = net
        .folder_features_and_logits(&root.join("b"), 2, 4)
        .unwrap();
    assert_eq!(
        (fa.size(), la.size(), fb.size()),
        (vec![12, 2048], vec![12, 1008], vec![14, 2048])
    );

    // Single images of each kind: RGB, grey, RGBA, palette and 16-bit PNGs; JPEGs.
    for (name, file) in [
        ("a0", "a/000.png"),
        ("gray", "b/001_gray.png"),
        ("rgba", "b/002_rgba.png"),
        ("palette", "b/003_palette.png"),
        ("jpeg", "b/004.jpg"),
        ("rgb16", "b/010_rgb16.png"),
        ("gray16", "b/011_gray16.png"),
        ("gray_jpeg", "b/012_gray.jpg"),
        ("progressive", "b/013_progressive.jpg"),
    ] {
        let img = load_image(&root.join(file)).unwrap().unsqueeze(0);
        let (pool3, unbiased) = net.features_and_logits(&img, 1).unwrap();
        let logits = net.logits(&pool3, true);
        for (what, got) in [
            ("pool3", &pool3),
            ("logits_unbiased", &unbiased),
            ("logits", &logits),
        ] {
            let want = g.get(&format!("{what}_{name}"), Kind::Float).unwrap();
            // float32 through ~100 layers: close, not bit-equal. Our BatchNorm is
            // folded into the convolutions, pytorch-fid's is not: each float32
            // pass is about as far from the float64 one (pool3 of a/000.png:
            // max abs 8.9e-3 for pytorch-fid, 7.3e-3 folded; relative norm
            // 5.3e-4 and 5.5e-4), and 3.3e-3 (max abs) apart.
            let c = closeness(&got.squeeze_dim(0), &want, 5e-3, 5e-3);
            assert!(c <= 1.0, "{what} of {file}: worst error ratio {c}");
        }
    }
    let a0 = g.get("pool3_a0", Kind::Float).unwrap();
    assert!(
        closeness(&fa.get(0), &a0, 5e-3, 5e-3) <= 1.0,
        "batched features differ"
    );
    // uint8 images are divided by 255: the same features as the float image.
    let img = load_image(&root.join("a/000.png")).unwrap().unsqueeze(0);
    let bytes = (&img * 255.0).round().to_kind(Kind::Uint8);
    // (Also a check that a permuted input layout does not change the result.)
    let permuted = img.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
    assert!(net.pool3(&bytes).equal(&net.pool3(&img)));
    assert!(net.pool3(&permuted).equal(&net.pool3(&img)));

    let got = fid(
        &Stats::from_features(&fa).unwrap(),
        &Stats::from_features(&fb).unwrap(),
    )
    .unwrap();
    let want = g.scalar("fid").unwrap();
    let rel = (got - want).abs() / want;
    println!("FID ours {got} pytorch-fid {want} relative difference {rel:.2e}");
    assert!(rel < 1e-3, "FID {got} vs pytorch-fid {want}");
}

#[test]
fn parameter_names_and_shapes_equal_pytorch_fid_state_dict() {
    let text = std::fs::read_to_string(golden_dir().join("metrics_fid.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut theirs: Vec<(String, Vec<i64>)> = v["meta"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let shape = kv[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_i64().unwrap())
                .collect();
            (kv[0].as_str().unwrap().to_string(), shape)
        })
        .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        .collect();
    theirs.sort();
    assert_eq!(InceptionFid::parameter_shapes(), theirs);
}

#[test]
fn synthetic_weights_equal_the_python_rule_bit_for_bit() {
    let g = Golden::load("metrics_fid.json").unwrap();
    let sd = InceptionFid::synthetic_state_dict();
    for key in [
        "Conv2d_1a_3x3.conv.weight",
        "Mixed_6b.branch7x7_2.conv.weight",
        "Mixed_7c.branch_pool.bn.running_var",
        "Mixed_5b.branch1x1.bn.bias",
        "fc.weight",
        "fc.bias",
    ] {
        let want = g.get(&format!("head_{key}"), Kind::Float).unwrap();
        let got = sd[key].flatten(0, -1).narrow(0, 0, want.size()[0]);
        assert!(got.equal(&want), "{key}: {got} vs {want}");
    }
    // Every conv filter sums to zero (up to float32 rounding).
    let w = sd["Conv2d_1a_3x3.conv.weight"].to_kind(Kind::Double);
    let sums = w.sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Double);
    assert!(sums.abs().max().double_value(&[]) < 1e-6);
}

#[test]
fn image_folder_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    std::fs::create_dir(&one).unwrap();
    std::fs::copy(
        golden_dir().join("metrics_fid/a/000.png"),
        one.join("x.png"),
    )
    .unwrap();
    let err = format!("{:#}", list_images(&one, 2).unwrap_err());
    assert!(err.contains("found 1 image(s), need at least 2"), "{err}");

    std::fs::write(one.join("notes.txt"), "hello").unwrap();
    let err = format!("{:#}", list_images(&one, 2).unwrap_err());
    assert!(
        err.contains("notes.txt") && err.contains("not an image"),
        "{err}"
    );

    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = format!("{:#}", load_image(&broken).unwrap_err());
    assert!(err.contains("broken.png"), "{err}");
}

fn sha256(p: &Path) -> String {
    meg_datasets::hash::hash_file(p).unwrap().sha256
}

#[test]
fn pickled_state_dict_is_converted_once_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let pth = dir.path().join("sd.pth");
    let legacy = dir.path().join("legacy.pth");
    let script = format!(
        "import torch, collections\n\
         sd = collections.OrderedDict(w=torch.arange(6.).reshape(2, 3), b=torch.tensor([1.5]),\n\
             n=torch.tensor(7), h=torch.ones(2, dtype=torch.float16))\n\
         torch.save(sd, {:?})\n\
         torch.save(sd, {:?}, _use_new_zipfile_serialization=False)\n",
        pth.display().to_string(),
        legacy.display().to_string()
    );
    // The .pth files are written by torch itself, when this machine has it.
    let py = meg_metrics::weights::find_python();
    let out = Command::new(&py)
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "input missing: cannot run {} ({e}); run `cargo xtask setup` or set MEG_PYTHON",
                py.display()
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} could not write the .pth files (no torch? run `cargo xtask setup` or set MEG_PYTHON): {stderr}",
        py.display()
    );

    for file in [&pth, &legacy] {
        let sd = load_state_dict(file, &cache).unwrap();
        assert_eq!(sd.keys().collect::<Vec<_>>(), ["b", "h", "n", "w"]);
        assert!(sd["w"].equal(&Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3])));
        assert_eq!(sd["n"].kind(), Kind::Int64);
        assert_eq!(sd["n"].int64_value(&[]), 7);
        assert_eq!(sd["h"].kind(), Kind::Half);
        let cached = cache.join(format!("{}.safetensors", sha256(file)));
        assert!(cached.exists());
    }
    // A second load reads the cache, not the source: plant a different tensor there.
    let cached = cache.join(format!("{}.safetensors", sha256(&pth)));
    let planted = Tensor::from_slice(&[42.0f32]);
    Tensor::write_safetensors(&[("b", &planted)], &cached).unwrap();
    assert_eq!(
        load_state_dict(&pth, &cache).unwrap()["b"].double_value(&[0]),
        42.0
    );

    // Not a state dict: a clear error naming the file.
    let junk = dir.path().join("junk.pth");
    std::fs::write(&junk, b"definitely not a pickle").unwrap();
    let err = format!("{:#}", load_state_dict(&junk, &cache).unwrap_err());
    assert!(
        err.contains("junk.pth") && err.contains("is neither safetensors nor a PyTorch state dict"),
        "{err}"
    );
    // A torch.save zip cut short: torch (which is there) says why, and the
    // error does not blame a missing torch.
    let cut = dir.path().join("cut.pth");
    std::fs::write(&cut, &std::fs::read(&pth).unwrap()[..200]).unwrap();
    let err = format!("{:#}", load_state_dict(&cut, &cache).unwrap_err());
    assert!(
        err.contains("could not read")
            && err.contains("cut.pth")
            && !err.contains("needs a Python"),
        "{err}"
    );
}

#[test]
fn cached_statistics_need_a_weight_file() {
    let sd = InceptionFid::synthetic_state_dict();
    let net = InceptionFid::from_state_dict(&sd, Device::Cpu).unwrap();
    assert_eq!(net.weights_id(), "");
    let err = meg_metrics::fid::cifar10_train_stats(&net, 50)
        .unwrap_err()
        .to_string();
    assert!(err.contains("load the network from a file"), "{err}");
}

#[test]
fn inception_rejects_foreign_state_dicts() {
    let mut sd = InceptionFid::synthetic_state_dict();
    sd.insert(
        "AuxLogits.fc.weight".into(),
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
    );
    let err = format!(
        "{:#}",
        InceptionFid::from_state_dict(&sd, Device::Cpu).unwrap_err()
    );
    assert!(err.contains("AuxLogits.fc.weight"), "{err}");
    let mut sd = InceptionFid::synthetic_state_dict();
    sd.insert(
        "fc.weight".into(),
        Tensor::zeros([1000, 2048], (Kind::Float, Device::Cpu)),
    );
    let err = format!(
        "{:#}",
        InceptionFid::from_state_dict(&sd, Device::Cpu).unwrap_err()
    );
    assert!(err.contains("fc.weight") && err.contains("1000"), "{err}");
    let mut sd = InceptionFid::synthetic_state_dict();
    sd.remove("Mixed_6e.branch_pool.bn.running_var");
    let err = format!(
        "{:#}",
        InceptionFid::from_state_dict(&sd, Device::Cpu).unwrap_err()
    );
    assert!(
        err.contains("missing tensor `Mixed_6e.branch_pool.bn.running_var`"),
        "{err}"
    );
}

/// Benchmark, not a test: images/second of feature extraction at 299x299 on the
/// synthetic weights. Run with
/// `MEG_THREADS=2 cargo test --release -p meg-metrics --test inception -- --ignored --nocapture`
/// and compare with `tests/golden/metrics_bench.py` (pytorch-fid, same weights,
/// same images, same threads).
#[test]
#[ignore = "benchmark, not a test: Inception feature extraction speed, compared by hand with tests/golden/metrics_bench.py"]
fn bench_feature_extraction() {
    let threads = meg_nn::set_threads_from_env().unwrap();
    let (n, batch) = (64usize, 16usize);
    let net = InceptionFid::synthetic(Device::Cpu);
    // The images of the benchmark script: the same splitmix64 values, key "bench".
    let px: Vec<f32> = (0..n * 3 * 299 * 299)
        .map(|i| synthetic_uniform("bench", i as u64) as f32)
        .collect();
    let images = Tensor::from_slice(&px).view([n as i64, 3, 299, 299]);
    let _ = net
        .features_and_logits(&images.narrow(0, 0, batch as i64), batch)
        .unwrap();
    let t = std::time::Instant::now();
    let _ = net.features_and_logits(&images, batch).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "meg-metrics Inception: {n} images 299x299, batch {batch}, {threads} threads: {s:.2} s, {:.2} images/s",
        n as f64 / s
    );
}
