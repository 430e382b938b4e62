//! `cargo xtask test`: provision libtorch when needed, run every test, then
//! `cargo xtask verify` (the smoke profile of every target against
//! `reports/hashes.lock`). Extra arguments go to `cargo test`; with any, the
//! verify step is skipped (a filtered run is not the whole suite).

use crate::util::{cargo, run_status, workspace_root};
use anyhow::Result;

pub fn run(args: &[String]) -> Result<()> {
    let lt = crate::setup::provision()?;
    eprintln!("libtorch {} at {}", lt.version, lt.dir.display());
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["test", "--workspace", "--release", "--exclude", "xtask"])
        .args(args);
    // Tests run many small models concurrently: one intra-op thread each avoids oversubscribing the cores (unless the user chose a count).
    if std::env::var_os("MEG_THREADS").is_none() {
        cmd.env("MEG_THREADS", "1");
    }
    run_status(&mut cmd)?;
    // xtask's own unit tests build without libtorch.
    run_status(
        cargo()
            .current_dir(workspace_root())
            .args(["test", "--quiet", "-p", "xtask"]),
    )?;
    if args.is_empty() {
        crate::verify::run(&[])?;
    }
    Ok(())
}
