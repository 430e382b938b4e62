//! The local data cache: where files live, whether they are intact, and how
//! they get there (`import` from a folder, `fetch` from the mirrors).
//!
//! The cache root is `MEG_DATA_DIR`, else `$XDG_CACHE_HOME/meg/data`, else
//! `~/.cache/meg/data`; each data set has one folder in it, named as its
//! manifest. A file is used only after its bytes were hashed and found to
//! match the manifest ([`Store::require`]); nothing reaches its final name
//! before it matched (copies and downloads go through `NAME.part`).
//!
//! A file matches when its size and sha256 (and md5, when the manifest gives
//! one) are the published ones, or, for a file with a `content` entry, when
//! its decompressed content has the pinned size and sha256 (Debian's
//! re-compressed Fashion-MNIST). For a file with only a published sha256
//! prefix, the full sha256 is recorded in `NAME.sha256` the first time it
//! matches, and later checks compare against that record.

use crate::download::Downloader;
use crate::manifest::{FileSpec, Manifest};
use crate::verify::{check_file, part_path, record_path, FileStatus, Matched};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// A cache root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Every file of one data set, with its state.
#[derive(Debug, Clone)]
pub struct DatasetStatus {
    /// Data set name.
    pub name: String,
    /// Its cache folder.
    pub dir: PathBuf,
    /// `(file name, state)` in manifest order.
    pub files: Vec<(String, FileStatus)>,
    /// The command that would make it ready.
    pub fix: String,
}

impl DatasetStatus {
    /// True when every file is intact.
    pub fn is_ready(&self) -> bool {
        self.files.iter().all(|(_, s)| s.is_ok())
    }

    /// `OK`, `MISSING` (nothing there), `INCOMPLETE` or `CORRUPT`.
    pub fn summary(&self) -> &'static str {
        if self.is_ready() {
            "OK"
        } else if self
            .files
            .iter()
            .any(|(_, s)| matches!(s, FileStatus::Corrupt { .. }))
        {
            "CORRUPT"
        } else if self.files.iter().all(|(_, s)| *s == FileStatus::Missing) {
            "MISSING"
        } else {
            "INCOMPLETE"
        }
    }
}

/// What `import` or `fetch` did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already intact in the cache; left alone.
    AlreadyPresent,
    /// Copied from the import folder.
    Imported,
    /// Downloaded from this URL.
    Downloaded(String),
}

/// The command that makes data set `m` ready: `meg data fetch NAME`, or for
/// data sets that need a manual download, `meg data import NAME --from DIR`.
pub fn fix_command(m: &Manifest) -> String {
    if m.manual.is_some() {
        format!("meg data import {} --from DIR", m.name)
    } else {
        format!("meg data fetch {}", m.name)
    }
}

/// The cache root from explicit values of `MEG_DATA_DIR`, `XDG_CACHE_HOME`
/// and `HOME` (empty values count as unset).
pub fn data_root_from(
    meg_data_dir: Option<&str>,
    xdg_cache_home: Option<&str>,
    home: Option<&str>,
) -> Result<PathBuf> {
    let set = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(d) = set(meg_data_dir) {
        return Ok(d);
    }
    if let Some(x) = set(xdg_cache_home) {
        return Ok(x.join("meg").join("data"));
    }
    if let Some(h) = set(home) {
        return Ok(h.join(".cache").join("meg").join("data"));
    }
    bail!("no data cache directory: set MEG_DATA_DIR (or XDG_CACHE_HOME or HOME)")
}

/// The cache root from the environment (see [`data_root_from`]).
pub fn data_root() -> Result<PathBuf> {
    let var = |k: &str| std::env::var(k).ok();
    data_root_from(
        var("MEG_DATA_DIR").as_deref(),
        var("XDG_CACHE_HOME").as_deref(),
        var("HOME").as_deref(),
    )
}

/// Whether built-in data set `name` is present and verified in the cache of
/// the environment (files re-hashed); `fix` says what to run when it is not.
pub fn dataset_status(name: &str) -> Result<DatasetStatus> {
    Store::from_env()?.status(&Manifest::builtin(name)?)
}

