//! Where the checkout is.

use std::path::{Path, PathBuf};

/// The workspace root: `MEG_WORKSPACE` when set, else the current directory or
/// its nearest ancestor holding this workspace (`Cargo.toml` and
/// `experiments/`), else the source tree this crate was built from. A binary
/// copied to another machine thus finds the checkout it is run in.
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("MEG_WORKSPACE") {
        return root.into();
    }
    let is_root = |d: &Path| d.join("Cargo.toml").is_file() && d.join("experiments").is_dir();
    if let Some(d) = std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.ancestors().find(|d| is_root(d)).map(Path::to_path_buf))
    {
        return d;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}
