//! Device and thread selection, and facts about the loaded libtorch.

use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;
use tch::Device;

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available, else CPU).
/// For CUDA, `MEG_CUDNN_BENCHMARK=1` lets cuDNN time its convolution
/// algorithms per shape and keep the fastest (`torch.backends.cudnn.benchmark`).
pub fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "cpu" => Device::Cpu,
        "auto" if tch::Cuda::is_available() => cuda(0)?,
        "auto" => Device::Cpu,
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
    match std::env::var("MEG_CUDNN_BENCHMARK").as_deref() {
        Err(_) | Ok("0") => {}
        Ok("1") => tch::Cuda::cudnn_set_benchmark(true),
        Ok(v) => bail!("MEG_CUDNN_BENCHMARK=`{v}`: expected 0 or 1"),
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

/// Lets glibc's malloc keep freed memory for reuse (once per process): a
/// training step allocates and frees the same activation-sized buffers over
/// and over, and with glibc's defaults each one above its (adaptive) mmap
/// threshold comes back from the kernel as fresh zeroed pages, a page fault
/// per 4 KiB. Buffers up to 32 MiB are then served from the heap, which is
/// trimmed only past 512 MiB free at its top. A `GLIBC_TUNABLES` or
/// `MALLOC_*_` setting in the environment wins (nothing is changed then).
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let set_by_user = std::env::vars_os().any(|(k, v)| {
                let (k, v) = (k.to_string_lossy(), v.to_string_lossy());
                (k == "GLIBC_TUNABLES" && v.contains("malloc")) || k.starts_with("MALLOC_")
            });
            if set_by_user {
                return;
            }
            extern "C" {
                fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
            }
            const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
            const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
            // SAFETY: mallopt only adjusts allocator parameters; both values are in range.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 32 << 20);
                mallopt(M_TRIM_THRESHOLD, 512 << 20);
            }
        });
    }
}

/// What the running process's libtorch reports about itself.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    /// Version read next to the loaded `libtorch_cpu.so` (`version.py` or
    /// `build-version`, by [`meg_plumbing::libtorch::version_of`]).
    pub libtorch_version: String,
    /// Directory of the loaded `libtorch_cpu.so`.
    pub libtorch_lib: String,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    pub cudnn_available: bool,
    pub threads: i32,
    pub mkl: bool,
    /// ATen's CPU kernel level (`DEFAULT`, `AVX2`, `AVX512`, ...), lowered by
    /// `ATEN_CPU_CAPABILITY`.
    pub cpu_capability: String,
}

impl RuntimeInfo {
    /// Queries libtorch (this initializes CUDA if present).
    pub fn query() -> Self {
        let lib = loaded_libtorch_dir();
        let version = lib
            .as_ref()
            .and_then(|d| meg_plumbing::libtorch::version_of(d.parent()?).ok())
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
            cpu_capability: cpu_capability(),
        }
    }
}

/// ATen's CPU kernel level (`at::get_cpu_capability()`), e.g. `AVX2`.
pub fn cpu_capability() -> String {
    extern "C" {
        fn meg_cpu_capability(out: *mut std::ffi::c_char, out_len: usize);
    }
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: the glue writes at most `buf.len()` bytes including the NUL
    // (snprintf), catches every C++ exception, and keeps no pointer to `buf`.
    unsafe { meg_cpu_capability(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: snprintf NUL-terminated the string inside `buf` (len > 0).
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
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

/// The [`meg_plumbing::Provenance`] of a result made by this process on `device`.
pub fn provenance(device: Device) -> meg_plumbing::Provenance {
    let rt = RuntimeInfo::query();
    meg_plumbing::Provenance::new(
        rt.libtorch_version,
        format!("{device:?}").to_lowercase(),
        rt.threads,
    )
}
