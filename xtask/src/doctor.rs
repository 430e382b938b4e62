//! `cargo xtask doctor`: what this machine offers the project.
//!
//! The libtorch facts that only a running libtorch can tell (CUDA devices,
//! threads) come from `meg doctor`, a tch binary, so a broken link shows up
//! here as a failure rather than as a file that merely exists.

use crate::util::{cargo, workspace_root};
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
    let status = cargo()
        .current_dir(workspace_root())
        .args([
            "run",
            "--release",
            "--quiet",
            "--bin",
            "meg",
            "--",
            "doctor",
        ])
        .status()
        .context("could not run `cargo run --bin meg -- doctor`")?;
    if !status.success() {
        bail!("libtorch is not usable: `meg doctor` failed ({status})");
    }
    Ok(())
}
