//! An exclusive lock on a run or report directory, so that two `meg`
//! processes (two `meg train --out DIR`, two `meg reproduce` of one target,
//! two Slurm array elements given one run) never write into one directory.
//!
//! The lock is an advisory `flock` on `DIR/.meg.lock`, held until the
//! [`DirLock`] is dropped or the process ends (a killed process releases it:
//! the kernel drops the lock with the file descriptor). The file holds the
//! holder's pid, for the error message.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = ".meg.lock";

/// A held lock on a directory.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and locks it, or fails, naming the directory
    /// and the pid of the process that holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "{} is in use by another meg process{}: wait for it to finish, or choose another directory",
                    dir.display(),
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DirLock {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_fails_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("meg-dirlock-{}", std::process::id()));
        let first = DirLock::acquire(&dir).unwrap();
        // flock locks belong to the open file description: a second open in
        // the same process conflicts as another process would.
        let err = DirLock::acquire(&dir).unwrap_err().to_string();
        assert!(
            err.contains("in use by another meg process")
                && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        let again = DirLock::acquire(&dir).unwrap();
        assert_eq!(again.dir(), dir);
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
