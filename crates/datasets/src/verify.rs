//! Whether a file's bytes are the ones a manifest publishes, and the names
//! of the files that stand beside it while it is checked (`NAME.part`, the
//! recorded full sha256 `NAME.sha256`).

use crate::hash::{hash_file, hash_gzip_content, Digests};
use crate::manifest::{Expected, FileSpec};
use anyhow::{bail, Context, Result};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// How a file was found intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The published bytes (size, sha256, md5).
    Published,
    /// The published sha256 prefix and size; the full hash now recorded.
    Prefix,
    /// A re-compressed copy whose content has the pinned hash.
    Content,
}

/// The state of one cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Intact.
    Ok {
        /// How it matched.
        matched: Matched,
        /// sha256 of the bytes on disk.
        sha256: String,
    },
    /// Not in the cache.
    Missing,
    /// Present but not the published file.
    Corrupt {
        /// What the manifest (or the record) asks for.
        expected: String,
        /// What the file is.
        actual: String,
    },
}

impl FileStatus {
    /// True for [`FileStatus::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, FileStatus::Ok { .. })
    }
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileStatus::Ok { matched, sha256 } => {
                let how = match matched {
                    Matched::Published => "",
                    Matched::Prefix => " (published prefix; full hash recorded)",
                    Matched::Content => " (re-compressed copy; content matches)",
                };
                write!(f, "OK sha256 {sha256}{how}")
            }
            FileStatus::Missing => write!(f, "MISSING"),
            FileStatus::Corrupt { expected, actual } => {
                write!(f, "CORRUPT expected {expected}; actual {actual}")
            }
        }
    }
}

/// `expected` / `actual` descriptions for a mismatch.
fn describe(spec: &FileSpec, d: &Digests, recorded: Option<&str>) -> (String, String) {
    let size = |s: Option<u64>| s.map_or("size unpublished".to_string(), |s| format!("{s} bytes"));
    let expected = match (recorded, spec.expected()) {
        (Some(r), _) => format!("sha256 {r} (recorded), {}", size(spec.size)),
        (None, Expected::Sha256(h)) => format!("sha256 {h}, {}", size(spec.size)),
        (None, Expected::Prefix(p)) => format!("sha256 {p}…, {}", size(spec.size)),
    };
    (expected, format!("sha256 {}, {} bytes", d.sha256, d.len))
}

/// Compares a file's bytes with the manifest. `recorded` is the full sha256
/// recorded earlier for a prefix-only file. Reads, never writes.
pub fn check_file(spec: &FileSpec, path: &Path, recorded: Option<&str>) -> Result<FileStatus> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => bail!("{} is not a regular file", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileStatus::Missing),
        Err(e) => return Err(e).with_context(|| format!("inspecting {}", path.display())),
    }
    let d = hash_file(path)?;
    if let Some(m) = digests_match(spec, &d, recorded) {
        return Ok(FileStatus::Ok {
            matched: m,
            sha256: d.sha256,
        });
    }
    if let Some(c) = &spec.content {
        // Anything unreadable as gzip is simply not a match.
        if let Ok(cd) = hash_gzip_content(path) {
            if cd.len == c.size && cd.sha256 == c.sha256 {
                return Ok(FileStatus::Ok {
                    matched: Matched::Content,
                    sha256: d.sha256,
                });
            }
        }
    }
    let (mut expected, mut actual) = describe(spec, &d, recorded);
    if let Some(c) = spec
        .content
        .as_ref()
        .filter(|c| c.sha256 == d.sha256 && c.size == d.len)
    {
        actual.push_str(&format!(
            ": not {} but the uncompressed content itself (its sha256 is the pinned \
             content's): give the compressed file, or compress this one (`gzip -k`)",
            match c.compression {
                crate::manifest::Compression::Gzip => "gzip",
            }
        ));
    }
    if let Some(c) = &spec.content {
        expected.push_str(&format!(
            " (or gzip content sha256 {}, {} bytes)",
            c.sha256, c.size
        ));
    }
    Ok(FileStatus::Corrupt { expected, actual })
}

/// Whether streamed digests are the published file's.
pub fn digests_match(spec: &FileSpec, d: &Digests, recorded: Option<&str>) -> Option<Matched> {
    if spec.size.is_some_and(|s| s != d.len) {
        return None;
    }
    if spec.md5.as_ref().is_some_and(|m| *m != d.md5) {
        return None;
    }
    match spec.expected() {
        Expected::Sha256(h) => (d.sha256 == h).then_some(Matched::Published),
        Expected::Prefix(p) => (d.sha256.starts_with(p) && recorded.is_none_or(|r| r == d.sha256))
            .then_some(Matched::Prefix),
    }
}

/// `NAME.part` next to `path`.
pub fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// `NAME.sha256`: the full hash recorded for a prefix-only (or derived) file.
pub fn record_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}
