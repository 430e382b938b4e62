//! The MEG energy step of a plain E (Linear and convolution layers, leaky
//! ReLUs, a flatten), computed by explicit passes with no autograd graph:
//! one forward pass over the real and fake rows, one backward pass of Σ E
//! over all of them (the gradient at every layer's output, and the score of
//! the real rows at the input), and, once the score's cotangent is known, one
//! pass up the layers that pulls it back through the score and hands each
//! layer a single weight-gradient kernel for both of the loss's terms.
//!
//! The math, for a weight layer `z = W a + b` whose output gradient of Σ E is
//! δ (the backward pass computes `a`'s gradient as `Wᵀ δ`): with row weights
//! c = 1/n on real rows and -1/(N - n) on fake ones, the loss
//! `mean E(real) - mean E(fake) + <u, score>` has `dW = Σ_rows δ ⊗ (c·a +
//! ū)` and `db = Σ_rows c·δ`, where ū (zero on fake rows) is the cotangent
//! that `u` reaches at `a` through the score's backward pass: `ū ← W ū`
//! through each weight layer (the forward operation, without bias) and the
//! activation's mask through each leaky ReLU, whose derivative is 0 almost
//! everywhere. Autograd's double backward computes the same sums in two
//! kernels per layer (the forward's weight gradient and the transposed
//! layer's), plus input gradients through the forward pass.

use super::conv::{conv_input_grad, conv_weight_grad, conv_with, Geom};
use meg_nn::leaky_relu;
use tch::nn::{self, Module};
use tch::Tensor;

/// A layer of E as the explicit step sees it, in forward order.
pub(super) enum Op<'a> {
    Linear(&'a nn::Linear),
    Conv(&'a nn::Conv2D, Geom),
    LeakyRelu(f64),
    /// `[N, C, H, W]` → `[N, C·H·W]`.
    Flatten,
}

/// What [`super::EnergyNet::energy_step`] returns: E and the score, and what
/// [`EnergyStep::surrogate`] needs for E's parameter gradients.
pub struct EnergyStep<'a> {
    /// E(x) on all rows, `[N]`, real rows first; no graph.
    pub energy: Tensor,
    /// `d Σ_{i<n} E(x_i) / d x_{0..n}`, the score of the real rows; no graph.
    pub score: Tensor,
    n: i64,
    ops: Vec<Op<'a>>,
    /// Each op's input, all rows.
    inputs: Vec<Tensor>,
    /// The gradient of Σ E (all rows) at each weight layer's output.
    deltas: Vec<Option<Tensor>>,
}

impl<'a> EnergyStep<'a> {
    /// The forward and backward passes of `ops` over `x`, whose first `n`
    /// rows are real. The last op is a weight layer with one output.
    pub(super) fn run(ops: Vec<Op<'a>>, x: &Tensor, n: i64) -> Self {
        let total = x.size()[0];
        assert!(
            0 < n && n < total,
            "the energy step needs real and fake rows: {n} real of {total}"
        );
        tch::no_grad(|| {
            let mut inputs = Vec::with_capacity(ops.len());
            let mut h = x.shallow_clone();
            for op in &ops {
                let next = match op {
                    Op::Linear(l) => l.forward(&h),
                    Op::Conv(c, geom) => conv_with(&c.ws, c.bs.as_ref(), *geom, &h),
                    Op::LeakyRelu(slope) => leaky_relu(&h, *slope),
                    Op::Flatten => h.flatten(1, -1),
                };
                inputs.push(std::mem::replace(&mut h, next));
            }
            assert_eq!(h.size(), [total, 1], "E has one output per row");
            // Σ E's gradient at the output: 1 per row.
            let mut g = h.ones_like();
            let top = ops.len() - 1;
            let mut deltas: Vec<Option<Tensor>> = Vec::with_capacity(ops.len());
            for (i, (op, input)) in ops.iter().zip(&inputs).enumerate().rev() {
                // Below the first layer only the real rows' gradient (the score) is wanted.
                let rows = if i == 0 { n } else { total };
                g = match op {
                    Op::Linear(l) => {
                        deltas.push(Some(g.shallow_clone()));
                        if i == top {
                            // Ones times W: W's row, repeated (a view).
                            l.ws.expand([rows, l.ws.size()[1]], false)
                        } else {
                            g.narrow(0, 0, rows).mm(&l.ws)
                        }
                    }
                    Op::Conv(c, geom) => {
                        deltas.push(Some(g.shallow_clone()));
                        let s = input.size();
                        conv_input_grad(c, *geom, &g.narrow(0, 0, rows), [s[2], s[3]])
                    }
                    Op::LeakyRelu(slope) => {
                        deltas.push(None);
                        input.leaky_relu_backward(&g, *slope, false)
                    }
                    Op::Flatten => {
                        deltas.push(None);
                        meg_nn::conv_layout(&g.reshape(input.size()))
                    }
                };
            }
            deltas.reverse();
            EnergyStep {
                energy: h.reshape([-1]),
                score: g,
                n,
                ops,
                inputs,
                deltas,
            }
        })
    }

