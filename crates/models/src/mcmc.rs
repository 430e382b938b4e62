//! Metropolis-adjusted Langevin (MALA), one implementation for both the
//! latent-space sampler (MCMC in z, the paper's sampler) and the
//! visible-space sampler (MCMC in x, the paper's Fig. 3 comparison); see
//! "Latent-space MCMC" in `../shared/MEG-method.md`.
//!
//! On a potential U (target density ∝ exp(-U)), one step from a batch x is
//! - proposal y = x - α ∇U(x) + sqrt(2α) ε, ε ~ N(0, I);
//! - log q(y | x) = -||y - x + α ∇U(x)||² / (4α), norm over all non-batch axes;
//! - each example independently moves to y with probability
//!   min(1, exp(U(x) - U(y) + log q(x | y) - log q(y | x))).
//!
//! Gradients are taken with respect to the chain's states only
//! (`Tensor::run_backward` on the inputs, which accumulates nothing into
//! parameters); states are detached after every step, so no graph outlives
//! a step. Noise comes from libtorch's generator: seed it with
//! `tch::manual_seed` for reproducible chains.
//!
//! # The authors' released sampler
//! `scripts/sampler.py` of github.com/ritheshkumar95/energy_based_generative_models
//! (commit b4a8d82), `MALA_corrected_sampler` (lines 39-67, with the
//! proposal of `get_sgld_proposal`, lines 5-16), used by
//! `scripts/test/eval_metrics_cifar.py` and `scripts/test/latent_space_mcmc.py`.
//! It matches the step above except that
//! - log q uses the unsquared norm: `-(z' - z + α ∇).norm(2, dim=1) / (4α)`
//!   (lines 48-52), which is not the Gaussian proposal's density, so the
//!   chain does not leave its target invariant;
//! - U(z) = β·E(G(z)) with no ||z||²/2 prior term (line 7), so the target is
//!   exp(-β E(G(z))) over all of latent space rather than N(0, I)·exp(-β E(G(z))).
//!
//! [`MalaVariant::AuthorsReleased`] reproduces both. Otherwise their β
//! (`args.temp`) multiplies E in U and its gradient as here, the step order
//! is the same (proposal, then U and ∇U at the proposal, then one uniform per
//! example accepted when `u < min(1, ratio)`), and G and E run in eval mode.
//! Differences that do not change the chain's law: they recompute ∇U at the
//! current state every step (here it is cached from the previous step) and
//! draw a second, unused ε at the proposal, so their random stream differs;
//! what they return as the "ratio" is the last step's acceptance
//! probability min(1, r), whose mean their script prints as the acceptance
//! rate ([`Chain::accept_prob`] here; [`Chain::accept_rate`] is the fraction
//! actually accepted). Their repository has no visible-space sampler, and
//! its training scripts never call MCMC (`--mcmc_iters 0`, the calls
//! commented out in `scripts/train/functions.py`).

use crate::nets::Model;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which proposal-density correction (and default prior) MALA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MalaVariant {
    /// Exact MALA: squared norm in log q; the latent prior is on by default.
    #[default]
    #[serde(rename = "standard")]
    Standard,
    /// The authors' released sampler, for comparison only: unsquared norm in
    /// log q, and no latent prior term unless `prior` is set explicitly.
    #[serde(rename = "authors-released")]
    AuthorsReleased,
}

/// A MALA sampler's settings, as experiment YAMLs hold them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MalaConfig {
    /// Number of MALA steps (0 returns the initial states).
    pub steps: usize,
    /// Step size α.
    pub alpha: f64,
    /// Inverse temperature β multiplying the energy in U.
    #[serde(default = "one")]
    pub beta: f64,
    /// Latent chains: add ||z||²/2 to U (the N(0, I) prior). Defaults to on
    /// for `standard` and off for `authors-released`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<bool>,
    /// Exact MALA, or the authors' released sampler for comparison.
    #[serde(default)]
    pub variant: MalaVariant,
    /// Visible chains only: clamp each proposal to `[lo, hi]` (the data
    /// range) before it is evaluated. The correction still uses the
    /// unclamped Gaussian density, so the chain is no longer exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamp: Option<(f64, f64)>,
}

fn one() -> f64 {
    1.0
}

/// A MALA target: maps a batch of states to `(U, E)`, both `[N]`: the
/// potential U that drives the chain, and the model energy E it reports.
pub type Target<'a> = dyn Fn(&Tensor) -> (Tensor, Tensor) + 'a;

