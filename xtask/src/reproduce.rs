//! `cargo xtask reproduce <target>`: build `meg` and run `meg reproduce`.
//!
//! The experiment logic lives in the `meg-experiments` crate (it needs
//! libtorch); this task provisions libtorch, builds the release binary and
//! forwards the arguments, `--jobs N` and `--launcher slurm ...` included
//! (see `meg reproduce --help` and the README's section on clusters).

use crate::util::run_status;
use anyhow::{bail, Result};

pub fn run(args: &[String]) -> Result<()> {
    if args.is_empty() || args[0].starts_with('-') {
        bail!(
            "usage: cargo xtask reproduce <target> [--profile smoke|quick|paper] [--device cpu|cuda|auto] [--seeds N] [--reference DIR]\n\
             \x20      [--jobs N | --launcher slurm [--partition NAME] [--gpus-per-task N] [--time HH:MM:SS] [--account A] [--dry-run]]\n\
             targets: table1 table2 table3 table4 fig2 fig3 celeba all, and parity (ours against PyTorch; --reference DIR: the authors' checkout)"
        );
    }
    crate::setup::provision()?;
    let mut cmd = crate::util::meg(&["reproduce"])?;
    run_status(cmd.args(args))
}
