//! The paper's tables and figures: experiment specs (`experiments/*.yaml`) and
//! the runner of each target, which trains through the one training loop,
//! evaluates, and writes `reports/<target>/<profile>/`.

pub mod fig2;
pub mod spec;

use anyhow::{bail, Result};
use std::path::PathBuf;
use tch::Device;

/// Targets this build can reproduce.
pub const TARGETS: &[&str] = &["fig2"];

/// How to reproduce a target.
#[derive(Debug, Clone)]
pub struct Options {
    /// `smoke`, `quick` or `paper`.
    pub profile: String,
    pub device: Device,
    /// Root of the reports tree (the workspace's `reports/` by default).
    pub reports_dir: PathBuf,
}

/// The workspace's `reports/` directory.
pub fn default_reports_dir() -> PathBuf {
    meg_nn::golden::workspace_root().join("reports")
}

/// Reproduces `target`; returns the directory it wrote.
pub fn reproduce(target: &str, opts: &Options) -> Result<PathBuf> {
    let exp = spec::Experiment::load(target)?;
    exp.profile(&opts.profile)?;
    match target {
        "fig2" => fig2::run(&exp, opts),
        _ => bail!(
            "unknown target `{target}`: expected one of {}",
            TARGETS.join(", ")
        ),
    }
}
