//! Every workload once at tiny sizes, ours and the PyTorch twin's, so CI runs
//! the benchmark code (no timing is checked); and the workload list that
//! `meg-bench --list --json` gives `cargo xtask bench` and `bench.py`.

use meg_bench::{list_json, run, Scale, Workload};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tch::Device;

#[test]
fn the_binary_lists_every_workload_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_meg-bench"))
        .args(["--list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), Workload::ALL.len());
    for (w, entry) in Workload::ALL.iter().zip(&list) {
        assert_eq!(entry["name"], w.name());
        assert_eq!(entry["unit"], w.unit());
        assert!(
            entry["what"].as_str().is_some_and(|s| !s.is_empty()),
            "{entry}"
        );
        assert!(
            entry["warmup"].is_u64() && entry["iters"].as_u64() > Some(0),
            "{entry}"
        );
        assert!(
            entry["min_ratio"].is_null() || entry["min_ratio"].is_f64(),
            "{entry}"
        );
    }
    assert_eq!(list[0]["min_ratio"], 1.05);
}

#[test]
fn every_workload_runs_at_tiny_sizes_on_both_sides() {
    let mut params = Vec::new();
    for w in Workload::ALL {
        let m = run(w, Scale::Smoke, Device::Cpu, 0, 1).unwrap();
        assert_eq!(m.samples.len(), 1, "{w:?}");
        assert!(m.samples[0] > 0.0 && m.samples[0].is_finite(), "{m:?}");
        params.push(m.params.map(|(e, g, t)| vec![e, g, t]));
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".torch-venv/bin/python");
    assert!(
        python.exists(),
        "input missing: {} (run `cargo xtask setup`, which provisions the venv)",
        python.display()
    );
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), list_json()).unwrap();
    let out = Command::new(&python)
        .arg(root.join("crates/bench/bench.py"))
        .arg("--workloads")
        .arg(list.path())
        .arg("--smoke")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench.py --smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("bench-result "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every listed workload, in the list's order, in its unit; and the twin
    // builds the same networks: the same parameter counts.
    assert_eq!(lines.len(), Workload::ALL.len(), "{stdout}");
    for ((w, ours), line) in Workload::ALL.iter().zip(&params).zip(&lines) {
        assert_eq!(
            (&line["workload"], &line["unit"]),
            (&w.name().into(), &w.unit().into())
        );
        assert_eq!(line["samples"].as_array().map(Vec::len), Some(1), "{line}");
        let theirs: Option<Vec<i64>> = serde_json::from_value(line["params"].clone()).unwrap();
        assert_eq!(&theirs, ours, "{}", w.name());
    }
}