impl Store {
    /// A store at `root` (created on first write).
    pub fn at(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The store of the environment (see [`data_root`]).
    pub fn from_env() -> Result<Store> {
        Ok(Store::at(data_root()?))
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of data set `m`.
    pub fn dir(&self, m: &Manifest) -> PathBuf {
        self.root.join(&m.name)
    }

    /// Where file `f` of `m` lives.
    pub fn path(&self, m: &Manifest, f: &FileSpec) -> PathBuf {
        self.dir(m).join(&f.name)
    }

    fn recorded(&self, path: &Path, spec: &FileSpec) -> Result<Option<String>> {
        if spec.sha256.is_some() {
            return Ok(None);
        }
        match fs::read_to_string(record_path(path)) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", record_path(path).display())),
        }
    }

    /// Records the full hash of a prefix-only file the first time it matches.
    fn remember(&self, path: &Path, status: &FileStatus) -> Result<()> {
        if let FileStatus::Ok {
            matched: Matched::Prefix,
            sha256,
        } = status
        {
            let rec = record_path(path);
            if !rec.exists() {
                meg_plumbing::io::write_atomic(&rec, format!("{sha256}\n").as_bytes())?;
            }
        }
        Ok(())
    }

    /// Re-hashes one cached file.
    pub fn check(&self, m: &Manifest, f: &FileSpec) -> Result<FileStatus> {
        let path = self.path(m, f);
        let recorded = self.recorded(&path, f)?;
        let status = check_file(f, &path, recorded.as_deref())?;
        self.remember(&path, &status)?;
        Ok(status)
    }

    /// Re-hashes every file of `m`.
    pub fn status(&self, m: &Manifest) -> Result<DatasetStatus> {
        let files = m
            .files
            .iter()
            .map(|f| Ok((f.name.clone(), self.check(m, f)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(DatasetStatus {
            name: m.name.clone(),
            dir: self.dir(m),
            files,
            fix: fix_command(m),
        })
    }

    /// The folder of `m` after checking every file; an error naming each
    /// file that is missing or corrupt, and the command to run, otherwise.
    pub fn require(&self, m: &Manifest) -> Result<PathBuf> {
        let st = self.status(m)?;
        if !st.is_ready() {
            let bad: Vec<String> = st
                .files
                .iter()
                .filter(|(_, s)| !s.is_ok())
                .map(|(n, s)| format!("  {n}: {s}"))
                .collect();
            bail!(
                "data set {} is not ready in {}:\n{}\nrun `{}`",
                m.name,
                st.dir.display(),
                bad.join("\n"),
                st.fix
            );
        }
        Ok(st.dir)
    }

    /// Copies the files of `m` from folder `from` into the cache, each
    /// checked against the manifest first and again after the copy. Files
    /// already intact in the cache are left alone. Fails (after trying every
    /// file) when any file is missing from `from` or does not match.
    pub fn import(&self, m: &Manifest, from: &Path) -> Result<Vec<(String, Outcome)>> {
        if !from.is_dir() {
            bail!("import source {} is not a directory", from.display());
        }
        let dir = self.dir(m);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut done = Vec::new();
        let mut failures = Vec::new();
        for f in &m.files {
            match self.import_one(m, f, from) {
                Ok(o) => done.push((f.name.clone(), o)),
                Err(e) => failures.push(format!("  {}: {e:#}", f.name)),
            }
        }
        if !failures.is_empty() {
            bail!(
                "import of {} from {} failed for {} of {} files:\n{}",
                m.name,
                from.display(),
                failures.len(),
                m.files.len(),
                failures.join("\n")
            );
        }
        Ok(done)
    }

    fn import_one(&self, m: &Manifest, f: &FileSpec, from: &Path) -> Result<Outcome> {
        if self.check(m, f)?.is_ok() {
            return Ok(Outcome::AlreadyPresent);
        }
        let src = from.join(&f.name);
        // A recorded hash in the source folder is not trusted.
        match check_file(f, &src, None)? {
            FileStatus::Ok { .. } => {}
            FileStatus::Missing => bail!("not found at {}", src.display()),
            s => bail!("{} does not match the manifest: {s}", src.display()),
        }
        let dest = self.path(m, f);
        let part = part_path(&dest);
        if let Err(e) = fs::copy(&src, &part) {
            let _ = fs::remove_file(&part);
            return Err(e)
                .with_context(|| format!("copying {} to {}", src.display(), part.display()));
        }
        let copied = check_file(f, &part, None)?;
        if !copied.is_ok() {
            let _ = fs::remove_file(&part);
            bail!("the copy at {} does not match: {copied}", part.display());
        }
        let _ = fs::remove_file(record_path(&dest));
        meg_plumbing::io::rename_into_place(&part, &dest)?;
        self.remember(&dest, &copied)?;
        Ok(Outcome::Imported)
    }

    /// Downloads every file of `m` that is not intact in the cache (a corrupt
    /// one is deleted and fetched again). Data sets that need a manual
    /// download fail with their instructions unless already complete.
    pub fn fetch(&self, m: &Manifest, dl: &Downloader) -> Result<Vec<(String, Outcome)>> {
        let dir = self.dir(m);
        let mut todo = Vec::new();
        let mut done = Vec::new();
        for f in &m.files {
            match self.check(m, f)? {
                FileStatus::Ok { .. } => done.push((f.name.clone(), Outcome::AlreadyPresent)),
                FileStatus::Missing => {
                    // A stale record would veto the new download.
                    let _ = fs::remove_file(record_path(&self.path(m, f)));
                    todo.push(f);
                }
                FileStatus::Corrupt { .. } => {
                    let p = self.path(m, f);
                    fs::remove_file(&p)
                        .with_context(|| format!("removing corrupt {}", p.display()))?;
                    let _ = fs::remove_file(record_path(&p));
                    todo.push(f);
                }
            }
        }
        if todo.is_empty() {
            return Ok(done);
        }
        if let Some(manual) = &m.manual {
            bail!(
                "{} cannot be downloaded by a program; missing: {}\n{}",
                m.name,
                todo.iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                manual.trim_end()
            );
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut failures = Vec::new();
        for f in todo {
            match dl.fetch_file(f, &dir) {
                Ok((url, status)) => {
                    self.remember(&self.path(m, f), &status)?;
                    done.push((f.name.clone(), Outcome::Downloaded(url)));
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        if !failures.is_empty() {
            bail!("fetching {} failed:\n{}", m.name, failures.join("\n"));
        }
        Ok(done)
    }
}
