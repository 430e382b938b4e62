//! The three networks of each model family: energy E, generator G and
//! statistics network T, all initialized as PyTorch initializes them.

use crate::config::ModelConfig;
use std::fmt::Debug;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// T(x, z): a logit telling joint pairs (x = G(z), z) from shuffled ones.
pub trait StatisticsNet: Debug + Send {
    fn forward_t(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor;
}

/// Hidden-layer activation of an [`Mlp`].
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Relu,
    LeakyRelu(f64),
}

impl Act {
    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Act::Relu => x.relu(),
            Act::LeakyRelu(s) => meg_nn::leaky_relu(x, s),
        }
    }
}

/// A plain MLP: Linear, then (activation, Linear) for each further layer.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    act: Act,
}

impl Mlp {
    /// Layer sizes `dims[0] -> dims[1] -> ... -> dims[last]`.
    pub fn new(vs: nn::Path, dims: &[i64], act: Act) -> Self {
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| meg_nn::linear(&vs / i, w[0], w[1]))
            .collect();
        Mlp { layers, act }
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let mut h = self.layers[0].forward_t(x, false);
        for l in &self.layers[1..] {
            h = l.forward_t(&self.act.apply(&h), false);
        }
        h
    }
}

/// T(x, z) = MLP(concat(x, z)).
#[derive(Debug)]
pub struct ConcatStatistics(Mlp);

impl StatisticsNet for ConcatStatistics {
    fn forward_t(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor {
        self.0.forward_t(
            &Tensor::cat(&[x.flatten(1, -1), z.shallow_clone()], 1),
            train,
        )
    }
}

/// E, G and T with their variable stores.
pub struct Model {
    pub config: ModelConfig,
    pub device: Device,
    pub e_vs: nn::VarStore,
    pub g_vs: nn::VarStore,
    pub t_vs: nn::VarStore,
    e: Box<dyn ModuleT>,
    g: Box<dyn ModuleT>,
    t: Box<dyn StatisticsNet>,
}

impl Model {
    /// Builds the three networks with fresh PyTorch-style initialization
    /// (seed libtorch first for reproducible weights).
    pub fn new(config: &ModelConfig, device: Device) -> Self {
        let e_vs = nn::VarStore::new(device);
        let g_vs = nn::VarStore::new(device);
        let t_vs = nn::VarStore::new(device);
        let (e, g, t): (Box<dyn ModuleT>, Box<dyn ModuleT>, Box<dyn StatisticsNet>) = match *config
        {
            ModelConfig::Toy {
                width,
                z_dim,
                hidden,
            } => {
                let x_dim = 2;
                let mid = vec![width; hidden];
                let dims = |i: i64, o: i64| [vec![i], mid.clone(), vec![o]].concat();
                (
                    Box::new(Mlp::new(e_vs.root(), &dims(x_dim, 1), Act::LeakyRelu(0.2))),
                    Box::new(Mlp::new(g_vs.root(), &dims(z_dim, x_dim), Act::Relu)),
                    Box::new(ConcatStatistics(Mlp::new(
                        t_vs.root(),
                        &dims(x_dim + z_dim, 1),
                        Act::LeakyRelu(0.2),
                    ))),
                )
            }
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
        match self.config {
            ModelConfig::Toy { z_dim, .. } => z_dim,
        }
    }

    /// E(x), one scalar per example: shape `[N]`.
    pub fn energy(&self, x: &Tensor, train: bool) -> Tensor {
        self.e.forward_t(x, train).reshape([-1])
    }

    /// G(z).
    pub fn generate(&self, z: &Tensor, train: bool) -> Tensor {
        self.g.forward_t(z, train)
    }

    /// T(x, z), one logit per pair: shape `[N]`.
    pub fn statistics(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor {
        self.t.forward_t(x, z, train).reshape([-1])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toy_shapes_and_parameter_counts() {
        tch::manual_seed(0);
        let m = Model::new(
            &ModelConfig::Toy {
                width: 8,
                z_dim: 2,
                hidden: 3,
            },
            Device::Cpu,
        );
        let z = m.sample_z(5);
        let x = m.generate(&z, true);
        assert_eq!(x.size(), [5, 2]);
        assert_eq!(m.energy(&x, true).size(), [5]);
        assert_eq!(m.statistics(&x, &z, true).size(), [5]);
        // 2-8-8-8-1: (2*8+8) + 2*(8*8+8) + (8+1) = 177; G 2-8-8-8-2: 24+144+18 = 186; T 4-...-1: 40+144+9.
        assert_eq!(m.parameter_count(), (177, 186, 193));
        assert_eq!(m.named_variables().len(), 24);
    }
}
