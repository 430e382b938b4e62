//! Reader for the golden files written by `tests/golden/*.py` (see
//! `tests/golden/common.py`): JSON holding named float64 tensors.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

#[derive(Deserialize)]
struct Entry {
    shape: Vec<i64>,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct File {
    tensors: BTreeMap<String, Entry>,
}

/// Named tensors from one golden file.
pub struct Golden {
    path: PathBuf,
    tensors: BTreeMap<String, Entry>,
}

impl Golden {
    /// Loads `tests/golden/<name>` from the workspace root.
    pub fn load(name: &str) -> Result<Self> {
        let path = workspace_root().join("tests").join("golden").join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading golden file {}", path.display()))?;
        let f: File = serde_json::from_str(&text)
            .with_context(|| format!("parsing golden file {}", path.display()))?;
        Ok(Golden {
            path,
            tensors: f.tensors,
        })
    }

    /// The tensor `name` as float32 (float64 with `kind`).
    pub fn get(&self, name: &str, kind: Kind) -> Result<Tensor> {
        let e = self
            .tensors
            .get(name)
            .with_context(|| format!("{}: no tensor `{name}`", self.path.display()))?;
        let n: i64 = e.shape.iter().product();
        if n as usize != e.data.len() {
            bail!(
                "{}: `{name}` has shape {:?} but {} values",
                self.path.display(),
                e.shape,
                e.data.len()
            );
        }
        Ok(Tensor::from_slice(&e.data)
            .reshape(&e.shape[..])
            .to_kind(kind))
    }

    /// A scalar tensor's value.
    pub fn scalar(&self, name: &str) -> Result<f64> {
        Ok(self.get(name, Kind::Double)?.double_value(&[]))
    }
}

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
