//! Fully connected networks: the toy and KDD99 families, and T's classifier head.

use super::{EnergyNet, EnergyStep, StatisticsNet};
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

/// `d Σ_{i<n} out_i / d h` for `out = h W^T + b`: the rows of `ones · W`.
pub(super) fn output_grad(w: &Tensor, n: i64) -> Tensor {
    let s = w.size();
    if s[0] == 1 {
        w.expand([n, s[1]], false)
    } else {
        Tensor::ones([n, s[0]], (w.kind(), w.device())).mm(w)
    }
}

/// The input gradient through a leaky ReLU whose input was `pre` (outside the graph).
pub(super) fn leaky_relu_grad(g: &Tensor, pre: &Tensor, slope: f64) -> Tensor {
    pre.leaky_relu_backward(g, slope, false)
}

impl EnergyNet for Mlp {
    fn energy_step(&self, x: &Tensor, n: i64) -> Option<EnergyStep> {
        let Act::LeakyRelu(slope) = self.act else {
            return None;
        };
        // Each layer on its input taken outside the graph.
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let h = match outs.last() {
                Some(o) => self.act.apply(o.detach()),
                None => x.detach(),
            };
            outs.push(l.forward(&h));
        }
        let out = outs.pop().expect("at least one layer");
        let (last, rest) = self.layers.split_last().expect("at least one layer");
        // Σ E over `len` rows from `start`, backpropagated by addmm's input
        // gradient (grad · W) layer by layer: the gradient at each hidden
        // layer's output (bottom first) and at the input.
        Some(EnergyStep::from_chain(
            &out,
            &outs,
            n,
            |start, len, to_input| {
                let mut g = output_grad(&last.ws, len);
                let mut deltas = Vec::with_capacity(rest.len());
                for (k, (l, o)) in rest.iter().zip(&outs).enumerate().rev() {
                    let d = leaky_relu_grad(&g, &o.detach().narrow(0, start, len), slope);
                    if k > 0 || to_input {
                        g = d.mm(&l.ws);
                    }
                    deltas.push(d);
                }
                deltas.reverse();
                (deltas, g)
            },
        ))
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
