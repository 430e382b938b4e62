//! The paper's tables and figures: experiment specs (`experiments/*.yaml`) and
//! the runner of each target, which trains through the one training loop,
//! evaluates, and writes `reports/<target>/<profile>/`.

pub mod anomaly;
pub mod celeba;
pub mod classifier;
pub mod fig2;
pub mod fig3;
pub mod parity;
pub mod profile;
pub mod results;
pub mod samples;
pub mod spec;
pub mod table1;
pub mod table2;
pub mod table3;
pub mod table4;
pub mod target;

pub use profile::Profile;

use anyhow::{bail, Result};
use std::path::PathBuf;
use tch::Device;

/// Targets this build can reproduce.
pub const TARGETS: &[&str] = &[
    "table1", "table2", "table3", "table4", "fig2", "fig3", "celeba",
];

/// Targets outside `all` and the smoke hashes (`cargo xtask verify`):
/// `parity` compares with PyTorch, so its numbers depend on PyTorch too.
pub const EXTRA_TARGETS: &[&str] = &["parity"];

/// Every target the reports index lists.
pub fn indexed_targets() -> Vec<&'static str> {
    TARGETS.iter().chain(EXTRA_TARGETS).copied().collect()
}

/// How to reproduce a target.
#[derive(Debug, Clone)]
pub struct Options {
    /// The size profile.
    pub profile: Profile,
    pub device: Device,
    /// Root of the reports tree (the workspace's `reports/` by default).
    pub reports_dir: PathBuf,
    /// Seeds per multi-seed run, overriding the spec (`--seeds N`).
    pub seeds: Option<u64>,
    /// A checkout of the authors' repository for the `parity` target's
    /// reference side (`--reference DIR`); without it, the project's own
    /// PyTorch code.
    pub reference: Option<PathBuf>,
}

/// The workspace's `reports/` directory.
pub fn default_reports_dir() -> PathBuf {
    meg_plumbing::workspace_root().join("reports")
}

/// Reproduces `target` (or `all`, every target in turn); returns the
/// directories written.
pub fn reproduce(target: &str, opts: &Options) -> Result<Vec<PathBuf>> {
    if target == "all" {
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for t in TARGETS {
            match reproduce_one(t, opts) {
                Ok(p) => out.push(p),
                Err(e) => {
                    eprintln!("error: {t}: {e:#}");
                    failed.push(*t);
                }
            }
        }
        if !failed.is_empty() {
            bail!(
                "{} of {} targets failed: {} (the others finished; see the messages above)",
                failed.len(),
                TARGETS.len(),
                failed.join(", ")
            );
        }
        return Ok(out);
    }
    Ok(vec![reproduce_one(target, opts)?])
}

fn reproduce_one(target: &str, opts: &Options) -> Result<PathBuf> {
    if !TARGETS.contains(&target) && !EXTRA_TARGETS.contains(&target) {
        bail!(
            "unknown target `{target}`: expected one of {}, {}, or all",
            TARGETS.join(", "),
            EXTRA_TARGETS.join(", ")
        );
    }
    if opts.reference.is_some() && target != "parity" {
        bail!("--reference is for the parity target only, not `{target}`");
    }
    let exp = spec::Experiment::load(target)?;
    exp.profile(opts.profile)?;
    match target {
        "table1" => table1::run(&exp, opts),
        "table2" => table2::run(&exp, opts),
        "table3" => table3::run(&exp, opts),
        "table4" => table4::run(&exp, opts),
        "fig2" => fig2::run(&exp, opts),
        "fig3" => fig3::run(&exp, opts),
        "celeba" => celeba::run(&exp, opts),
        "parity" => parity::run(&exp, opts),
        _ => unreachable!("checked against TARGETS"),
    }
}
