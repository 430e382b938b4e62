//! `cargo xtask doctor`: what this machine offers the project.
//!
//! The libtorch facts that only a running libtorch can tell (CUDA devices,
//! threads) come from `meg doctor`, a tch binary, so a broken link shows up
//! here as a failure rather than as a file that merely exists.

use crate::util::{cargo, run_status, workspace_root};
use anyhow::{bail, Context, Result};

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`cargo xtask doctor` takes no arguments, got `{a}`");
    }
    let lt = crate::setup::find().context("libtorch is not provisioned")?;
    println!("libtorch (files): {} at {}", lt.version, lt.dir.display());
    match &lt.python {
        Some(p) => println!("python with torch: {}", p.display()),
        None => println!("python with torch: none provisioned (LIBTORCH set by you)"),
    }
    run_status(cargo().current_dir(workspace_root()).args([
        "build",
        "--release",
        "--quiet",
        "--bin",
        "meg",
    ]))
    .context("building `meg` failed")?;
    let target: std::path::PathBuf = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), Into::into);
    let meg = target.join("release").join("meg");
    let status = std::process::Command::new(&meg)
        .arg("doctor")
        .status()
        .with_context(|| format!("could not start {}", meg.display()))?;
    if !status.success() {
        bail!("libtorch is not usable: `meg doctor` failed ({status})");
    }
    Ok(())
}