/// A batch of chain states with U, E and ∇U there (all detached).
pub struct MalaState {
    /// The states, `[N, ...]`.
    pub x: Tensor,
    /// U(x), `[N]`.
    pub u: Tensor,
    /// The reported energy E at x, `[N]`.
    pub e: Tensor,
    /// ∇U(x), shaped like `x`.
    pub grad: Tensor,
}

impl MalaState {
    /// Evaluates the target and its gradient at `x` (also inside `tch::no_grad`).
    pub fn new(target: &Target, x: &Tensor) -> Self {
        let xr = x.detach().set_requires_grad(true);
        let (u, e, grad) = tch::with_grad(|| {
            let (u, e) = target(&xr);
            let grad = Tensor::run_backward(&[u.sum(u.kind())], &[&xr], false, false).remove(0);
            (u, e, grad)
        });
        let grad = if grad.defined() { grad } else { x.zeros_like() };
        MalaState {
            x: x.detach(),
            u: u.detach(),
            e: e.detach(),
            grad,
        }
    }
}

/// One MALA transition of a batch.
pub struct MalaStep {
    /// The proposals y.
    pub proposal: Tensor,
    /// log of the Metropolis-Hastings ratio, `[N]`.
    pub log_ratio: Tensor,
    /// min(1, exp(log_ratio)), 0 where that is NaN, `[N]`.
    pub accept_prob: Tensor,
    /// Which examples moved, `[N]` bool.
    pub accept: Tensor,
    /// The states after the step.
    pub next: MalaState,
}

/// A finished chain and its traces (means over the batch).
pub struct Chain {
    /// Final states (z for latent chains, x for visible ones).
    pub samples: Tensor,
    /// Fraction of the batch accepted, per step (`steps` values).
    pub accept_rate: Vec<f64>,
    /// Mean acceptance probability min(1, r), per step (the authors' figure).
    pub accept_prob: Vec<f64>,
    /// Mean U of the states, before the first step and after each (`steps + 1`).
    pub mean_u: Vec<f64>,
    /// Mean E of the states, as `mean_u`.
    pub mean_e: Vec<f64>,
    /// `(step, states)` for each requested step, in increasing order.
    pub snapshots: Vec<(usize, Tensor)>,
}

/// Per-example sum of squares over all non-batch axes.
fn sq_norm(x: &Tensor) -> Tensor {
    x.flatten(1, -1)
        .square()
        .sum_dim_intlist(1, false, None::<Kind>)
}

fn batch_mean(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).mean(Kind::Double).double_value(&[])
}

