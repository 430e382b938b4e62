//! `cargo xtask verify [--update]`: reproduce every target with the smoke
//! profile on the CPU into a temporary directory and check the canonical
//! hashes of its results against `reports/hashes.lock`.
//!
//! One intra-op thread (`MEG_THREADS=1`) makes the CPU runs deterministic,
//! and [`PINS`] select kernels every x86-64 CPU has; the lock records them
//! beside the CPU kind (a check on another CPU kind or without the pins
//! compares values within a tolerance instead of by hash).
//! `--update` rewrites the lock and the canonical results beside it
//! (`reports/hashes/`) instead of checking. The temporary directory is
//! removed on success and kept, for inspection, on failure.

use crate::util::{run_status, workspace_root};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the task was asked to do.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    update: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options { update: false };
    for a in args {
        match a.as_str() {
            "--update" => o.update = true,
            other => bail!("usage: cargo xtask verify [--update]\nunknown argument `{other}`"),
        }
    }
    Ok(o)
}

/// The kernel paths `verify` pins, so that the lock is computed with kernels
/// every x86-64 CPU has: ATen's AVX2 level, MKL's conditional-numerical-
/// reproducibility `COMPATIBLE` branch (the one MKL runs identically on Intel
/// and AMD: it ignores `MKL_CBWR=AVX2` on AMD), oneDNN at AVX2.
pub const PINS: [(&str, &str); 3] = [
    ("ATEN_CPU_CAPABILITY", "avx2"),
    ("MKL_CBWR", "COMPATIBLE"),
    ("ONEDNN_MAX_CPU_ISA", "AVX2"),
];

/// `BIN <args>` with one libtorch thread and the kernel pins.
fn meg(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = crate::util::meg_at(bin, args);
    cmd.env("MEG_THREADS", "1").envs(PINS);
    cmd
}

fn temp_reports() -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!("meg-verify-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", p.display()))
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    crate::setup::provision()?;
    let bin = crate::util::meg_binary()?;
    let reports = temp_reports()?;
    let lock = workspace_root().join("reports").join("hashes.lock");
    let (r, l) = (path_str(&reports)?, path_str(&lock)?);
    eprintln!("reproducing every target (smoke, cpu) into {r}");
    let result = run_status(&mut meg(
        &bin,
        &[
            "reproduce",
            "all",
            "--profile",
            "smoke",
            "--device",
            "cpu",
            "--reports-dir",
            r,
        ],
    ))
    .and_then(|()| {
        let action = if opts.update { "update" } else { "check" };
        run_status(&mut meg(
            &bin,
            &[
                "hashes",
                action,
                "--reports",
                r,
                "--lock",
                l,
                "--profile",
                "smoke",
            ],
        ))
    });
    match result {
        Ok(()) => {
            std::fs::remove_dir_all(&reports).ok();
            Ok(())
        }
        Err(e) => {
            eprintln!("the smoke outputs are kept in {r}");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_update_and_rejects_the_rest() {
        assert_eq!(parse(&[]).unwrap(), Options { update: false });
        assert_eq!(
            parse(&["--update".into()]).unwrap(),
            Options { update: true }
        );
        let err = parse(&["--force".into()]).unwrap_err().to_string();
        assert!(err.contains("`--force`") && err.contains("usage"), "{err}");
    }

    #[test]
    fn runs_the_binary_with_one_thread_in_the_workspace() {
        let cmd = meg(Path::new("/x/meg"), &["hashes", "check"]);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(cmd.get_program(), "/x/meg");
        assert_eq!(args, ["hashes", "check"]);
        assert!(cmd
            .get_envs()
            .any(|(k, v)| k == "MEG_WORKSPACE" && v == Some(workspace_root().as_os_str())));
        assert!(cmd
            .get_envs()
            .any(|(k, v)| k == "MKL_CBWR" && v == Some("COMPATIBLE".as_ref())));
        assert!(cmd
            .get_envs()
            .any(|(k, v)| k == "MEG_THREADS" && v == Some("1".as_ref())));
    }
}
