//! The version of a libtorch directory, read from its files (no libtorch
//! needs to be loaded): what `cargo xtask setup` checks before linking one,
//! and what a running `meg` reports for the one it loaded.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Reads the version of the libtorch directory `dir` (the one holding `lib/`
/// and `include/`): `build-version` (official libtorch archives) or
/// `version.py` (the `torch` directory of a wheel).
pub fn version_of(dir: &Path) -> Result<String> {
    if !dir.join("lib").is_dir() || !dir.join("include").is_dir() {
        bail!(
            "{} is not a libtorch directory (expected lib/ and include/ inside)",
            dir.display()
        );
    }
    let bv = dir.join("build-version");
    if let Ok(s) = std::fs::read_to_string(&bv) {
        return Ok(s.trim().to_string());
    }
    let vp = dir.join("version.py");
    let s = std::fs::read_to_string(&vp).with_context(|| {
        format!(
            "cannot tell the libtorch version of {}: neither build-version nor version.py",
            dir.display()
        )
    })?;
    s.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        .with_context(|| format!("no `__version__ = ...` line in {}", vp.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_libtorch(name: &str, file: &str, text: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("meg-plumbing-{}-{name}", std::process::id()));
        std::fs::create_dir_all(d.join("lib")).unwrap();
        std::fs::create_dir_all(d.join("include")).unwrap();
        std::fs::write(d.join(file), text).unwrap();
        d
    }

    #[test]
    fn reads_wheel_and_archive_versions() {
        let wheel = fake_libtorch(
            "wheel",
            "version.py",
            "__version__ = '2.11.0+cu130'\ndebug = False\n",
        );
        assert_eq!(version_of(&wheel).unwrap(), "2.11.0+cu130");
        let zip = fake_libtorch("zip", "build-version", "2.10.0+cpu\n");
        assert_eq!(version_of(&zip).unwrap(), "2.10.0+cpu");
        let bad = fake_libtorch("bad", "version.py", "debug = False\n");
        let err = version_of(&bad).unwrap_err().to_string();
        assert!(err.contains("__version__"), "{err}");
    }

    #[test]
    fn rejects_a_directory_that_is_not_libtorch() {
        let d = std::env::temp_dir().join(format!("meg-plumbing-{}-empty", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let err = version_of(&d).unwrap_err().to_string();
        assert!(err.contains("not a libtorch directory"), "{err}");
    }
}
