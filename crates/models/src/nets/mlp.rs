//! Fully connected networks: the toy and KDD99 families, and T's classifier head.

use super::layers::LeakyRelu;
use super::step::{EnergyStep, StepLayers};
use super::traits::{EnergyNet, StatisticsNet};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// Activation between layers.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Relu,
    LeakyRelu(f64),
    Tanh,
}

impl Act {
    /// Applies the activation to `x`, an intermediate the caller owns: ReLU and
    /// tanh run in place (the authors' `inplace=True`; autograd's version
    /// counters would flag a misuse), leaky ReLU is [`meg_nn::leaky_relu`]
    /// (out of place, twice differentiable).
    pub(super) fn apply(self, mut x: Tensor) -> Tensor {
        match self {
            Act::Relu => x.relu_(),
            Act::LeakyRelu(s) => meg_nn::leaky_relu(&x, s),
            Act::Tanh => x.tanh_(),
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
    /// Layer sizes `dims[0] -> dims[1] -> ... -> dims[last]`; the layers are
    /// named `0, 1, 2, ...`.
    pub fn new(vs: nn::Path, dims: &[i64], act: Act) -> Self {
        Self::named(vs, dims, act, 1)
    }

    /// The same MLP named as PyTorch names `nn.Sequential(Linear, act, Linear, ...)`:
    /// `0, 2, 4, ...`, so that variables carry the authors' state-dict names.
    pub fn sequential(vs: nn::Path, dims: &[i64], act: Act) -> Self {
        Self::named(vs, dims, act, 2)
    }

    fn named(vs: nn::Path, dims: &[i64], act: Act, stride: usize) -> Self {
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| meg_nn::linear(&vs / (i * stride), w[0], w[1]))
            .collect();
        Mlp { layers, act }
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let mut h = self.layers[0].forward(x);
        for l in &self.layers[1..] {
            h = l.forward(&self.act.apply(h));
        }
        h
    }
}

impl EnergyNet for Mlp {
    fn energy_step(&self, x: &Tensor, n: i64) -> Option<EnergyStep<'_>> {
        let Act::LeakyRelu(slope) = self.act else {
            return None;
        };
        let mut layers: StepLayers<'_> = vec![Box::new(&self.layers[0])];
        for l in &self.layers[1..] {
            layers.push(Box::new(LeakyRelu(slope)));
            layers.push(Box::new(l));
        }
        Some(EnergyStep::run(layers, x, n))
    }
}

/// T(x, z) = MLP(concat(x, z)).
#[derive(Debug)]
pub struct ConcatStatistics(pub(super) Mlp);

impl StatisticsNet for ConcatStatistics {
    fn forward_t(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor {
        self.0.forward_t(
            &Tensor::cat(&[x.flatten(1, -1), z.shallow_clone()], 1),
            train,
        )
    }
}
