//! Checkpoints: the three networks, both optimizers' state and the iteration
//! count in one safetensors file, written atomically (temporary file + rename),
//! so the file under the final name is always a complete checkpoint.
//!
//! A checkpoint is bound to the run config it was made for (`meta.config_sha256`,
//! the sha256 of the config's YAML) and carries a sha256 of every other tensor
//! (`meta.digest`: names, kinds, shapes and bytes in name order), checked on
//! every read: a flipped bit, an edited iteration count or a checkpoint of
//! another run is an error, never trained on.

use crate::adam::Adam;
use crate::config::RunConfig;
use crate::nets::Model;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Tensor};

/// File name of a run's checkpoint inside its output directory.
pub const FILE: &str = "checkpoint.safetensors";

const ITERATION: &str = "meta.iteration";
const CONFIG_SHA256: &str = "meta.config_sha256";
const DIGEST: &str = "meta.digest";

/// The sha256 a checkpoint of the run `config` is bound to.
pub fn config_sha256(config: &RunConfig) -> [u8; 32] {
    Sha256::digest(config.to_yaml().as_bytes()).into()
}

/// sha256 over every tensor but the digest itself, in name order: name,
/// kind, shape and raw bytes.
fn digest(tensors: &[(String, Tensor)]) -> [u8; 32] {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().filter(|(k, _)| k != DIGEST).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, t) in sorted {
        let t = t.to_device(Device::Cpu).contiguous();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(format!("{:?}{:?}", t.kind(), t.size()).as_bytes());
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut bytes, numel);
        h.update(&bytes);
    }
    h.finalize().into()
}

fn bytes_tensor(b: &[u8; 32]) -> Tensor {
    Tensor::from_slice(&b[..])
}

/// Saves model and optimizer state after `iteration` completed iterations of
/// the run `config`.
pub fn save(
    path: &Path,
    config: &RunConfig,
    model: &Model,
    opt_e: &Adam,
    opt_gt: &Adam,
    iteration: u64,
) -> Result<()> {
    let mut tensors = model.named_variables();
    tensors.extend(opt_e.state("opt_e."));
    tensors.extend(opt_gt.state("opt_gt."));
    tensors.push((ITERATION.to_string(), Tensor::from(iteration as i64)));
    tensors.push((
        CONFIG_SHA256.to_string(),
        bytes_tensor(&config_sha256(config)),
    ));
    let mut cpu: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(k, v)| (k, v.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    let d = digest(&cpu);
    cpu.push((DIGEST.to_string(), bytes_tensor(&d)));
    meg_plumbing::io::write_atomic_with(path, |tmp| Ok(Tensor::write_safetensors(&cpu, tmp)?))
}

/// The tensors of a checkpoint file, by name.
pub struct Checkpoint {
    path: std::path::PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Reads a checkpoint written by [`save`] and checks its digest.
    pub fn read(path: &Path) -> Result<Self> {
        let list = Tensor::read_safetensors(path)
            .with_context(|| format!("reading checkpoint {}", path.display()))?;
        let stored = list
            .iter()
            .find(|(k, _)| k == DIGEST)
            .map(|(_, t)| Vec::<u8>::try_from(t.to_kind(tch::Kind::Uint8)))
            .transpose()?
            .with_context(|| {
                format!(
                    "checkpoint {} has no `{DIGEST}` (written before checkpoints were verified, \
                     or not by meg): start the run again in an empty directory",
                    path.display()
                )
            })?;
        if stored[..] != digest(&list)[..] {
            bail!(
                "checkpoint {} is corrupt: its tensors do not match the digest stored with them \
                 (a changed bit or value); it cannot be trained on or sampled from",
                path.display()
            );
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            tensors: list.into_iter().collect(),
        })
    }

    /// Fails unless the checkpoint was made for the run `config`.
    pub fn check_config(&self, config: &RunConfig) -> Result<()> {
        let stored = Vec::<u8>::try_from(self.get(CONFIG_SHA256)?.to_kind(tch::Kind::Uint8))?;
        if stored[..] != config_sha256(config)[..] {
            bail!(
                "checkpoint {} was made for another run config than `{}` (its config sha256 differs)",
                self.path.display(),
                config.name
            );
        }
        Ok(())
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

/// The first tensor of the model's weights or the optimizers' state that is
/// not finite, by checkpoint name; `None` when all are.
pub fn first_non_finite(model: &Model, opt_e: &Adam, opt_gt: &Adam) -> Option<String> {
    let mut tensors = model.named_variables();
    tensors.extend(opt_e.state("opt_e."));
    tensors.extend(opt_gt.state("opt_gt."));
    tensors
        .into_iter()
        .filter(|(_, v)| v.is_floating_point())
        .find(|(_, v)| v.isfinite().all().int64_value(&[]) != 1)
        .map(|(k, _)| k)
}
