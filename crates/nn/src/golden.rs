//! Golden files (`tests/golden/*.json`, read by [`meg_plumbing::golden`])
//! as tensors.

use anyhow::Result;
use meg_plumbing::golden::GoldenFile;
use tch::{Kind, Tensor};

/// Named tensors from one golden file.
pub struct Golden(GoldenFile);

impl Golden {
    /// Loads `tests/golden/<name>` from the workspace root.
    pub fn load(name: &str) -> Result<Self> {
        Ok(Golden(GoldenFile::load(name)?))
    }

    /// The tensor `name` as float32 (float64 with `kind`).
    pub fn get(&self, name: &str, kind: Kind) -> Result<Tensor> {
        let (shape, data) = self.0.values(name)?;
        let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        Ok(Tensor::from_slice(&data).reshape(&shape[..]).to_kind(kind))
    }

    /// A scalar tensor's value.
    pub fn scalar(&self, name: &str) -> Result<f64> {
        Ok(self.get(name, Kind::Double)?.double_value(&[]))
    }
}
