//! Every workload once at tiny sizes, ours and the PyTorch twin's, so CI runs
//! the benchmark code (no timing is checked).

use meg_bench::{run, Scale, Workload};
use std::path::Path;
use std::process::Command;
use tch::Device;

#[test]
fn every_workload_runs_at_tiny_sizes_on_both_sides() {
    let mut params = Vec::new();
    for w in Workload::ALL {
        let m = run(w, Scale::Smoke, Device::Cpu, 0, 1).unwrap();
        assert_eq!(m.samples.len(), 1, "{w:?}");
        assert!(m.samples[0] > 0.0 && m.samples[0].is_finite(), "{m:?}");
        params.push(m.params.map(|(e, g, t)| format!("params={e},{g},{t}")));
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".torch-venv/bin/python");
    assert!(
        python.exists(),
        "input missing: {} (run `cargo xtask setup`, which provisions the venv)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(root.join("crates/bench/bench.py"))
        .arg("--smoke")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench.py --smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The twin builds the same networks: the same parameter counts.
    for (w, ours) in Workload::ALL.iter().zip(&params) {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!(" workload={} ", w.name())))
            .unwrap_or_else(|| panic!("no result for {}:\n{stdout}", w.name()));
        let theirs = line.split_whitespace().find(|f| f.starts_with("params="));
        assert_eq!(theirs, ours.as_deref(), "{}", w.name());
    }
}
