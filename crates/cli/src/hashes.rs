//! `meg hashes update|check`: the canonical hashes of the reports'
//! `results.json` files against `reports/hashes.lock` (see
//! `meg_reports::hashes`).

use anyhow::Result;
use meg_experiments::{default_reports_dir, Profile};
use meg_reports::hashes;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Reports tree holding <target>/<profile>/results.json (default: the workspace's reports/).
    #[arg(long)]
    reports: Option<PathBuf>,
    /// Lock file; canonical results are kept in hashes/ beside it
    /// (default: the workspace's reports/hashes.lock).
    #[arg(long)]
    lock: Option<PathBuf>,
    /// Profile whose results are hashed.
    #[arg(long, default_value = hashes::SMOKE)]
    profile: Profile,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Hash every target's results and write the lock and the canonical results.
    Update(Common),
    /// Compare every target's results with the lock; on a mismatch print both
    /// hashes and the metrics that differ, and fail.
    Check(Common),
}

impl Common {
    fn paths(&self) -> (PathBuf, PathBuf) {
        (
            self.reports.clone().unwrap_or_else(default_reports_dir),
            self.lock
                .clone()
                .unwrap_or_else(|| default_reports_dir().join("hashes.lock")),
        )
    }
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Update(c) => {
            let (reports, lock) = c.paths();
            let up = hashes::update(&reports, &lock, c.profile.as_str())?;
            for (what, targets) in [
                ("changed", &up.changed),
                ("unchanged", &up.unchanged),
                ("removed", &up.removed),
            ] {
                for t in targets {
                    println!("{t} ({}): {what}", c.profile);
                }
            }
            println!("wrote {}", lock.display());
        }
        Command::Check(c) => {
            let (reports, lock) = c.paths();
            for (t, how) in hashes::check(&reports, &lock, c.profile.as_str())? {
                match how {
                    hashes::Match::Exact => println!("{t} ({}): OK", c.profile),
                    hashes::Match::Tolerance { differing, worst } => println!(
                        "{t} ({}): OK within the cross-CPU tolerance ({differing} value(s) \
                         differ, at most {:.2}%; the lock was written on another CPU kind)",
                        c.profile,
                        worst * 100.0
                    ),
                }
            }
        }
    }
    Ok(())
}
