//! What the machine has room for: memory a process may still use and free
//! disk space, checked before work whose size is known in advance (a model's
//! variables, a batch, an output file) so that it is refused with the
//! estimate instead of failing half-way through.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Memory this process may still allocate, in bytes: the system's available
/// memory, or less where a cgroup (a container or a Slurm job) limits it.
pub fn available_memory() -> u64 {
    let kinds =
        sysinfo::RefreshKind::nothing().with_memory(sysinfo::MemoryRefreshKind::everything());
    let sys = sysinfo::System::new_with_specifics(kinds);
    let mut free = sys.available_memory();
    if let Some(limits) = sys.cgroup_limits() {
        free = free.min(limits.free_memory);
    }
    free
}

/// Free space for an unprivileged writer on the file system that holds
/// `path` (or, for a file not written yet, its folder), in bytes.
pub fn available_disk(path: &Path) -> Result<u64> {
    let mut at = path;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    fs4::available_space(at).with_context(|| format!("reading the free space at {}", at.display()))
}

/// Fails with `what` and both sizes when `needed` bytes exceed `available`.
pub fn ensure_fits(what: &str, needed: u128, available: u64, room: &str) -> Result<()> {
    if needed > available as u128 {
        bail!(
            "{what} needs at least {}, but {room} has {} free",
            bytes(needed),
            bytes(available as u128)
        );
    }
    Ok(())
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`, ... (binary units).
pub fn bytes(n: u128) -> String {
    const UNITS: [&str; 8] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(16 * (1u128 << 60)), "16.0 EiB");
        assert_eq!(bytes(1u128 << 100), format!("{:.1} YiB", 2f64.powi(20)));
    }

    #[test]
    fn refusals_give_both_sizes_and_the_room() {
        assert!(ensure_fits("x", 10, 10, "memory").is_ok());
        let e = ensure_fits("run `t`", 3 << 30, 1 << 30, "this machine's memory")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "run `t` needs at least 3.0 GiB, but this machine's memory has 1.0 GiB free"
        );
    }

    #[test]
    fn machine_facts_are_read() {
        // A running test process has some memory left, and a temporary
        // folder some disk space; a file not written yet reads its folder's.
        assert!(available_memory() > 0);
        let dir = tempfile::tempdir().unwrap();
        let here = available_disk(dir.path()).unwrap();
        assert!(here > 0);
        let deep = available_disk(&dir.path().join("a/b/c.csv")).unwrap();
        // Both read the same file system; other writers may move it a little.
        assert!(
            deep.abs_diff(here) < here / 10 + (64 << 20),
            "{deep} vs {here}"
        );
    }
}
