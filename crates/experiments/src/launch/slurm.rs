//! `meg reproduce TARGET --launcher slurm`: the target's runs, planned here,
//! as one Slurm job array and a dependent evaluation job, written and
//! submitted by [`meg_launch::slurm`] (which holds the scripts' layout).

use super::{invocation, plan};
use anyhow::Result;
pub use meg_launch::slurm::{SlurmOptions, Submitted};

/// Plans `target` (not `all`: its runs' configs written), then writes its
/// Slurm scripts and, unless `s.dry_run`, submits them. `device` is as the
/// user gave it (a Slurm node resolves it).
pub fn launch(
    target: &str,
    opts: &crate::Options,
    device: &str,
    s: &SlurmOptions,
) -> Result<Option<Submitted>> {
    s.validate()?;
    let runs = plan(target, opts)?;
    let inv = invocation(target, opts, device)?;
    let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    meg_launch::slurm::submit(&inv, &ids, &meg_plumbing::workspace_root(), s)
}
