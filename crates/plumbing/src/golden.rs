//! Reader for the golden files written by `tests/golden/*.py` (see
//! `tests/golden/common.py`): JSON holding named float64 arrays, values
//! from an independent reference (PyTorch, Pillow, scikit-learn) that tests
//! compare with. `meg_nn::golden` gives them as tensors.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Entry {
    shape: Vec<usize>,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct File {
    tensors: BTreeMap<String, Entry>,
}

/// Named arrays from one golden file.
pub struct GoldenFile {
    path: PathBuf,
    tensors: BTreeMap<String, Entry>,
}

impl GoldenFile {
    /// Loads `tests/golden/<name>` from the workspace root.
    pub fn load(name: &str) -> Result<Self> {
        let path = crate::workspace_root()
            .join("tests")
            .join("golden")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading golden file {}", path.display()))?;
        let f: File = serde_json::from_str(&text)
            .with_context(|| format!("parsing golden file {}", path.display()))?;
        Ok(GoldenFile {
            path,
            tensors: f.tensors,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The shape and row-major float64 values of array `name`.
    pub fn values(&self, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
        let e = self
            .tensors
            .get(name)
            .with_context(|| format!("{}: no tensor `{name}`", self.path.display()))?;
        let n: usize = e.shape.iter().product();
        if n != e.data.len() {
            bail!(
                "{}: `{name}` has shape {:?} but {} values",
                self.path.display(),
                e.shape,
                e.data.len()
            );
        }
        Ok((e.shape.clone(), e.data.clone()))
    }
}
