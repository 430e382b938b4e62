//! The CPU facts that change float results: its kind (vendor and vector
//! extensions) and the environment variables that pin kernel paths.

/// The CPU kind, as far as it changes floating-point results: the vendor, the
/// vector extensions libtorch's and MKL's kernels dispatch on, and the model
/// and cache size, on which oneDNN's blocking (and so the order of its sums)
/// depends even with its instruction set pinned, e.g. `GenuineIntel avx2
/// avx512f amx_tile; family 6 model 143, cache 107520 KB` (from
/// `/proc/cpuinfo`; the architecture name elsewhere). Two AMD EPYCs with
/// AVX2, family 25 and another model, trained the CelebA smoke run to
/// different last digits under the same pins.
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
    let model: Vec<String> = [
        ("cpu family", "family"),
        ("model", "model"),
        ("cache size", "cache"),
    ]
    .iter()
    .filter_map(|(k, name)| field(k).map(|v| format!("{name} {v}")))
    .collect();
    if !model.is_empty() {
        kind += "; ";
        kind += &model.join(", ");
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
        let epyc = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\
                    model name\t: AMD EPYC\ncache size\t: 512 KB\nflags\t\t: avx2 fma\n";
        assert_eq!(
            cpu_kind_of(epyc).unwrap(),
            "AuthenticAMD avx2; family 25, model 1, cache 512 KB"
        );
        let arm = "CPU implementer\t: 0x41\nFeatures\t: fp asimd crc32\n";
        assert_eq!(cpu_kind_of(arm).unwrap(), "arm-0x41 asimd");
        assert_eq!(cpu_kind_of(""), None);
        assert!(!cpu_kind().is_empty());
    }
}
