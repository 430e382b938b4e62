//! `cargo xtask setup`: provision libtorch 2.11.0 and link it at `./.libtorch`.
//!
//! Order of preference:
//! 1. a `LIBTORCH` set by the user (checked to be 2.11.0);
//! 2. a per-user cached Python venv holding `torch==2.11.0` from PyPI,
//!    created on first use in `$XDG_CACHE_HOME/meg/torch-2.11.0`
//!    (`~/.cache/meg/torch-2.11.0`).
//!
//! The venv is built under a `.partial` name and renamed when complete, so an
//! interrupted install never looks finished. A second run only re-checks the
//! version and the links (about a second).

use crate::util::{run_status, workspace_root};
use anyhow::{bail, Context, Result};
use meg_plumbing::libtorch::version_of;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The libtorch version tch 0.24.0 is built against.
pub const TORCH_VERSION: &str = "2.11.0";

/// Name of the git-ignored link to libtorch inside the workspace.
pub const LINK: &str = ".libtorch";
/// Name of the git-ignored link to the Python venv (for the reference scripts).
pub const VENV_LINK: &str = ".torch-venv";

/// A usable libtorch.
pub struct Libtorch {
    pub dir: PathBuf,
    pub version: String,
    /// Python interpreter with the same torch, when we provisioned a venv.
    pub python: Option<PathBuf>,
}

pub fn run(args: &[String]) -> Result<Libtorch> {
    if let Some(a) = args.first() {
        bail!("`cargo xtask setup` takes no arguments, got `{a}`");
    }
    let t0 = std::time::Instant::now();
    let lt = provision()?;
    eprintln!(
        "libtorch {} at {} (linked as ./{LINK}; {:.1}s)",
        lt.version,
        lt.dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(lt)
}

/// Finds or installs libtorch and refreshes the workspace links.
pub fn provision() -> Result<Libtorch> {
    let root = workspace_root();
    let lt = match user_libtorch(&root) {
        Some(dir) => {
            let version = version_of(&dir)?;
            check_version(&dir, &version, "the LIBTORCH environment variable")?;
            Libtorch {
                dir,
                version,
                python: None,
            }
        }
        None => cached_or_install()?,
    };
    relink(&root.join(LINK), &lt.dir)?;
    let venv_link = root.join(VENV_LINK);
    match &lt.python {
        // python = <venv>/bin/python
        Some(py) => relink(&venv_link, py.parent().unwrap().parent().unwrap())?,
        None => remove_link(&venv_link)?,
    }
    Ok(lt)
}

/// Looks up libtorch without installing anything: the user's `LIBTORCH`, else
/// the workspace link.
pub fn find() -> Result<Libtorch> {
    let root = workspace_root();
    let dir = match user_libtorch(&root) {
        Some(d) => d,
        None => {
            let link = root.join(LINK);
            std::fs::canonicalize(&link).with_context(|| {
                format!("{} does not exist: run `cargo xtask setup`", link.display())
            })?
        }
    };
    let version = version_of(&dir)?;
    let python = venv_python(&std::fs::canonicalize(root.join(VENV_LINK)).unwrap_or_default());
    Ok(Libtorch {
        dir,
        version,
        python,
    })
}

/// `LIBTORCH` from the environment unless it is our own `[env]` default.
fn user_libtorch(root: &Path) -> Option<PathBuf> {
    let v = std::env::var_os("LIBTORCH")?;
    let p = PathBuf::from(v);
    if p == root.join(LINK) || p.as_os_str().is_empty() {
        return None;
    }
    Some(p)
}

fn check_version(dir: &Path, version: &str, source: &str) -> Result<()> {
    let base = version.split('+').next().unwrap_or(version);
    if base != TORCH_VERSION {
        bail!(
            "found libtorch {version} at {} (from {source}), but tch 0.24.0 needs {TORCH_VERSION}: \
             point LIBTORCH at a {TORCH_VERSION} libtorch, or unset it and run `cargo xtask setup` \
             to install torch=={TORCH_VERSION} from PyPI",
            dir.display()
        );
    }
    Ok(())
}

fn cache_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(
            std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?,
        )
        .join(".cache"),
    };
    Ok(base.join("meg"))
}

fn venv_python(venv: &Path) -> Option<PathBuf> {
    let py = venv.join("bin").join("python");
    py.exists().then_some(py)
}

/// `<venv>/lib/python3.*/site-packages/torch`, if present.
fn venv_torch_dir(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|e| e.path().join("site-packages").join("torch"))
        .find(|p| p.join("version.py").exists())
}

