//! Checkpoints: the three networks, both optimizers' state and the iteration
//! count in one safetensors file, written atomically (temporary file + rename),
//! so the file under the final name is always a complete checkpoint.

use crate::adam::Adam;
use crate::nets::Model;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Tensor};

/// File name of a run's checkpoint inside its output directory.
pub const FILE: &str = "checkpoint.safetensors";

const ITERATION: &str = "meta.iteration";

/// Saves model and optimizer state after `iteration` completed iterations.
pub fn save(path: &Path, model: &Model, opt_e: &Adam, opt_gt: &Adam, iteration: u64) -> Result<()> {
    let mut tensors = model.named_variables();
    tensors.extend(opt_e.state("opt_e."));
    tensors.extend(opt_gt.state("opt_gt."));
    tensors.push((ITERATION.to_string(), Tensor::from(iteration as i64)));
    let cpu: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(k, v)| (k, v.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    meg_nn::io::write_atomic_with(path, |tmp| Ok(Tensor::write_safetensors(&cpu, tmp)?))
}

/// The tensors of a checkpoint file, by name.
pub struct Checkpoint {
    path: std::path::PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Reads a checkpoint written by [`save`].
    pub fn read(path: &Path) -> Result<Self> {
        let tensors = Tensor::read_safetensors(path)
            .with_context(|| format!("reading checkpoint {}", path.display()))?
            .into_iter()
            .collect();
        Ok(Checkpoint {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Completed iterations at the time of the save.
    pub fn iteration(&self) -> Result<u64> {
        Ok(self.get(ITERATION)?.int64_value(&[]) as u64)
    }

    fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .get(name)
            .map(|t| t.shallow_clone())
            .with_context(|| {
                format!(
                    "checkpoint {} has no tensor `{name}` (written for another model?)",
                    self.path.display()
                )
            })
    }

    /// Copies the networks' weights into `model`, checking every name and shape.
    pub fn restore_model(&self, model: &Model) -> Result<()> {
        tch::no_grad(|| {
            for (name, mut var) in model.named_variables() {
                let src = self.get(&name)?;
                if src.size() != var.size() {
                    bail!(
                        "checkpoint {}: `{name}` has shape {:?}, the model expects {:?}",
                        self.path.display(),
                        src.size(),
                        var.size()
                    );
                }
                var.copy_(&src.to_kind(var.kind()));
            }
            Ok(())
        })
    }

    /// Restores both optimizers.
    pub fn restore_optimizers(&self, opt_e: &mut Adam, opt_gt: &mut Adam) -> Result<()> {
        opt_e.load_state("opt_e.", &mut |k| self.get(k))?;
        opt_gt.load_state("opt_gt.", &mut |k| self.get(k))
    }
}

/// True when every variable of the model is finite.
pub fn model_is_finite(model: &Model) -> bool {
    model
        .named_variables()
        .iter()
        .filter(|(_, v)| v.is_floating_point())
        .all(|(_, v)| v.isfinite().all().int64_value(&[]) == 1)
}
