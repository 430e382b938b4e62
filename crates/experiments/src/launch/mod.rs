//! Scale-out of a target's runs: `--jobs N` (local child processes, see
//! [`local`]) and `--launcher slurm` (a Slurm job array and a dependent
//! evaluation job, see [`slurm`]). Both train each run with the same command,
//! `meg reproduce TARGET ... --train-run ID` (the run's training with the
//! target's in-training evaluations, as [`crate::Mode::TrainRun`]), and then
//! evaluate with `--evaluate-only`, so the results do not depend on the
//! launcher.

pub mod local;
pub mod slurm;

use crate::target::Run;
use crate::{with_target, Mode, Options};
use anyhow::{Context, Result};
pub use meg_launch::Invocation;

/// Every run of `target` under `opts` (data checked, the target's lock taken
/// and released), with each run's `config.yaml` written into its folder
/// unless a checkpoint there already holds the run (training then checks it).
pub fn plan(target: &str, opts: &Options) -> Result<Vec<Run>> {
    if crate::EXTRA_TARGETS.contains(&target) {
        anyhow::bail!(
            "`{target}` trains both of its implementations here, side by side: \
             --jobs and --launcher slurm are for the paper's targets ({})",
            crate::TARGETS.join(", ")
        );
    }
    let exp = crate::load_target(target, opts)?;
    let opts = Options {
        mode: Mode::All,
        ..opts.clone()
    };
    let runs = with_target(&exp, &opts, |t| t.runs())?;
    for run in &runs {
        if run.dir.join(meg_models::checkpoint::FILE).exists() {
            continue;
        }
        std::fs::create_dir_all(&run.dir)
            .with_context(|| format!("creating {}", run.dir.display()))?;
        meg_plumbing::io::write_atomic(
            &run.dir.join(meg_models::train::CONFIG_FILE),
            run.cfg.to_yaml().as_bytes(),
        )?;
    }
    Ok(runs)
}

/// The invocation of this `meg` binary for `target` under `opts`, with
/// `device` as the user gave it.
pub fn invocation(target: &str, opts: &Options, device: &str) -> Result<Invocation> {
    let meg = std::env::current_exe().context("finding the meg binary")?;
    let meg = meg.canonicalize().unwrap_or(meg);
    Ok(Invocation {
        meg,
        target: target.to_string(),
        profile: opts.profile.to_string(),
        device: device.to_string(),
        reports_dir: meg_launch::absolute(&opts.reports_dir)?,
        seeds: opts.seeds,
    })
}
