//! `cargo xtask test --numeric-paths`: the golden and numerics tests under
//! each CPU kernel path a real machine may take, reached on this one through
//! the libraries' environment variables. Before each run, `meg doctor
//! --kernels` under `ONEDNN_VERBOSE=1 MKL_VERBOSE=1` shows which kernels the
//! variables actually select (a path that is the default on this CPU says so).
//! The tolerance policy the tests follow is in `meg_nn::tolerance`.

use crate::util::{cargo, meg_at, meg_binary, workspace_root};
use anyhow::{bail, Result};
use std::path::Path;

/// A numeric path: a label and the environment that selects it.
pub struct NumericPath {
    pub env: &'static [(&'static str, &'static str)],
}

impl NumericPath {
    fn label(&self) -> String {
        if self.env.is_empty() {
            return "default".into();
        }
        let vars: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        vars.join(" ")
    }
}

/// The paths: ATen's vectorized kernels (AVX-512 and AVX2 machines, and the
/// scalar fallback), MKL's conditional-numerical-reproducibility branch, and
/// oneDNN's instruction set (AVX2 as on AMD EPYC, SSE4.1 as on old CPUs).
pub const PATHS: &[NumericPath] = &[
    NumericPath { env: &[] },
    NumericPath {
        env: &[("ATEN_CPU_CAPABILITY", "avx2")],
    },
    NumericPath {
        env: &[("ATEN_CPU_CAPABILITY", "default")],
    },
    NumericPath {
        env: &[("MKL_CBWR", "COMPATIBLE")],
    },
    NumericPath {
        env: &[("ONEDNN_MAX_CPU_ISA", "AVX2")],
    },
    NumericPath {
        env: &[("ONEDNN_MAX_CPU_ISA", "SSE41")],
    },
];

/// `(package, cargo test target flags)`: every test compared against a golden
/// file or a closed form.
const GOLDEN_TESTS: &[(&str, &[&str])] = &[
    ("meg-nn", &["--lib", "--test", "autograd"]),
    (
        "meg-models",
        &[
            "--lib",
            "--test",
            "nets",
            "--test",
            "objectives",
            "--test",
            "mcmc",
        ],
    ),
    (
        "meg-metrics",
        &[
            "--lib",
            "--test",
            "numerics",
            "--test",
            "inception",
            "--test",
            "anomaly",
        ],
    ),
    ("meg-datasets", &["--test", "datasets", "loaders"]),
    (
        "meg-cli",
        &["--test", "metrics_inception", "--test", "metrics_eval"],
    ),
];

/// The kernels one process selects: ATen's level, oneDNN's ISA, MKL's branch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Kernels {
    pub aten: String,
    pub onednn: String,
    pub mkl: String,
}

/// Reads the kernels from `meg doctor --kernels --json` output with
/// `ONEDNN_VERBOSE=1 MKL_VERBOSE=1` (both streams).
pub fn parse_kernels(output: &str) -> Kernels {
    let mut k = Kernels::default();
    for line in output.lines() {
        if let Some(i) = line.find("\"cpu_capability\":\"") {
            let rest = &line[i + 18..];
            k.aten = rest.split('"').next().unwrap_or("").to_string();
        }
        if line.starts_with("onednn_verbose") {
            if let Some(isa) = line.split(',').find_map(|f| f.strip_prefix("isa:")) {
                k.onednn = isa.to_string();
            }
        }
        if line.starts_with("MKL_VERBOSE") && line.contains(" CNR:") && k.mkl.is_empty() {
            let cnr = line.split_whitespace().find(|f| f.starts_with("CNR:"));
            k.mkl = cnr.unwrap_or("").to_string();
        }
    }
    k
}

fn kernels(bin: &Path, path: &NumericPath) -> Result<Kernels> {
    let mut cmd = meg_at(bin, &["doctor", "--kernels", "--json"]);
    cmd.envs(path.env.iter().copied())
        .env("ONEDNN_VERBOSE", "1")
        .env("MKL_VERBOSE", "1")
        .env("MEG_THREADS", "1");
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Ok(parse_kernels(&text))
}

fn run_golden_tests(path: &NumericPath) -> Result<bool> {
    let mut ok = true;
    for (package, targets) in GOLDEN_TESTS {
        let status = cargo()
            .current_dir(workspace_root())
            .args(["test", "--release", "--quiet", "-p", package])
            .args(*targets)
            .envs(path.env.iter().copied())
            .env("MEG_THREADS", "1")
            .status()?;
        ok &= status.success();
    }
    Ok(ok)
}

pub fn run() -> Result<()> {
    let bin = meg_binary()?;
    let default = kernels(&bin, &PATHS[0])?;
    let mut rows = Vec::new();
    for path in PATHS {
        let k = kernels(&bin, path)?;
        let note = if path.env.is_empty() {
            ""
        } else if k == default {
            " (the default's kernels on this CPU)"
        } else {
            ""
        };
        eprintln!(
            "\n== numeric path {}: ATen {}, oneDNN {}, MKL {}{note}",
            path.label(),
            k.aten,
            k.onednn,
            k.mkl
        );
        let passed = run_golden_tests(path)?;
        rows.push((path.label(), k, note, passed));
    }
    eprintln!("\nnumeric paths (golden and numerics tests, one thread):");
    for (label, k, note, passed) in &rows {
        eprintln!(
            "  {:<30} {:<6} ATen {}, oneDNN {}, MKL {}{note}",
            label,
            if *passed { "pass" } else { "FAIL" },
            k.aten,
            k.onednn,
            k.mkl
        );
    }
    let failed: Vec<&str> = rows.iter().filter(|r| !r.3).map(|r| r.0.as_str()).collect();
    if !failed.is_empty() {
        bail!(
            "the golden or numerics tests fail under: {}",
            failed.join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_read_from_the_verbose_output() {
        let out = "onednn_verbose,v1,info,cpu,isa:Intel AVX2\n\
                   MKL_VERBOSE oneMKL 2024.0 Update 2 Product build\n\
                   MKL_VERBOSE SGEMM(N,N,64) 128.17us CNR:COMPATIBLE Dyn:0 FastMM:1 TID:0  NThr:1\n\
                   {\"libtorch_version\":\"2.11.0\",\"cpu_capability\":\"AVX2\",\"mkl\":true}\n";
        let k = parse_kernels(out);
        assert_eq!(k.aten, "AVX2");
        assert_eq!(k.onednn, "Intel AVX2");
        assert_eq!(k.mkl, "CNR:COMPATIBLE");
        assert_eq!(PATHS[0].label(), "default");
        assert_eq!(PATHS[3].label(), "MKL_CBWR=COMPATIBLE");
    }
}
