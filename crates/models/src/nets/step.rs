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
//!
//! Each layer type brings its own passes ([`StepLayer`], implemented next to
//! the layer in `layers.rs`); the step only orders them.

use tch::Tensor;

/// A layer of E as the explicit step sees it: its forward pass and its
/// explicit gradients, outside autograd.
pub(super) trait StepLayer {
    /// The layer's output for `x`.
    fn forward(&self, x: &Tensor) -> Tensor;

    /// The gradient at the layer's input, on its first `rows` rows, from
    /// the gradient `g` at its output; `input` is the layer's input (all
    /// rows). `rows` is all of them except below E's first layer.
    fn input_grad(&self, input: &Tensor, g: &Tensor, rows: i64) -> Tensor;

    /// [`StepLayer::input_grad`] for an output gradient of ones in a single
    /// column (the layer is E's output), where the layer has a cheaper form.
    fn input_grad_of_ones(&self, _rows: i64) -> Option<Tensor> {
        None
    }

    /// Whether the layer has weights: the step keeps the gradient at its
    /// output (δ) for [`StepLayer::weight_grads`].
    fn has_weights(&self) -> bool {
        false
    }

    /// The weight's gradient `Σ_rows δ ⊗ combined` for the output gradient
    /// `delta` and `combined` = c·a + ū at the input (see the module
    /// documentation), and the bias's per-row δ.
    fn weight_grads(&self, _delta: &Tensor, _combined: &Tensor) -> WeightGrads<'_> {
        unreachable!("only layers with weights have a δ")
    }

    /// The score's cotangent ū, given on the first `n` rows of the layer's
    /// `input` (all rows), carried to the layer's output: the forward
    /// operation without bias for a weight layer, the derivative's mask for
    /// an activation.
    fn cotangent_up(&self, input: &Tensor, n: i64, ubar: &Tensor) -> Tensor;
}

impl<L: StepLayer + ?Sized> StepLayer for &L {
    fn forward(&self, x: &Tensor) -> Tensor {
        (**self).forward(x)
    }
    fn input_grad(&self, input: &Tensor, g: &Tensor, rows: i64) -> Tensor {
        (**self).input_grad(input, g, rows)
    }
    fn input_grad_of_ones(&self, rows: i64) -> Option<Tensor> {
        (**self).input_grad_of_ones(rows)
    }
    fn has_weights(&self) -> bool {
        (**self).has_weights()
    }
    fn weight_grads(&self, delta: &Tensor, combined: &Tensor) -> WeightGrads<'_> {
        (**self).weight_grads(delta, combined)
    }
    fn cotangent_up(&self, input: &Tensor, n: i64, ubar: &Tensor) -> Tensor {
        (**self).cotangent_up(input, n, ubar)
    }
}

/// A weight layer's parameter gradients in one step.
pub(super) struct WeightGrads<'a> {
    /// The weight and its gradient.
    pub weight: (&'a Tensor, Tensor),
    /// The bias and δ summed over positions, one row per example (the step
    /// weights the rows by c).
    pub bias: Option<(&'a Tensor, Tensor)>,
}

/// E's layers in forward order, as the step runs them.
pub(super) type StepLayers<'a> = Vec<Box<dyn StepLayer + 'a>>;

/// What `EnergyNet::energy_step` returns: E and the score, and what
/// [`EnergyStep::surrogate`] needs for E's parameter gradients.
pub struct EnergyStep<'a> {
    /// E(x) on all rows, `[N]`, real rows first; no graph.
    pub energy: Tensor,
    /// `d Σ_{i<n} E(x_i) / d x_{0..n}`, the score of the real rows; no graph.
    pub score: Tensor,
    n: i64,
    layers: StepLayers<'a>,
    /// Each layer's input, all rows.
    inputs: Vec<Tensor>,
    /// The gradient of Σ E (all rows) at each weight layer's output.
    deltas: Vec<Option<Tensor>>,
}

impl<'a> EnergyStep<'a> {
    /// The forward and backward passes of `layers` over `x`, whose first `n`
    /// rows are real. The last layer is a weight layer with one output.
    pub(super) fn run(layers: StepLayers<'a>, x: &Tensor, n: i64) -> Self {
        let total = x.size()[0];
        assert!(
            0 < n && n < total,
            "the energy step needs real and fake rows: {n} real of {total}"
        );
        tch::no_grad(|| {
            let mut inputs = Vec::with_capacity(layers.len());
            let mut h = x.shallow_clone();
            for layer in &layers {
                let next = layer.forward(&h);
                inputs.push(std::mem::replace(&mut h, next));
            }
            assert_eq!(h.size(), [total, 1], "E has one output per row");
            // Σ E's gradient at the output: 1 per row.
            let mut g = h.ones_like();
            let top = layers.len() - 1;
            let mut deltas: Vec<Option<Tensor>> = Vec::with_capacity(layers.len());
            for (i, (layer, input)) in layers.iter().zip(&inputs).enumerate().rev() {
                // Below the first layer only the real rows' gradient (the score) is wanted.
                let rows = if i == 0 { n } else { total };
                deltas.push(layer.has_weights().then(|| g.shallow_clone()));
                let of_ones = if i == top {
                    layer.input_grad_of_ones(rows)
                } else {
                    None
                };
                g = of_ones.unwrap_or_else(|| layer.input_grad(input, &g, rows));
            }
            deltas.reverse();
            EnergyStep {
                energy: h.reshape([-1]),
                score: g,
                n,
                layers,
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
        let last = self.layers.len() - 1;
        for (i, ((layer, a), delta)) in self
            .layers
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
                let WeightGrads { weight, bias } = layer.weight_grads(delta, &combined);
                grads.push(weight);
                if let Some((b, rows)) = bias {
                    // Σ_rows c·δ.
                    grads.push((b, c.unsqueeze(0).mm(&rows).reshape([-1])));
                }
            }
            if i == last {
                break;
            }
            ubar = layer.cotangent_up(a, n, &ubar);
        }
        grads
    }
}
