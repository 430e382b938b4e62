//! Small helpers shared by the tasks.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Runs a command, inheriting stdio, and fails with the command line if it fails.
pub fn run_status(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The `cargo` that invoked us (falls back to `cargo` on PATH).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo run --release --quiet --bin meg -- <args>` in the workspace.
pub fn meg(args: &[&str]) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["run", "--release", "--quiet", "--bin", "meg", "--"])
        .args(args);
    cmd
}
