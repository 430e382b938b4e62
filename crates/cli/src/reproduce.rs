//! `meg reproduce TARGET`: one paper table or figure, end to end.

use anyhow::Result;
use meg_experiments::{default_reports_dir, reproduce, Options, Profile};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Target: table1, table2, table3, table4, fig2, fig3, celeba, parity or all.
    target: String,
    /// smoke (seconds), quick (minutes on a CPU) or paper (the authors' sizes).
    #[arg(long, default_value = "quick")]
    profile: Profile,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Root of the reports tree (default: the workspace's reports/).
    #[arg(long)]
    reports_dir: Option<PathBuf>,
    /// Seeds per multi-seed run (overrides the spec; Table 3 uses 5).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: Option<u64>,
    /// parity only: a checkout of the authors' repository
    /// (ritheshkumar95/energy_based_generative_models) whose networks and
    /// training step are the reference (default: the project's own PyTorch code).
    #[arg(long)]
    reference: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    let opts = Options {
        profile: args.profile,
        device: meg_nn::parse_device(&args.device)?,
        reports_dir: args.reports_dir.unwrap_or_else(default_reports_dir),
        seeds: args.seeds,
        reference: args.reference,
    };
    for out in reproduce(&args.target, &opts)? {
        println!("{}", out.display());
    }
    Ok(())
}
