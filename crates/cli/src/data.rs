//! `meg data list | fetch NAME | verify NAME | import NAME --from DIR`: the
//! checksummed data cache (see `meg_datasets::store`).

use anyhow::{bail, Result};
use meg_datasets::download::{DownloadOptions, Downloader};
use meg_datasets::store::Outcome;
use meg_datasets::{Manifest, Store};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the data sets, their cache folders and which files are present
    /// (by size; `verify` re-hashes).
    List,
    /// Download NAME's missing or corrupt files from its mirrors.
    Fetch {
        /// Data set name (see `meg data list`).
        name: String,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Re-hash NAME's cached files and print each as OK, MISSING or CORRUPT;
    /// exit non-zero unless all are OK.
    Verify {
        /// Data set name.
        name: String,
    },
    /// Copy NAME's files from DIR into the cache after checking them against
    /// the manifest (e.g. /usr/share/datasets/fashion-mnist from Debian).
    Import {
        /// Data set name.
        name: String,
        /// Folder holding the files under their published names.
        #[arg(long)]
        from: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    let store = Store::from_env()?;
    match args.command {
        Command::List => list(&store),
        Command::Fetch { name, quiet } => {
            let m = Manifest::builtin(&name)?;
            let dl = Downloader::new(DownloadOptions {
                progress: !quiet,
                ..DownloadOptions::default()
            })?;
            let done = store.fetch(&m, &dl)?;
            report(&m, &store, &done)
        }
        Command::Verify { name } => verify(&store, &Manifest::builtin(&name)?),
        Command::Import { name, from } => {
            let m = Manifest::builtin(&name)?;
            let done = store.import(&m, &from)?;
            report(&m, &store, &done)
        }
    }
}

fn list(store: &Store) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "cache: {}", store.root().display())?;
    for m in Manifest::all()? {
        let present = m
            .files
            .iter()
            .filter(|f| {
                // Re-compressed copies (`content`) have other sizes.
                std::fs::metadata(store.path(&m, f)).is_ok_and(|md| {
                    md.is_file() && (f.content.is_some() || f.size.is_none_or(|s| s == md.len()))
                })
            })
            .count();
        let size = m.total_size().map_or("size unpublished".to_string(), |s| {
            format!("{:.1} MB", s as f64 / 1e6)
        });
        let how = if m.manual.is_some() {
            "manual download, then import"
        } else {
            "fetch"
        };
        writeln!(
            out,
            "{:<14} {}/{} files present  {:>10}  {how}  {}",
            m.name,
            present,
            m.files.len(),
            size,
            m.title
        )?;
    }
    Ok(())
}

fn verify(store: &Store, m: &Manifest) -> Result<()> {
    let st = store.status(m)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} ({})", st.name, st.dir.display())?;
    for (name, s) in &st.files {
        writeln!(out, "  {name}  {s}")?;
    }
    if !st.is_ready() {
        let bad = st.files.iter().filter(|(_, s)| !s.is_ok()).count();
        bail!(
            "{}: {bad} of {} files not OK; run `{}`",
            st.name,
            st.files.len(),
            st.fix
        );
    }
    writeln!(out, "{}: all {} files OK", st.name, st.files.len())?;
    Ok(())
}

fn report(m: &Manifest, store: &Store, done: &[(String, Outcome)]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} ({})", m.name, store.dir(m).display())?;
    for (name, o) in done {
        match o {
            Outcome::AlreadyPresent => writeln!(out, "  {name}  OK (already in the cache)")?,
            Outcome::Imported => writeln!(out, "  {name}  OK (imported)")?,
            Outcome::Downloaded(url) => writeln!(out, "  {name}  OK (downloaded from {url})")?,
        }
    }
    Ok(())
}
