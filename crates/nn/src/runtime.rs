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

/// The CPU kind, as far as it changes floating-point results: the vendor and
/// the vector extensions libtorch's and MKL's kernels dispatch on, e.g.
/// `GenuineIntel avx2 avx512f amx_tile` (from `/proc/cpuinfo`; the
/// architecture name elsewhere).
pub fn cpu_kind() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpu_kind_of(&info).unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn cpu_kind_of(cpuinfo: &str) -> Option<String> {
    const ISA: [&str; 6] = [
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
        "asimd",
    ];
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let vendor =
        field("vendor_id").or_else(|| field("CPU implementer").map(|v| format!("arm-{v}")))?;
    let flags = field("flags")
        .or_else(|| field("Features"))
        .unwrap_or_default();
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let mut kind = vendor;
    for isa in ISA.iter().filter(|i| flags.contains(i)) {
        kind += " ";
        kind += isa;
    }
    Some(kind)
}

/// The environment variables that select CPU kernel paths (and so the last
/// digits of float results): ATen's vector level, MKL's reproducibility
/// branch, oneDNN's instruction set.
pub const NUMERIC_PATH_VARS: [&str; 3] = ["ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA"];

/// The numeric path of this process: the [`cpu_kind`], then each of
/// [`NUMERIC_PATH_VARS`] that is set, e.g.
/// `AuthenticAMD avx2; ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE`.
pub fn numeric_path() -> String {
    let pins: Vec<String> = NUMERIC_PATH_VARS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    if pins.is_empty() {
        cpu_kind()
    } else {
        format!("{}; {}", cpu_kind(), pins.join(" "))
    }
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
    /// Version read next to the loaded `libtorch_cpu.so` (`version.py` or `build-version`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_kind_names_vendor_and_vector_extensions() {
        let amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n\
                   processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n";
        assert_eq!(cpu_kind_of(amd).unwrap(), "AuthenticAMD avx2");
        let intel =
            "vendor_id : GenuineIntel\nflags : avx2 avx512f avx512_bf16 amx_tile avx512_vnni\n";
        assert_eq!(
            cpu_kind_of(intel).unwrap(),
            "GenuineIntel avx2 avx512f avx512_vnni avx512_bf16 amx_tile"
        );
        let arm = "CPU implementer\t: 0x41\nFeatures\t: fp asimd crc32\n";
        assert_eq!(cpu_kind_of(arm).unwrap(), "arm-0x41 asimd");
        assert_eq!(cpu_kind_of(""), None);
        assert!(!cpu_kind().is_empty());
    }
}
