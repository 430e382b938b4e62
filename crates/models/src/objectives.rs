//! The losses of one energy (critic) step and one generator step.
//!
//! Conventions: E is an energy, low on data. For WGAN-GP the critic is
//! D = -E, so both objectives push E down on data and up on samples, and the
//! plots read the same way.

pub use crate::config::GradientPenalty;
use crate::nets::Model;
use tch::{Reduction, Tensor};

/// Terms of an energy/critic step; `loss` carries the graph, the rest are detached.
pub struct EnergyTerms {
    pub loss: Tensor,
    pub e_real: Tensor,
    pub e_fake: Tensor,
    pub penalty: Tensor,
}

impl EnergyTerms {
    /// `loss = E(real) - E(fake) + λ·penalty` from the three (batch-mean) terms.
    fn assemble(er: Tensor, ef: Tensor, penalty: Tensor, lambda: f64) -> Self {
        let loss = &er - &ef + &penalty * lambda;
        EnergyTerms {
            loss,
            e_real: er.detach(),
            e_fake: ef.detach(),
            penalty: penalty.detach(),
        }
    }
}

/// Terms of a generator step; `mi` is the JSD estimator's BCE (MEG only, else 0).
pub struct GeneratorTerms {
    pub loss: Tensor,
    pub e_fake: Tensor,
    pub mi: Tensor,
}

/// Mean in the tensor's own precision.
fn mean(t: &Tensor) -> Tensor {
    t.mean(t.kind())
}

/// Per-example squared L2 norm over all non-batch axes.
fn sq_norm(g: &Tensor) -> Tensor {
    g.square()
        .flatten(1, -1)
        .sum_dim_intlist(1, false, g.kind())
}

/// d(sum_i out_i)/d(input), keeping the graph for a second backward.
fn input_grad(out: &Tensor, input: &Tensor) -> Tensor {
    Tensor::run_backward(&[out.sum(out.kind())], &[input], true, true).remove(0)
}

/// MEG energy step: `mean E(x) - mean E(x~) + λ mean_i ||∇_x E(x_i)||²`, the
/// zero-centred score penalty on real data only. `x_fake` must carry no graph.
pub fn meg_energy(m: &Model, x_real: &Tensor, x_fake: &Tensor, lambda: f64) -> EnergyTerms {
    // One forward over both batches and explicit backward passes (see
    // `EnergyStep`): the loss's value is `er - ef + λ·penalty`, E's gradient
    // comes through the surrogate, which needs the penalty's gradient in the
    // score.
    if let Some(step) = m.energy_step(x_real, x_fake) {
        let (n, total) = (x_real.size()[0], step.energy.size()[0]);
        let er = mean(&step.energy.narrow(0, 0, n));
        let ef = mean(&step.energy.narrow(0, n, total - n));
        let score = step.score.detach().set_requires_grad(true);
        let penalty = mean(&sq_norm(&score));
        let u = Tensor::run_backward(&[&penalty * lambda], &[&score], false, false).remove(0);
        let mut t = EnergyTerms::assemble(er, ef, penalty.detach(), lambda);
        t.loss += step.surrogate(&u);
        return t;
    }
    let x = x_real.detach().set_requires_grad(true);
    let er = m.energy(&x, true);
    let ef = m.energy(x_fake, true);
    let penalty = mean(&sq_norm(&input_grad(&er, &x)));
    let (er, ef) = (mean(&er), mean(&ef));
    EnergyTerms::assemble(er, ef, penalty, lambda)
}

/// MEG generator step: `mean E(G(z)) + BCE(T([x~; x~], [z; z']), [1; 0])`
/// with `z' = z[perm]` (`perm` a random permutation of the batch, int64).
/// G and T both descend on it.
pub fn meg_generator(m: &Model, z: &Tensor, perm: &Tensor) -> GeneratorTerms {
    let n = z.size()[0];
    let x = m.generate(z, true);
    let ef = mean(&m.energy(&x, true));
    let z_marg = z.index_select(0, perm);
    let logits = m.statistics_pairs(&x, z, &z_marg, true);
    let target = Tensor::cat(
        &[
            Tensor::ones([n], (logits.kind(), z.device())),
            Tensor::zeros([n], (logits.kind(), z.device())),
        ],
        0,
    );
    let mi =
        logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean);
    let loss = &ef + &mi;
    GeneratorTerms {
        loss,
        e_fake: ef.detach(),
        mi: mi.detach(),
    }
}

/// WGAN-GP critic step with D = -E: `mean E(x) - mean E(x~) + λ·penalty` with
/// the gradient penalty of `kind` (see [`gradient_penalty`]) on the interpolates
/// x^ = x~ + α (x - x~), `alpha` drawn by [`interpolation_weights`] for `kind`.
pub fn wgan_critic(
    m: &Model,
    x_real: &Tensor,
    x_fake: &Tensor,
    alpha: &Tensor,
    lambda: f64,
    kind: GradientPenalty,
) -> EnergyTerms {
    let er = mean(&m.energy(x_real, true));
    let ef = mean(&m.energy(x_fake, true));
    let (xr, xf) = (x_real.detach(), x_fake.detach());
    let x_hat = (&xf + (&xr - &xf) * alpha).set_requires_grad(true);
    let penalty = gradient_penalty(&input_grad(&m.energy(&x_hat, true), &x_hat), kind);
    EnergyTerms::assemble(er, ef, penalty, lambda)
}

/// The WGAN-GP penalty of the critic's input gradient `g` `[N, ...]`:
/// [`GradientPenalty::PerExample`] `mean_i (||g_i|| - 1)²` over each example's
/// whole gradient; [`GradientPenalty::PerPixel`] `mean_{i,p} (||g_{i,:,p}|| - 1)²`,
/// the norm over axis 1 (channels, or the features of flat data) at each
/// remaining position.
pub fn gradient_penalty(g: &Tensor, kind: GradientPenalty) -> Tensor {
    let norm = match kind {
        GradientPenalty::PerExample => sq_norm(g).sqrt(),
        GradientPenalty::PerPixel => g.square().sum_dim_intlist(1, false, g.kind()).sqrt(),
    };
    mean(&(norm - 1.0).square())
}

/// WGAN-GP generator step with D = -E: `mean E(G(z))`.
pub fn wgan_generator(m: &Model, z: &Tensor) -> GeneratorTerms {
    let ef = mean(&m.energy(&m.generate(z, true), true));
    GeneratorTerms {
        loss: ef.shallow_clone(),
        e_fake: ef.detach(),
        mi: ef.zeros_like(),
    }
}

/// U(0, 1) interpolation weights for [`wgan_critic`]: one per example,
/// broadcastable over `x`, for [`GradientPenalty::PerExample`]; one per
/// element of `x` for [`GradientPenalty::PerPixel`] (as the authors' code draws them).
pub fn interpolation_weights(x: &Tensor, kind: GradientPenalty) -> Tensor {
    let shape = match kind {
        GradientPenalty::PerExample => {
            let mut shape = vec![x.size()[0]];
            shape.extend(std::iter::repeat_n(1, x.dim() - 1));
            shape
        }
        GradientPenalty::PerPixel => x.size(),
    };
    Tensor::rand(&shape[..], (x.kind(), x.device()))
}
