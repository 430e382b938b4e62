//! What the model needs of E and T beyond a module: T's pair scoring and
//! E's explicit energy step.

use super::step::EnergyStep;
use std::fmt::Debug;
use tch::nn::ModuleT;
use tch::Tensor;

/// T(x, z): a logit telling joint pairs (x = G(z), z) from shuffled ones.
pub trait StatisticsNet: Debug + Send {
    fn forward_t(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor;

    /// `forward_t([x; x], [z; z_marg])`: the joint pairs, then the same x with
    /// other latents, as the MI estimator scores them. Nets with an x-only
    /// encoder encode x once for both halves.
    fn forward_pairs(&self, x: &Tensor, z: &Tensor, z_marg: &Tensor, train: bool) -> Tensor {
        self.forward_t(
            &Tensor::cat(&[x, x], 0),
            &Tensor::cat(&[z, z_marg], 0),
            train,
        )
    }
}

/// E(x), one value per example (the output's trailing axes are size 1).
pub trait EnergyNet: ModuleT {
    /// The MEG energy step's passes over `x`, whose first `n` rows are real
    /// and the rest fake (see [`EnergyStep`]); `None` where the net has
    /// layers they do not cover. E has no BatchNorm, so rows are independent
    /// and `x` may stack both batches.
    fn energy_step(&self, _x: &Tensor, _n: i64) -> Option<EnergyStep<'_>> {
        None
    }
}
