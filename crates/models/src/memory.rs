//! A run's memory, weighed before anything is allocated: a model too wide or
//! a batch too large for the machine is refused with the estimate and the
//! setting that makes it, instead of failing inside libtorch.
//!
//! The estimate is a lower bound: the values of E, G and T four times over
//! (the variables, their gradients and Adam's two moments) and one training
//! step's examples (a real and a generated batch, and the batch's latents);
//! the layers' intermediate activations come on top.

use crate::config::{ModelConfig, RunConfig};
use anyhow::Result;
use meg_plumbing::resources;
use tch::Device;

/// Bytes of one float32 value.
const F32: u128 = 4;

/// The lower-bound estimate of a run's memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Values held by E, G and T (weights, biases, BatchNorm statistics).
    pub values: u128,
    /// The values, their gradients and Adam's two moments.
    pub model_bytes: u128,
    /// One step's real and generated batches and latents.
    pub batch_bytes: u128,
}

impl Estimate {
    /// The estimate of `cfg`.
    pub fn of(cfg: &RunConfig) -> Self {
        let values = crate::nets::value_count(&cfg.model);
        let x: u128 = cfg
            .model
            .x_shape()
            .iter()
            .map(|&d| d.max(0) as u128)
            .product();
        let z = cfg.model.z_dim().max(0) as u128;
        let batch = cfg.batch_size.max(0) as u128;
        Estimate {
            values,
            model_bytes: 4 * F32 * values,
            batch_bytes: F32 * batch * (2 * x + z),
        }
    }

    /// Both parts.
    pub fn total(&self) -> u128 {
        self.model_bytes + self.batch_bytes
    }
}

/// The config fields that set the size of `model`'s networks.
fn size_fields(model: &ModelConfig) -> &'static str {
    match model {
        ModelConfig::Toy { .. } => "`model.width`, `model.hidden`, `model.z_dim`",
        ModelConfig::Kdd { .. } => "`model.x_dim`, `model.z_dim`",
        ModelConfig::Mnist { .. } | ModelConfig::Cifar { .. } | ModelConfig::Celeba { .. } => {
            "`model.dim`, `model.z_dim`"
        }
    }
}

/// Refuses `cfg` on a CPU `device` when its estimate exceeds the memory this
/// process may still use, naming the larger part's settings. (On CUDA the
/// device's memory is libtorch's to report: an allocation it cannot make
/// fails with its own out-of-memory error.)
pub fn ensure_fits(cfg: &RunConfig, device: Device) -> Result<()> {
    if device != Device::Cpu {
        return Ok(());
    }
    let est = Estimate::of(cfg);
    let cause = if est.model_bytes >= est.batch_bytes {
        format!(
            "E, G and T hold {:.3e} values, each kept with its gradient and Adam's two moments \
             ({}); reduce {}",
            est.values as f64,
            resources::bytes(est.model_bytes),
            size_fields(&cfg.model)
        )
    } else {
        format!(
            "one step's batches of `batch_size` = {} examples take {}; reduce `batch_size`",
            cfg.batch_size,
            resources::bytes(est.batch_bytes)
        )
    };
    resources::ensure_fits(
        &format!("run `{}`", cfg.name),
        est.total(),
        resources::available_memory(),
        "this machine's memory",
    )
    .map_err(|e| anyhow::anyhow!("{e}: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(width: i64, batch: i64) -> RunConfig {
        RunConfig::from_yaml(&format!(
            "name: t\nmodel: {{family: toy, width: {width}}}\ndata: {{kind: toy, name: 8gaussians}}\n\
             objective: meg\nlambda: 0.1\nbatch_size: {batch}\niterations: 10\nseed: 3\n"
        ))
        .unwrap()
    }

    #[test]
    fn oversized_models_and_batches_are_refused_naming_their_settings() {
        let e = ensure_fits(&toy(1_000_000_000, 64), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("run `t` needs at least"), "{e}");
        assert!(e.contains("`model.width`"), "{e}");
        let e = ensure_fits(&toy(32, 100_000_000_000), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("reduce `batch_size`"), "{e}");
        assert!(ensure_fits(&toy(32, 64), Device::Cpu).is_ok());
    }

    #[test]
    fn the_estimate_counts_the_model_four_times_and_the_batch() {
        // Toy, width 32, hidden 3, z 2: E 2-32-32-32-1, G 2-32-32-32-2, T 4-32-32-32-1.
        let lin = |i: u128, o: u128| i * o + o;
        let mid = 2 * lin(32, 32);
        let values = (lin(2, 32) + mid + lin(32, 1))
            + (lin(2, 32) + mid + lin(32, 2))
            + (lin(4, 32) + mid + lin(32, 1));
        let est = Estimate::of(&toy(32, 64));
        assert_eq!(est.values, values);
        assert_eq!(est.model_bytes, 16 * values);
        assert_eq!(est.batch_bytes, 4 * 64 * (2 * 2 + 2));
    }
}
