//! Atomic file writes: results and checkpoints are written to a temporary file
//! in the same directory, synced, then renamed over the final name, so readers
//! never see a half-written file and a crash leaves the previous one intact.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name used while `path` is being written.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Removes the temporary files (`NAME.tmpPID`) in `dir` left by processes
/// that are gone (killed mid-write); those of live processes are kept.
pub fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(pid) = name
            .rsplit_once(".tmp")
            .and_then(|(_, p)| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing stale {}", path.display()))?;
        }
    }
    Ok(())
}

/// The `partial-write:FILE` fault point (meg_plumbing::fault): when it fires, the
/// temporary file is cut to half its length, synced, and the process killed.
fn partial_write_fault(path: &Path, tmp: &Path) -> Result<()> {
    let name = crate::fault::file_point_name("partial-write", path);
    if crate::fault::fires(&name) {
        let f = std::fs::OpenOptions::new().write(true).open(tmp)?;
        f.set_len(f.metadata()?.len() / 2)?;
        f.sync_all()?;
        crate::fault::kill(&name);
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        Ok(())
    })
}

/// Lets `write` create the file at the temporary path it is given, then syncs
/// and renames it to `path`. On error the temporary file is removed.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| {
        if crate::fault::is_armed() {
            partial_write_fault(path, &tmp)?;
        }
        rename_into_place(&tmp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Syncs the finished file `tmp` and renames it to `path` (same folder),
/// with the `before-rename:FILE` and `after-rename:FILE` fault points: the
/// last step of every atomic write, and of downloads and imports once
/// their `.part` file is verified.
pub fn rename_into_place(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.display()))?;
    crate::fault::file_point("before-rename", path);
    std::fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    crate::fault::file_point("after-rename", path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("meg-io-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Linux pids are below 2^22: this one cannot be alive.
        let dead = dir.join("results.json.tmp4194399");
        let live = dir.join(format!("results.json.tmp{}", std::process::id()));
        let other = dir.join("notes.tmp.txt");
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        remove_stale_temporaries(&dir).unwrap();
        assert!(!dead.exists() && live.exists() && other.exists());
        remove_stale_temporaries(&dir.join("absent")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
