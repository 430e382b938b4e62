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

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        f.write_all(head)?;
        if crate::fault::armed_for_tests() {
            f.sync_all()?;
            crate::fault::file_point("partial-write", path);
        }
        f.write_all(tail)?;
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
        std::fs::File::open(&tmp)?.sync_all()?;
        crate::fault::file_point("before-rename", path);
        std::fs::rename(&tmp, path)?;
        crate::fault::file_point("after-rename", path);
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
