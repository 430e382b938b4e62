//! The three networks of each model family: energy E, generator G and
//! statistics network T, built and initialized as in the authors' code
//! (`nets/families.rs` documents each family's layers and source file).

mod conv;
mod families;
mod mlp;

pub use mlp::{Act, ConcatStatistics, Mlp};

use crate::config::ModelConfig;
use families::Stores;
use std::fmt::Debug;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

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
    /// The MEG energy step's pass over `x`, whose first `n` rows are real and
    /// the rest fake (see [`EnergyStep`]), computed by explicit backward
    /// passes of ordinary ops (masks of the activations taken outside the
    /// graph, as their derivatives are 0 almost everywhere). `None` where the
    /// net has layers this pass does not cover; E has no BatchNorm, so rows
    /// are independent and `x` may stack both batches.
    fn energy_step(&self, _x: &Tensor, _n: i64) -> Option<EnergyStep> {
        None
    }
}

/// What [`EnergyNet::energy_step`] returns.
pub struct EnergyStep {
    /// E(x), `[N]`, outside the graph.
    pub energy: Tensor,
    /// `d Σ_{i<n} E(x_i) / d x_{0..n}`, the score of the real rows, as a
    /// differentiable function of the weights, as autograd's `create_graph`
    /// input gradient would give it. Its backward runs each layer's efficient
    /// kernels (a transposed convolution's weight gradient instead of the
    /// swapped, dilated convolution of libtorch's convolution double backward).
    pub score: Tensor,
    /// A scalar whose gradient in E's weights is that of `mean E(real) -
    /// mean E(fake)` (its value is not that). Each layer's input is taken
    /// outside the graph and the gradient of Σ E at its output comes from
    /// the explicit backward passes, so backpropagating it computes each
    /// layer's weight gradient only: no input gradients through the forward
    /// pass, whose real rows' share the score pass has already computed.
    pub drift: Tensor,
}

impl EnergyStep {
    /// The step of a net whose output on all rows is `out` (`[N, 1]`, in the
    /// graph of the last layer's weights only) and whose hidden layers' outputs
    /// are `outs` (see [`drift`]), from `chain(start, len, to_input)`: Σ E over
    /// the `len` rows from `start` backpropagated, giving the gradient at each
    /// hidden layer's output (bottom first) and, if `to_input`, at the input.
    /// The real rows' chain keeps its graph (the score); the fake rows' runs
    /// without one.
    fn from_chain(
        out: &Tensor,
        outs: &[Tensor],
        n: i64,
        mut chain: impl FnMut(i64, i64, bool) -> (Vec<Tensor>, Tensor),
    ) -> Self {
        let total = out.size()[0];
        let (real, score) = chain(0, n, true);
        let (fake, _) = tch::no_grad(|| chain(n, total - n, false));
        EnergyStep {
            energy: out.detach().reshape([-1]),
            score,
            drift: drift(outs, &real, &fake, out, n),
        }
    }
}

/// [`EnergyStep::drift`] from each hidden layer's output `outs[k]` (in the
/// graph of that layer's weights only), the gradients of Σ E there over the
/// real rows (`real[k]`) and the fake ones (`fake[k]`), all bottom layer
/// first, and the net's output `out` (`[N, 1]`, in the graph of the last
/// layer's weights only), for `n` real rows: `Σ_k <c·δ_k, outs[k]> + <c, out>`
/// with c = 1/n on real rows and -1/(N - n) on fake ones, δ taken outside
/// the graph.
fn drift(outs: &[Tensor], real: &[Tensor], fake: &[Tensor], out: &Tensor, n: i64) -> Tensor {
    let total = out.size()[0];
    let (wr, wf) = (1.0 / n as f64, -1.0 / (total - n) as f64);
    let c = Tensor::cat(
        &[
            Tensor::full([n], wr, (out.kind(), out.device())),
            Tensor::full([total - n], wf, (out.kind(), out.device())),
        ],
        0,
    );
    let mut d = (out.reshape([-1]) * c).sum(out.kind());
    for ((o, r), f) in outs.iter().zip(real).zip(fake) {
        let delta = Tensor::cat(&[r.detach() * wr, f.detach() * wf], 0);
        d += (o * delta).sum(o.kind());
    }
    d
}

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

    /// `(E(x_real), E(x_fake), ∇_x Σ E(x_real), drift)` from one forward pass
    /// over the stacked batches (see [`EnergyNet::energy_step`]); `None` if E's
    /// layers are not covered (the caller then uses autograd). The energies
    /// carry no graph; the inputs need none.
    pub fn energy_step(
        &self,
        x_real: &Tensor,
        x_fake: &Tensor,
    ) -> Option<(Tensor, Tensor, Tensor, Tensor)> {
        let n = x_real.size()[0];
        let x = Tensor::cat(&[x_real.detach(), x_fake.detach()], 0);
        let s = self.e.energy_step(&x, n)?;
        let total = s.energy.size()[0];
        Some((
            s.energy.narrow(0, 0, n),
            s.energy.narrow(0, n, total - n),
            s.score,
            s.drift,
        ))
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
