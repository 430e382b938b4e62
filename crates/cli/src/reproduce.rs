//! `meg reproduce TARGET`: one paper table or figure, end to end.

use anyhow::Result;
use meg_experiments::{default_reports_dir, reproduce, Options};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Target: fig2.
    target: String,
    /// smoke (seconds), quick (minutes on a CPU) or paper (the authors' sizes).
    #[arg(long, default_value = "quick")]
    profile: String,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Root of the reports tree (default: the workspace's reports/).
    #[arg(long)]
    reports_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    let opts = Options {
        profile: args.profile,
        device: meg_nn::parse_device(&args.device)?,
        reports_dir: args.reports_dir.unwrap_or_else(default_reports_dir),
    };
    let out = reproduce(&args.target, &opts)?;
    println!("{}", out.display());
    Ok(())
}