impl MalaConfig {
    /// Checks value ranges, naming the offending field.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            bail!(
                "field `alpha` must be a finite number > 0, got {}",
                self.alpha
            );
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            bail!(
                "field `beta` must be a finite number >= 0, got {}",
                self.beta
            );
        }
        if let Some((lo, hi)) = self.clamp {
            if !(lo < hi && lo.is_finite() && hi.is_finite()) {
                bail!("field `clamp` must be finite [lo, hi] with lo < hi, got [{lo}, {hi}]");
            }
        }
        Ok(())
    }

    /// Whether latent chains include the ||z||²/2 prior term.
    pub fn prior_on(&self) -> bool {
        self.prior.unwrap_or(self.variant == MalaVariant::Standard)
    }

    /// log q(to | from) from `d = to - from + α ∇U(from)`, `[N]`.
    fn log_q(&self, d: &Tensor) -> Tensor {
        let norm = match self.variant {
            MalaVariant::Standard => sq_norm(d),
            MalaVariant::AuthorsReleased => sq_norm(d).sqrt(),
        };
        norm / (-4.0 * self.alpha)
    }

    /// The latent target U(z) = β·E(G(z)) (+ ||z||²/2 with the prior), with
    /// G and E in eval mode; reports E(G(z)).
    pub fn latent_target<'a>(&self, model: &'a Model) -> impl Fn(&Tensor) -> (Tensor, Tensor) + 'a {
        let (beta, prior) = (self.beta, self.prior_on());
        move |z| {
            let e = model.energy(&model.generate(z, false), false);
            let u = &e * beta;
            let u = if prior { u + sq_norm(z) * 0.5 } else { u };
            (u, e)
        }
    }

    /// The visible target U(x) = β·E(x), with E in eval mode; reports E(x).
    pub fn visible_target<'a>(
        &self,
        model: &'a Model,
    ) -> impl Fn(&Tensor) -> (Tensor, Tensor) + 'a {
        let beta = self.beta;
        move |x| {
            let e = model.energy(x, false);
            (&e * beta, e)
        }
    }

    /// One step from `s` with the given noise `eps` (shaped like the states)
    /// and uniforms `uniform` (`[N]`); the samplers draw both at random.
    pub fn step(&self, target: &Target, s: &MalaState, eps: &Tensor, uniform: &Tensor) -> MalaStep {
        let a = self.alpha;
        let y = &s.x - &s.grad * a + eps * (2.0 * a).sqrt();
        let y = match self.clamp {
            Some((lo, hi)) => y.clamp(lo, hi),
            None => y,
        };
        let p = MalaState::new(target, &y);
        let fwd = self.log_q(&(&p.x - &s.x + &s.grad * a));
        let bwd = self.log_q(&(&s.x - &p.x + &p.grad * a));
        let log_ratio = &s.u - &p.u + bwd - fwd;
        let accept_prob = log_ratio.clamp_max(0.0).exp().nan_to_num(0.0, None, None);
        let accept = uniform.lt_tensor(&accept_prob);
        let mut shape = vec![1i64; s.x.dim()];
        shape[0] = -1;
        let mask = accept.reshape(&shape[..]);
        let next = MalaState {
            x: p.x.where_self(&mask, &s.x),
            u: p.u.where_self(&accept, &s.u),
            e: p.e.where_self(&accept, &s.e),
            grad: p.grad.where_self(&mask, &s.grad),
        };
        MalaStep {
            proposal: p.x,
            log_ratio,
            accept_prob,
            accept,
            next,
        }
    }

    /// Runs `steps` steps on an arbitrary potential U (per-example `[N]`)
    /// from `x0`; the E traces then repeat U.
    pub fn sample(
        &self,
        u: &dyn Fn(&Tensor) -> Tensor,
        x0: &Tensor,
        snapshots: &[usize],
    ) -> Result<Chain> {
        self.run(
            &|x: &Tensor| {
                let u = u(x);
                (u.shallow_clone(), u)
            },
            x0,
            snapshots,
        )
    }

    /// Latent-space MCMC from `z0` on U(z) = β·E(G(z)) (+ ||z||²/2);
    /// the chain's samples are latents (map them with `model.generate`).
    pub fn sample_latent(&self, model: &Model, z0: &Tensor, snapshots: &[usize]) -> Result<Chain> {
        if self.clamp.is_some() {
            bail!("field `clamp` applies to visible-space chains only");
        }
        self.run(&self.latent_target(model), z0, snapshots)
    }

    /// Visible-space MCMC from `x0` on U(x) = β·E(x).
    pub fn sample_visible(&self, model: &Model, x0: &Tensor, snapshots: &[usize]) -> Result<Chain> {
        self.run(&self.visible_target(model), x0, snapshots)
    }

    /// The chain on a `Target`, with random ε and uniforms.
    pub fn run(&self, target: &Target, x0: &Tensor, snapshots: &[usize]) -> Result<Chain> {
        self.validate()?;
        if let Some(&t) = snapshots.iter().find(|&&t| t > self.steps) {
            bail!("snapshot step {t} is past the chain's {} steps", self.steps);
        }
        let n = x0.size()[0];
        let mut s = MalaState::new(target, x0);
        let mut chain = Chain {
            samples: Tensor::new(),
            accept_rate: Vec::with_capacity(self.steps),
            accept_prob: Vec::with_capacity(self.steps),
            mean_u: vec![batch_mean(&s.u)],
            mean_e: vec![batch_mean(&s.e)],
            snapshots: Vec::new(),
        };
        for t in 0..=self.steps {
            if t > 0 {
                let eps = s.x.randn_like();
                let uniform = Tensor::rand([n], (s.x.kind(), s.x.device()));
                let st = self.step(target, &s, &eps, &uniform);
                chain.accept_rate.push(batch_mean(&st.accept));
                chain.accept_prob.push(batch_mean(&st.accept_prob));
                s = st.next;
                chain.mean_u.push(batch_mean(&s.u));
                chain.mean_e.push(batch_mean(&s.e));
            }
            if snapshots.contains(&t) {
                chain.snapshots.push((t, s.x.copy()));
            }
        }
        chain.samples = s.x;
        Ok(chain)
    }
}
