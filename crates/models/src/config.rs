//! The configuration of one training run, read from YAML and saved next to
//! every artifact the run writes.

use anyhow::{bail, Context, Result};
use meg_datasets::toy::Toy;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which objective trains the energy/critic and the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    /// MEG: score-penalized energy step, and a generator step with the JSD
    /// mutual-information (entropy) term.
    #[serde(rename = "meg")]
    Meg,
    /// WGAN-GP with E as the critic (interpolate gradient penalty).
    #[serde(rename = "wgan-gp")]
    WganGp,
}

/// Model family and its sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", deny_unknown_fields)]
pub enum ModelConfig {
    /// 2-D toy MLPs: `hidden` hidden layers of `width` units; G uses ReLU,
    /// E and T LeakyReLU(0.2); T takes concat(x, z).
    #[serde(rename = "toy")]
    Toy {
        width: i64,
        #[serde(default = "two")]
        z_dim: i64,
        #[serde(default = "three")]
        hidden: usize,
    },
}

/// The training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum DataConfig {
    /// One of the 2-D toy densities (swissroll, 25gaussians, 8gaussians).
    #[serde(rename = "toy")]
    Toy { name: Toy },
}

/// Everything that defines one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// A name for the run (used in logs and reports).
    pub name: String,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub objective: Objective,
    /// Weight of the gradient penalty (score penalty for MEG, GP for WGAN-GP).
    pub lambda: f64,
    pub batch_size: i64,
    /// Length in iterations; one iteration is `k_g` generator steps then `k_e`
    /// energy steps. Give this or `epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Length in passes over a finite training set, counted in energy steps
    /// (each takes one real batch): `ceil(epochs · ceil(N / batch) / k_e)`
    /// iterations. Give this or `iterations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u64>,
    #[serde(default = "five")]
    pub k_e: u32,
    #[serde(default = "one")]
    pub k_g: u32,
    pub seed: u64,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_betas")]
    pub betas: (f64, f64),
    /// Iterations between rows of `metrics.csv`.
    #[serde(default = "default_log_every")]
    pub log_every: u64,
    /// Iterations between checkpoints (a final one is always written).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
}

fn one() -> u32 {
    1
}
fn two() -> i64 {
    2
}
fn three() -> usize {
    3
}
fn five() -> u32 {
    5
}
fn default_lr() -> f64 {
    1e-4
}
fn default_betas() -> (f64, f64) {
    (0.5, 0.9)
}
fn default_log_every() -> u64 {
    100
}
fn default_checkpoint_every() -> u64 {
    1000
}

impl RunConfig {
    /// Reads and validates a run config; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("in run config {}", path.display()))
    }

    /// Parses and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let c: RunConfig = serde_yaml_ng::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks value ranges, naming the offending field.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("batch_size", self.batch_size as f64),
            ("k_e", self.k_e as f64),
            ("k_g", self.k_g as f64),
            ("lr", self.lr),
            ("log_every", self.log_every as f64),
            ("checkpoint_every", self.checkpoint_every as f64),
        ];
        for (field, v) in positive {
            if v <= 0.0 || v.is_nan() {
                bail!("field `{field}` must be positive, got {v}");
            }
        }
        match (self.iterations, self.epochs) {
            (Some(0), _) => bail!("field `iterations` must be positive, got 0"),
            (_, Some(0)) => bail!("field `epochs` must be positive, got 0"),
            (Some(_), Some(_)) => bail!("fields `iterations` and `epochs` are exclusive: give one"),
            (None, None) => bail!("missing field `iterations` (or `epochs`): the run's length"),
            _ => {}
        }
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            bail!(
                "field `lambda` must be a finite number >= 0, got {}",
                self.lambda
            );
        }
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                bail!("field `betas[{i}]` must be in [0, 1), got {b}");
            }
        }
        match &self.model {
            ModelConfig::Toy {
                width,
                z_dim,
                hidden,
            } => {
                if *width <= 0 || *z_dim <= 0 || *hidden == 0 {
                    bail!("field `model`: width, z_dim and hidden must be positive, got {width}, {z_dim}, {hidden}");
                }
            }
        }
        Ok(())
    }

    /// Total iterations, given the training set's size (`None` for an endless
    /// stream such as the toy densities, where only `iterations` makes sense).
    pub fn total_iterations(&self, data_len: Option<usize>) -> Result<u64> {
        match (self.iterations, self.epochs, data_len) {
            (Some(n), _, _) => Ok(n),
            (None, Some(e), Some(n)) => {
                let steps = e * (n as u64).div_ceil(self.batch_size as u64);
                Ok(steps.div_ceil(self.k_e as u64).max(1))
            }
            (None, Some(_), None) => bail!(
                "run `{}`: `epochs` needs a finite training set, but its data is an endless stream: give `iterations`",
                self.name
            ),
            (None, None, _) => bail!("run `{}` has neither `iterations` nor `epochs`", self.name),
        }
    }

    /// The YAML form (what is saved next to artifacts).
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("a RunConfig always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
name: t
model: {family: toy, width: 16}
data: {kind: toy, name: 8gaussians}
objective: meg
lambda: 0.1
batch_size: 32
iterations: 10
seed: 3
";

    #[test]
    fn parses_defaults_and_round_trips() {
        let c = RunConfig::from_yaml(GOOD).unwrap();
        assert_eq!(
            c.model,
            ModelConfig::Toy {
                width: 16,
                z_dim: 2,
                hidden: 3
            }
        );
        assert_eq!((c.k_e, c.k_g, c.lr, c.betas), (5, 1, 1e-4, (0.5, 0.9)));
        assert_eq!(RunConfig::from_yaml(&c.to_yaml()).unwrap(), c);
    }

    #[test]
    fn epochs_count_energy_steps_over_the_data() {
        let c = RunConfig::from_yaml(&GOOD.replace("iterations: 10", "epochs: 3")).unwrap();
        assert_eq!((c.iterations, c.epochs), (None, Some(3)));
        // 1000 examples, batch 32: 32 energy steps per epoch; 96 steps at k_e = 5 -> 20 iterations.
        assert_eq!(c.total_iterations(Some(1000)).unwrap(), 20);
        let err = c.total_iterations(None).unwrap_err().to_string();
        assert!(err.contains("endless"), "{err}");
        assert_eq!(
            RunConfig::from_yaml(GOOD)
                .unwrap()
                .total_iterations(None)
                .unwrap(),
            10
        );
        let both = GOOD.replace("iterations: 10", "iterations: 10\nepochs: 2");
        assert!(format!("{:#}", RunConfig::from_yaml(&both).unwrap_err()).contains("exclusive"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (GOOD.replace("lambda: 0.1\n", ""), "lambda"),
            (GOOD.replace("iterations: 10\n", ""), "iterations"),
            (GOOD.replace("seed: 3", "seed: 3\nsede: 4"), "sede"),
            (GOOD.replace("8gaussians", "9gaussians"), "9gaussians"),
            (
                GOOD.replace("batch_size: 32", "batch_size: many"),
                "batch_size",
            ),
            (
                GOOD.replace("batch_size: 32", "batch_size: 0"),
                "batch_size",
            ),
            (GOOD.replace("objective: meg", "objective: gan"), "gan"),
        ];
        for (text, needle) in cases {
            let e = format!("{:#}", RunConfig::from_yaml(&text).unwrap_err());
            assert!(e.contains(needle), "error `{e}` does not name `{needle}`");
        }
    }
}
