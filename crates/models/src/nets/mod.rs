//! The three networks of each model family: energy E, generator G and
//! statistics network T, built and initialized as in the authors' code
//! (`nets/families.rs` documents each family's layers and source file).

mod conv;
mod families;
pub(crate) use families::value_count;
mod layers;
mod mlp;
mod step;
mod traits;

pub use mlp::{Act, ConcatStatistics, Mlp};
pub use step::EnergyStep;
pub use traits::{EnergyNet, StatisticsNet};

use crate::config::ModelConfig;
use families::Stores;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// E, G and T with their variable stores.
pub struct Model {
    pub config: ModelConfig,
    pub device: Device,
    pub e_vs: nn::VarStore,
    pub g_vs: nn::VarStore,
    pub t_vs: nn::VarStore,
    e: Box<dyn EnergyNet>,
    g: Box<dyn ModuleT>,
    t: Box<dyn StatisticsNet>,
}

impl Model {
    /// Builds the three networks of `config`'s family, initialized as the
    /// authors initialize them (seed libtorch first for reproducible weights).
    pub fn new(config: &ModelConfig, device: Device) -> Self {
        let e_vs = nn::VarStore::new(device);
        let g_vs = nn::VarStore::new(device);
        let t_vs = nn::VarStore::new(device);
        let s = Stores {
            e: &e_vs,
            g: &g_vs,
            t: &t_vs,
        };
        let (e, g, t) = match *config {
            ModelConfig::Toy {
                width,
                z_dim,
                hidden,
            } => families::toy(&s, width, z_dim, hidden),
            ModelConfig::Kdd { z_dim, x_dim } => families::kdd(&s, z_dim, x_dim),
            ModelConfig::Mnist {
                dim,
                z_dim,
                channels,
            } => families::mnist(&s, dim, z_dim, channels),
            ModelConfig::Cifar { dim, z_dim } => families::cifar(&s, dim, z_dim),
            ModelConfig::Celeba { dim, z_dim } => families::celeba(&s, dim, z_dim),
        };
        Model {
            config: config.clone(),
            device,
            e_vs,
            g_vs,
            t_vs,
            e,
            g,
            t,
        }
    }

    /// Dimension of the latent z.
    pub fn z_dim(&self) -> i64 {
        self.config.z_dim()
    }

    /// Shape of one example x (without the batch axis).
    pub fn x_shape(&self) -> Vec<i64> {
        self.config.x_shape()
    }

    /// E(x), one scalar per example: shape `[N]`.
    pub fn energy(&self, x: &Tensor, train: bool) -> Tensor {
        self.e.forward_t(x, train).reshape([-1])
    }

    /// E on the stacked batches `[x_real; x_fake]` and the score of the real
    /// rows by explicit passes, and what E's gradient needs (see
    /// [`EnergyStep`]); `None` if E's layers are not covered (the caller then
    /// uses autograd). The inputs need no graph.
    pub fn energy_step(&self, x_real: &Tensor, x_fake: &Tensor) -> Option<EnergyStep<'_>> {
        let x = Tensor::cat(&[x_real.detach(), x_fake.detach()], 0);
        self.e.energy_step(&x, x_real.size()[0])
    }

    /// G(z).
    pub fn generate(&self, z: &Tensor, train: bool) -> Tensor {
        self.g.forward_t(z, train)
    }

    /// T(x, z), one logit per pair: shape `[N]`.
    pub fn statistics(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor {
        self.t.forward_t(x, z, train).reshape([-1])
    }

    /// `[T(x, z); T(x, z_marg)]` (see [`StatisticsNet::forward_pairs`]): shape `[2N]`.
    pub fn statistics_pairs(&self, x: &Tensor, z: &Tensor, z_marg: &Tensor, train: bool) -> Tensor {
        self.t.forward_pairs(x, z, z_marg, train).reshape([-1])
    }

    /// `n` latent draws from N(0, I) on the model's device.
    pub fn sample_z(&self, n: i64) -> Tensor {
        Tensor::randn([n, self.z_dim()], (Kind::Float, self.device))
    }

    /// Every variable (parameters and buffers), named `E.*`, `G.*`, `T.*`, sorted.
    pub fn named_variables(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (prefix, vs) in [("E.", &self.e_vs), ("G.", &self.g_vs), ("T.", &self.t_vs)] {
            let mut vars: Vec<_> = vs
                .variables()
                .into_iter()
                .map(|(k, v)| (format!("{prefix}{k}"), v))
                .collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(vars);
        }
        out
    }

    /// Trainable parameters of the given stores, named and sorted.
    pub fn parameters(&self, which: &str) -> Vec<(String, Tensor)> {
        self.named_variables()
            .into_iter()
            .filter(|(k, v)| which.contains(&k[..1]) && v.requires_grad())
            .collect()
    }

    /// Number of trainable scalars in E, G and T.
    pub fn parameter_count(&self) -> (i64, i64, i64) {
        let count = |w: &str| {
            self.parameters(w)
                .iter()
                .map(|(_, v)| v.numel() as i64)
                .sum()
        };
        (count("E"), count("G"), count("T"))
    }
}
