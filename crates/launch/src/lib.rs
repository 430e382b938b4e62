//! How a target's runs are launched outside the `meg` process that plans
//! them, free of libtorch: the command line that trains one run or evaluates
//! a target ([`Invocation`]), and Slurm's job array and dependent evaluation
//! job ([`slurm`]). The plan (which runs, their configs) comes from
//! `meg-experiments`; this crate only writes scripts and runs `sbatch`.

pub mod slurm;

use anyhow::Result;
use std::path::{Path, PathBuf};

/// What selects a target's runs on a `meg reproduce` command line: the
/// arguments every launched process gets before its mode flag.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The `meg` binary (absolute).
    pub meg: PathBuf,
    pub target: String,
    /// The profile's name (`smoke`, `quick`, `paper`).
    pub profile: String,
    /// As given (`cpu`, `cuda`, `cuda:N`, `auto`): a Slurm node resolves it.
    pub device: String,
    /// Absolute.
    pub reports_dir: PathBuf,
    pub seeds: Option<u64>,
}

impl Invocation {
    /// `reproduce TARGET --profile P --device D --reports-dir R [--seeds N]`.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "reproduce".to_string(),
            self.target.clone(),
            "--profile".into(),
            self.profile.clone(),
            "--device".into(),
            self.device.clone(),
            "--reports-dir".into(),
            self.reports_dir.display().to_string(),
        ];
        if let Some(n) = self.seeds {
            a.extend(["--seeds".to_string(), n.to_string()]);
        }
        a
    }
}

/// `p` made absolute against the current directory (it need not exist).
pub fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}
