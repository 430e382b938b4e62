//! The configuration of one training run, read from YAML and saved next to
//! every artifact the run writes.

use anyhow::{bail, Context, Result};
pub use meg_datasets::DataConfig;
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

/// How WGAN-GP measures its gradient penalty (MEG ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GradientPenalty {
    /// Gulrajani et al.: one interpolation weight per example and the norm
    /// of each example's whole input gradient.
    #[default]
    #[serde(rename = "per-example")]
    PerExample,
    /// As the authors' released code measures it (`gradient_penalty` in
    /// `networks/regularizers.py`): one interpolation weight per element and
    /// the norm over the channel axis at each pixel, `(norm - 1)²` averaged
    /// over examples and pixels. On flat data only the weights differ.
    #[serde(rename = "per-pixel")]
    PerPixel,
}

impl GradientPenalty {
    fn is_per_example(&self) -> bool {
        *self == GradientPenalty::PerExample
    }
}

/// Model family and its sizes (architectures from the authors' code; see
/// `../shared/MEG-method.md`).
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
    /// KDD99 MLPs: G z -> 64 -> 128 -> x (ReLU); E x -> 256 -> 128 -> 128 -> 1;
    /// T (x + z) -> 256 -> 128 -> 128 -> 1 (LeakyReLU 0.2).
    #[serde(rename = "kdd")]
    Kdd {
        #[serde(default = "kdd_z")]
        z_dim: i64,
        #[serde(default = "kdd_x")]
        x_dim: i64,
    },
    /// 28x28 DCGAN-style nets with `channels` channels (MNIST: 1,
    /// StackedMNIST: the number of stacks).
    #[serde(rename = "mnist")]
    Mnist {
        #[serde(default = "dim512")]
        dim: i64,
        #[serde(default = "z128")]
        z_dim: i64,
        channels: i64,
    },
    /// 32x32 RGB nets (CIFAR-10).
    #[serde(rename = "cifar")]
    Cifar {
        #[serde(default = "dim512")]
        dim: i64,
        #[serde(default = "z128")]
        z_dim: i64,
    },
    /// 64x64 RGB nets (CelebA): the CIFAR nets with one more up/down stage.
    #[serde(rename = "celeba")]
    Celeba {
        #[serde(default = "dim512")]
        dim: i64,
        #[serde(default = "z128")]
        z_dim: i64,
    },
}

impl ModelConfig {
    /// Dimension of the latent z.
    pub fn z_dim(&self) -> i64 {
        match *self {
            ModelConfig::Toy { z_dim, .. }
            | ModelConfig::Kdd { z_dim, .. }
            | ModelConfig::Mnist { z_dim, .. }
            | ModelConfig::Cifar { z_dim, .. }
            | ModelConfig::Celeba { z_dim, .. } => z_dim,
        }
    }

    /// Shape of one example x (without the batch axis).
    pub fn x_shape(&self) -> Vec<i64> {
        match *self {
            ModelConfig::Toy { .. } => vec![2],
            ModelConfig::Kdd { x_dim, .. } => vec![x_dim],
            ModelConfig::Mnist { channels, .. } => vec![channels, 28, 28],
            ModelConfig::Cifar { .. } => vec![3, 32, 32],
            ModelConfig::Celeba { .. } => vec![3, 64, 64],
        }
    }

    fn validate(&self) -> Result<()> {
        let (name, sizes): (&str, Vec<(&str, i64)>) = match *self {
            ModelConfig::Toy {
                width,
                z_dim,
                hidden,
            } => (
                "toy",
                vec![
                    ("width", width),
                    ("z_dim", z_dim),
                    ("hidden", hidden as i64),
                ],
            ),
            ModelConfig::Kdd { z_dim, x_dim } => ("kdd", vec![("z_dim", z_dim), ("x_dim", x_dim)]),
            ModelConfig::Mnist {
                dim,
                z_dim,
                channels,
            } => (
                "mnist",
                vec![("dim", dim), ("z_dim", z_dim), ("channels", channels)],
            ),
            ModelConfig::Cifar { dim, z_dim } => ("cifar", vec![("dim", dim), ("z_dim", z_dim)]),
            ModelConfig::Celeba { dim, z_dim } => ("celeba", vec![("dim", dim), ("z_dim", z_dim)]),
        };
        for (field, v) in sizes {
            if v <= 0 {
                bail!("field `model.{field}` ({name} family) must be positive, got {v}");
            }
        }
        if let ModelConfig::Mnist { dim, .. }
        | ModelConfig::Cifar { dim, .. }
        | ModelConfig::Celeba { dim, .. } = *self
        {
            if dim % 8 != 0 {
                bail!("field `model.dim` ({name} family) must be a multiple of 8, got {dim}");
            }
        }
        Ok(())
    }
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
    /// WGAN-GP's penalty (`per-example`, the default, or the authors' `per-pixel`).
    #[serde(default, skip_serializing_if = "GradientPenalty::is_per_example")]
    pub gradient_penalty: GradientPenalty,
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
fn kdd_z() -> i64 {
    32
}
fn kdd_x() -> i64 {
    121
}
fn dim512() -> i64 {
    512
}
fn z128() -> i64 {
    128
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
            if !(v > 0.0 && v.is_finite()) {
                bail!("field `{field}` must be a finite positive number, got {v}");
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
        if self.objective != Objective::WganGp && !self.gradient_penalty.is_per_example() {
            bail!("field `gradient_penalty` is WGAN-GP's setting, but `objective` is not wgan-gp");
        }
        self.model.validate()?;
        self.data.validate()?;
        let (d, m) = (self.data.x_shape(), self.model.x_shape());
        if d != m {
            bail!(
                "field `model`: this model takes examples of shape {m:?}, but the data gives {d:?}"
            );
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
        // The default penalty is not written, so configs saved before the
        // setting existed (and their checkpoints' keys) stay the same.
        assert!(!c.to_yaml().contains("gradient_penalty"));
        let w = GOOD.replace("objective: meg", "objective: wgan-gp");
        let pp = RunConfig::from_yaml(&format!("{w}gradient_penalty: per-pixel\n")).unwrap();
        assert_eq!(pp.gradient_penalty, GradientPenalty::PerPixel);
        assert_eq!(RunConfig::from_yaml(&pp.to_yaml()).unwrap(), pp);
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
            (
                format!("{GOOD}lr: .inf\n"),
                "field `lr` must be a finite positive number, got inf",
            ),
            (
                format!("{GOOD}gradient_penalty: per-pixel\n"),
                "field `gradient_penalty` is WGAN-GP's setting",
            ),
            (format!("{GOOD}gradient_penalty: pixel\n"), "per-pixel"),
        ];
        for (text, needle) in cases {
            let e = format!("{:#}", RunConfig::from_yaml(&text).unwrap_err());
            assert!(e.contains(needle), "error `{e}` does not name `{needle}`");
        }
    }
}