fn cached_or_install() -> Result<Libtorch> {
    let cache = cache_dir()?;
    let venv = cache.join(format!("torch-{TORCH_VERSION}"));
    if let Some(dir) = venv_torch_dir(&venv) {
        let version = version_of(&dir)?;
        check_version(&dir, &version, "the cached venv")?;
        let python = venv_python(&venv);
        if let Some(py) = &python {
            ensure_reference_packages(py)?;
        }
        return Ok(Libtorch {
            dir,
            version,
            python,
        });
    }
    install_venv(&cache, &venv)?;
    let dir = venv_torch_dir(&venv)
        .with_context(|| format!("pip finished but {} holds no torch", venv.display()))?;
    let version = version_of(&dir)?;
    check_version(&dir, &version, "the freshly installed venv")?;
    if let Some(py) = venv_python(&venv) {
        ensure_reference_packages(&py)?;
    }
    Ok(Libtorch {
        dir,
        version,
        python: venv_python(&venv),
    })
}

/// The reference packages of `tests/golden/requirements.txt` (pytorch-fid,
/// numpy, scipy, scikit-learn, ...): the golden scripts and the PyTorch side
/// of `cargo xtask bench` import them. Installed once into the venv, pinned
/// so that torch stays at 2.11.0.
fn ensure_reference_packages(python: &Path) -> Result<()> {
    let present = succeeds(Command::new(python).args([
        "-c",
        "import numpy, scipy, sklearn, safetensors, torchvision, pytorch_fid",
    ]));
    if present {
        return Ok(());
    }
    let req = crate::util::workspace_root().join("tests/golden/requirements.txt");
    eprintln!("installing the reference packages of {}", req.display());
    run_status(pip_install(python).arg("-r").arg(&req))
        .context("pip could not install the reference packages; check network access to PyPI")
}

/// Whether `cmd` runs and exits with success (its output discarded).
fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

/// `python -m pip install` without the version check and progress bar; the
/// caller adds what to install.
fn pip_install(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
    ]);
    cmd
}

fn install_venv(cache: &Path, venv: &Path) -> Result<()> {
    let py = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let probe = Command::new(&py).arg("--version").output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        bail!(
            "{} not found: libtorch is provisioned from PyPI's torch=={TORCH_VERSION} wheel through Python. \
             Install it (Debian/Ubuntu: `apt-get install python3 python3-venv`), or set LIBTORCH \
             to an existing libtorch {TORCH_VERSION}",
            py.to_string_lossy()
        );
    }
    let ok = succeeds(Command::new(&py).args(["-c", "import venv, ensurepip"]));
    if !ok {
        bail!(
            "python3 has no working `venv` module (ensurepip is missing): \
             install it with `apt-get install python3-venv`"
        );
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let partial = venv.with_extension("0.partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing the unfinished {}", partial.display()))?;
    }
    eprintln!("creating a Python venv at {}", partial.display());
    run_status(Command::new(&py).args(["-m", "venv"]).arg(&partial))?;
    let vpy = partial.join("bin").join("python");
    let pip_ok = succeeds(Command::new(&vpy).args(["-m", "pip", "--version"]));
    if !pip_ok {
        bail!(
            "the new venv has no pip: install `python3-pip` and `python3-venv` (Debian) and rerun"
        );
    }
    eprintln!("installing torch=={TORCH_VERSION} from PyPI (about 3 GB with its CUDA libraries)");
    run_status(pip_install(&vpy).arg(format!("torch=={TORCH_VERSION}")))
        .context("pip could not install torch; check network access to PyPI")?;
    std::fs::rename(&partial, venv)
        .with_context(|| format!("renaming {} to {}", partial.display(), venv.display()))?;
    // A venv records its own path in scripts; the interpreter itself still works after the
    // rename because `python -m pip` resolves from pyvenv.cfg.
    Ok(())
}

fn remove_link(link: &Path) -> Result<()> {
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link).with_context(|| format!("removing {}", link.display()))?;
    }
    Ok(())
}

fn relink(link: &Path, target: &Path) -> Result<()> {
    if std::fs::read_link(link).ok().as_deref() == Some(target) {
        return Ok(());
    }
    remove_link(link)?;
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} -> {}", link.display(), target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_2_11_and_names_the_directory_of_another_version() {
        // Reading the version files: meg_plumbing::libtorch's tests.
        let dir = Path::new("/opt/libtorch");
        assert!(check_version(dir, "2.11.0+cu130", "test").is_ok());
        assert!(check_version(dir, "2.11.0", "test").is_ok());
        let err = check_version(dir, "2.10.0+cpu", "LIBTORCH")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2.10.0+cpu") && err.contains("/opt/libtorch"),
            "{err}"
        );
    }
}
