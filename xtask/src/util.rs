//! Small helpers shared by the tasks.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

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

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The release `meg` binary, built first. Cargo's own progress shows while
/// anything is compiled (the first build says what it builds and how long it
/// takes); once the binary is newer than every source file, the build is quiet.
pub fn meg_binary() -> Result<PathBuf> {
    let root = workspace_root();
    let bin = target_dir().join("release").join("meg");
    let stamp = target_dir().join("release").join(".meg-built");
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // The stamp records the last successful build (cargo leaves the binary
    // untouched when a change does not reach it).
    let built = mtime(&bin).map(|b| b.max(mtime(&stamp).unwrap_or(b)));
    let mut cmd = cargo();
    cmd.current_dir(&root)
        .args(["build", "--release", "--bin", "meg"]);
    match built {
        None => {
            eprintln!(
                "building the `meg` binary for the first time: the workspace and its \
                 dependencies (tch and libtorch's bindings, polars, plotters) in release mode, \
                 about 15 minutes on 2 cores; later builds only recompile what changed"
            );
        }
        Some(t) if newest_source(&root).is_some_and(|s| s > t) => {
            eprintln!(
                "sources changed since {} was built: rebuilding",
                bin.display()
            );
        }
        Some(_) => {
            cmd.arg("--quiet");
        }
    }
    run_status(&mut cmd)?;
    std::fs::write(&stamp, b"").with_context(|| format!("writing {}", stamp.display()))?;
    Ok(bin)
}

/// The latest modification time of the files a build reads: `Cargo.lock`,
/// manifests, build scripts and sources under `crates/`.
fn newest_source(root: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, newest);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("rs" | "toml" | "cpp" | "h")
            ) {
                let t = e.metadata().and_then(|m| m.modified()).ok();
                *newest = (*newest).max(t);
            }
        }
    }
    let mut newest = None;
    for f in ["Cargo.lock", "Cargo.toml"] {
        newest = newest.max(
            std::fs::metadata(root.join(f))
                .and_then(|m| m.modified())
                .ok(),
        );
    }
    walk(&root.join("crates"), &mut newest);
    newest
}

/// `meg <args>` from the freshly built release binary, in the workspace.
pub fn meg(args: &[&str]) -> Result<Command> {
    Ok(meg_at(&meg_binary()?, args))
}

/// `BIN <args>` run in the workspace, which it is told by `MEG_WORKSPACE`.
pub fn meg_at(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(workspace_root())
        .env("MEG_WORKSPACE", workspace_root())
        .args(args);
    cmd
}
