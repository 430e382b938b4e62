//! `cargo xtask reproduce <target>`: build `meg` and run `meg reproduce`.
//!
//! The experiment logic lives in the `meg-experiments` crate (it needs
//! libtorch); this task provisions libtorch, builds the release binary and
//! forwards the arguments.

use crate::util::{cargo, run_status, workspace_root};
use anyhow::{bail, Result};

pub fn run(args: &[String]) -> Result<()> {
    if args.is_empty() || args[0].starts_with('-') {
        bail!(
            "usage: cargo xtask reproduce <target> [--profile smoke|quick|paper] [--device cpu|cuda|auto] [--seeds N]\n\
             targets: table1 table2 table3 table4 fig2 fig3 celeba all"
        );
    }
    crate::setup::provision()?;
    run_status(
        cargo()
            .current_dir(workspace_root())
            .args([
                "run",
                "--release",
                "--quiet",
                "--bin",
                "meg",
                "--",
                "reproduce",
            ])
            .args(args),
    )
}