    /// A scalar of value 0 whose gradient in E's parameters is that of
    /// `mean E(real) - mean E(fake) + <u, score>` for `u`, the score's
    /// cotangent (the gradient of the penalty term in the score), taken
    /// outside the graph. Backpropagating it only copies the gradients in.
    pub fn surrogate(self, u: &Tensor) -> Tensor {
        let grads = tch::no_grad(|| self.parameter_grads(u));
        let kind = self.energy.kind();
        let mut s = Tensor::zeros([], (kind, self.energy.device()));
        for (p, g) in &grads {
            s += (*p * g).sum(kind);
        }
        &s - s.detach()
    }

    /// Each parameter of E with its gradient (see [`EnergyStep::surrogate`]).
    fn parameter_grads(&self, u: &Tensor) -> Vec<(&Tensor, Tensor)> {
        let (n, total) = (self.n, self.energy.size()[0]);
        let c = Tensor::cat(
            &[
                Tensor::full([n], 1.0 / n as f64, (u.kind(), u.device())),
                Tensor::full(
                    [total - n],
                    -1.0 / (total - n) as f64,
                    (u.kind(), u.device()),
                ),
            ],
            0,
        );
        let mut grads = Vec::new();
        let mut ubar = u.shallow_clone();
        let last = self.ops.len() - 1;
        for (i, ((op, a), delta)) in self
            .ops
            .iter()
            .zip(&self.inputs)
            .zip(&self.deltas)
            .enumerate()
        {
            if let Some(delta) = delta {
                // c·a on all rows, plus ū on the real ones.
                let mut shape = vec![1; a.dim()];
                shape[0] = total;
                let combined = a * c.view(&shape[..]);
                let _ = combined
                    .narrow(0, 0, n)
                    .f_add_(&ubar)
                    .expect("ū has the real rows' shape");
                // Each weight's gradient, and the bias's δ summed over positions.
                let (w, dw, bias) = match op {
                    Op::Linear(l) => (
                        &l.ws,
                        delta.tr().mm(&combined),
                        l.bs.as_ref().map(|b| (b, delta.shallow_clone())),
                    ),
                    Op::Conv(conv, geom) => (
                        &conv.ws,
                        conv_weight_grad(conv, *geom, delta, &combined),
                        conv.bs.as_ref().map(|b| {
                            (
                                b,
                                delta.sum_dim_intlist(&[2i64, 3][..], false, delta.kind()),
                            )
                        }),
                    ),
                    Op::LeakyRelu(_) | Op::Flatten => unreachable!("only weight layers have a δ"),
                };
                grads.push((w, dw));
                if let Some((b, rows)) = bias {
                    // Σ_rows c·δ.
                    grads.push((b, c.unsqueeze(0).mm(&rows).reshape([-1])));
                }
            }
            if i == last {
                break;
            }
            ubar = match op {
                Op::Linear(l) => ubar.mm(&l.ws.tr()),
                Op::Conv(conv, geom) => conv_with(&conv.ws, None, *geom, &ubar),
                Op::LeakyRelu(slope) => a.narrow(0, 0, n).leaky_relu_backward(&ubar, *slope, false),
                Op::Flatten => ubar.flatten(1, -1),
            };
        }
        grads
    }
}
