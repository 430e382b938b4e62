//! Device and thread selection, and facts about the loaded libtorch.

use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;
use tch::Device;

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available, else CPU).
pub fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "cpu" => Device::Cpu,
        "auto" => Device::cuda_if_available(),
        "cuda" => cuda(0)?,
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i)?,
            _ => bail!("unknown device `{s}`: expected cpu, cuda, cuda:N or auto"),
        },
    })
}

fn cuda(i: usize) -> Result<Device> {
    let n = tch::Cuda::device_count() as usize;
    if i >= n {
        bail!("device cuda:{i} requested but libtorch sees {n} CUDA device(s)");
    }
    Ok(Device::Cuda(i))
}

/// Sets libtorch's intra-op thread count from `MEG_THREADS` when set; returns
/// the count in effect.
pub fn set_threads_from_env() -> Result<i32> {
    if let Ok(v) = std::env::var("MEG_THREADS") {
        match v.parse::<i32>() {
            Ok(n) if n > 0 => tch::set_num_threads(n),
            _ => bail!("MEG_THREADS=`{v}`: expected a positive integer"),
        }
    }
    Ok(tch::get_num_threads())
}

/// What the running process's libtorch reports about itself.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    /// Version read next to the loaded `libtorch_cpu.so` (`version.py` or `build-version`).
    pub libtorch_version: String,
    /// Directory of the loaded `libtorch_cpu.so`.
    pub libtorch_lib: String,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    pub cudnn_available: bool,
    pub threads: i32,
    pub mkl: bool,
}

impl RuntimeInfo {
    /// Queries libtorch (this initializes CUDA if present).
    pub fn query() -> Self {
        let lib = loaded_libtorch_dir();
        let version = lib
            .as_ref()
            .and_then(|d| version_near(d))
            .unwrap_or_else(|| "unknown".to_string());
        RuntimeInfo {
            libtorch_version: version,
            libtorch_lib: lib
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "unknown".into()),
            cuda_available: tch::Cuda::is_available(),
            cuda_device_count: tch::Cuda::device_count(),
            cudnn_available: tch::Cuda::cudnn_is_available(),
            threads: tch::get_num_threads(),
            mkl: tch::utils::has_mkl(),
        }
    }
}

/// The directory of the `libtorch_cpu.so` mapped into this process (Linux).
fn loaded_libtorch_dir() -> Option<PathBuf> {
    // Make sure libtorch is loaded before reading the maps.
    let _ = tch::get_num_threads();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| PathBuf::from(p).parent().map(|d| d.to_path_buf()))
}

fn version_near(lib: &std::path::Path) -> Option<String> {
    let root = lib.parent()?;
    if let Ok(s) = std::fs::read_to_string(root.join("build-version")) {
        return Some(s.trim().to_string());
    }
    let s = std::fs::read_to_string(root.join("version.py")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
}
