//! Convolutional building blocks: a look-alike of PyTorch's `nn.Sequential`
//! (same layer order, same variable names) and the DCGAN-style E, G and T
//! assembled from it.

use super::layers::{Conv, Flatten, LeakyRelu};
use super::mlp::{Act, Mlp};
use super::step::{EnergyStep, StepLayers};
use super::traits::{EnergyNet, StatisticsNet};
use meg_nn::conv_layout;
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// How a [`SeqBuilder`] initializes its conv and BatchNorm layers (Linear
/// layers always get PyTorch's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConvInit {
    /// PyTorch's `reset_parameters` (see [`meg_nn::init`]).
    PyTorch,
    /// The authors' `weights_init` (`networks/mnist.py`, `networks/cifar.py`):
    /// conv and transposed-conv weights N(0, 0.02), BatchNorm weight
    /// N(1, 0.02) and bias 0; conv biases keep PyTorch's default.
    Dcgan,
}

#[derive(Debug)]
enum Layer {
    Conv(Conv),
    ConvT(nn::ConvTranspose2D),
    Bn(nn::BatchNorm),
    Act(Act),
}

/// Layers applied in order, named by their index as `nn.Sequential` names
/// them (activations count), so variables carry the authors' state-dict names.
/// BatchNorm uses batch statistics (and updates its running ones) when
/// `train`, the running statistics otherwise.
#[derive(Debug)]
pub(super) struct Seq(Vec<Layer>);

impl ModuleT for Seq {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = conv_layout(x);
        for l in &self.0 {
            h = match l {
                Layer::Conv(c) => c.forward(&h),
                Layer::ConvT(c) => c.forward(&h),
                Layer::Bn(b) => b.forward_t(&h, train),
                // Never the first layer (see `SeqBuilder::finish`): `h` is our own intermediate.
                Layer::Act(a) => a.apply(h),
            };
        }
        h
    }
}

impl Seq {
    fn has_batch_norm(&self) -> bool {
        self.0.iter().any(|l| matches!(l, Layer::Bn(_)))
    }

    /// The trunk as the explicit energy step's layers; `None` unless every
    /// layer is a convolution or a leaky ReLU.
    fn step_layers(&self) -> Option<StepLayers<'_>> {
        self.0
            .iter()
            .map(|l| match l {
                Layer::Conv(c) => Some(Box::new(c) as _),
                Layer::Act(Act::LeakyRelu(slope)) => Some(Box::new(LeakyRelu(*slope)) as _),
                _ => None,
            })
            .collect()
    }
}

/// Builds a [`Seq`] under one variable path.
pub(super) struct SeqBuilder<'a> {
    path: nn::Path<'a>,
    init: ConvInit,
    layers: Vec<Layer>,
}

impl<'a> SeqBuilder<'a> {
    pub(super) fn new(path: nn::Path<'a>, init: ConvInit) -> Self {
        SeqBuilder {
            path,
            init,
            layers: Vec::new(),
        }
    }

    fn next_path(&self) -> nn::Path<'a> {
        &self.path / self.layers.len()
    }

    /// Draws `w` from N(mean, 0.02) under [`ConvInit::Dcgan`].
    fn dcgan(&self, w: &Tensor, mean: f64) {
        if self.init == ConvInit::Dcgan {
            tch::no_grad(|| {
                let _ = w.shallow_clone().normal_(mean, 0.02);
            });
        }
    }

    /// `nn.Conv2d(i, o, k, s, p)`.
    pub(super) fn conv(&mut self, i: i64, o: i64, k: i64, s: i64, p: i64) -> &mut Self {
        let c = Conv::new(self.next_path(), i, o, k, s, p);
        self.dcgan(c.weight(), 0.0);
        self.layers.push(Layer::Conv(c));
        self
    }

    /// `nn.ConvTranspose2d(i, o, k, s, p, output_padding=op)`.
    pub(super) fn conv_t(&mut self, i: i64, o: i64, k: i64, s: i64, p: i64, op: i64) -> &mut Self {
        let c = meg_nn::conv_transpose2d(self.next_path(), i, o, k, s, p, op);
        self.dcgan(&c.ws, 0.0);
        self.layers.push(Layer::ConvT(c));
        self
    }

    /// `nn.BatchNorm2d(c)`.
    pub(super) fn bn(&mut self, c: i64) -> &mut Self {
        let b = meg_nn::batch_norm2d(self.next_path(), c);
        self.dcgan(b.ws.as_ref().expect("affine BatchNorm"), 1.0);
        self.layers.push(Layer::Bn(b));
        self
    }

    /// A parameter-free activation.
    pub(super) fn act(&mut self, a: Act) -> &mut Self {
        self.layers.push(Layer::Act(a));
        self
    }

    pub(super) fn finish(self) -> Seq {
        assert!(
            !matches!(self.layers.first(), None | Some(Layer::Act(_))),
            "a Seq starts with a layer that has weights (its activations run in place)"
        );
        Seq(self.layers)
    }
}

/// A conv trunk, flattened, then `expand`: Linear to `out` features. E is one
/// (out = 1); T starts with one.
#[derive(Debug)]
pub(super) struct ConvEncoder {
    main: Seq,
    expand: nn::Linear,
}

impl ConvEncoder {
    /// `main` built under `root/main` by `trunk`; its output flattens to `features`.
    pub(super) fn new(
        root: &nn::Path,
        trunk: &dyn Fn(nn::Path) -> Seq,
        features: i64,
        out: i64,
    ) -> Self {
        ConvEncoder {
            main: trunk(root / "main"),
            expand: meg_nn::linear(root / "expand", features, out),
        }
    }
}

impl ModuleT for ConvEncoder {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.expand
            .forward(&self.main.forward_t(x, train).flatten(1, -1))
    }
}

impl EnergyNet for ConvEncoder {
    fn energy_step(&self, x: &Tensor, n: i64) -> Option<EnergyStep<'_>> {
        let mut layers = self.main.step_layers()?;
        layers.push(Box::new(Flatten));
        layers.push(Box::new(&self.expand));
        Some(EnergyStep::run(layers, &conv_layout(x), n))
    }
}

/// T(x, z) = `classify`(concat(encoder(x), z)), the encoder mapping x to z_dim
/// features and `classify` being Linear(2·z_dim, dim), LeakyReLU, Linear(dim, 1).
#[derive(Debug)]
pub(super) struct ConvStatistics {
    encoder: ConvEncoder,
    classify: Mlp,
}

impl ConvStatistics {
    pub(super) fn new(
        root: &nn::Path,
        trunk: &dyn Fn(nn::Path) -> Seq,
        features: i64,
        z_dim: i64,
        dim: i64,
        slope: f64,
    ) -> Self {
        let encoder = ConvEncoder::new(root, trunk, features, z_dim);
        // `forward_pairs` encodes x once for both halves: BatchNorm's running
        // variance would then see n rows instead of 2n.
        assert!(
            !encoder.main.has_batch_norm(),
            "T's encoder trunk has no BatchNorm"
        );
        ConvStatistics {
            encoder,
            classify: Mlp::sequential(
                root / "classify",
                &[2 * z_dim, dim, 1],
                Act::LeakyRelu(slope),
            ),
        }
    }
}

impl StatisticsNet for ConvStatistics {
    fn forward_t(&self, x: &Tensor, z: &Tensor, train: bool) -> Tensor {
        let h = self.encoder.forward_t(x, train);
        self.classify.forward_t(&Tensor::cat(&[&h, z], 1), train)
    }

    /// The encoder (no BatchNorm: rows are independent) runs once on x, its
    /// features then stand for both halves; autograd sums their gradients.
    fn forward_pairs(&self, x: &Tensor, z: &Tensor, z_marg: &Tensor, train: bool) -> Tensor {
        let h = self.encoder.forward_t(x, train);
        let pairs = Tensor::cat(
            &[Tensor::cat(&[&h, &h], 0), Tensor::cat(&[z, z_marg], 0)],
            1,
        );
        self.classify.forward_t(&pairs, train)
    }
}

/// G(z) = `main`(`expand`(z) viewed as `[N, c, h, w]`), `expand` a Linear.
#[derive(Debug)]
pub(super) struct ConvGenerator {
    expand: nn::Linear,
    seed: [i64; 3],
    main: Seq,
}

impl ConvGenerator {
    /// `expand` = Linear(z_dim, c·h·w) for `seed = [c, h, w]`, under `root/expand`.
    pub(super) fn new(root: &nn::Path, z_dim: i64, seed: [i64; 3], main: Seq) -> Self {
        ConvGenerator {
            expand: meg_nn::linear(root / "expand", z_dim, seed.iter().product()),
            seed,
            main,
        }
    }
}

impl ModuleT for ConvGenerator {
    fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let [c, h, w] = self.seed;
        let x = self.expand.forward(z).view([-1, c, h, w]);
        // Samples leave in the default layout, whatever `main` computed in.
        self.main.forward_t(&x, train).contiguous()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// On the CPU a trunk's layers run channels-last, and samples leave G in
    /// the default layout.
    #[test]
    fn trunks_run_channels_last_and_samples_leave_contiguous() {
        tch::manual_seed(1);
        let x = Tensor::randn([2, 3, 5, 5], (Kind::Float, Device::Cpu));
        let vs = nn::VarStore::new(Device::Cpu);
        let trunk = |p: nn::Path| {
            let mut b = SeqBuilder::new(p, ConvInit::PyTorch);
            b.conv(3, 4, 3, 1, 1).act(Act::LeakyRelu(0.1));
            b.conv(4, 6, 4, 2, 1).act(Act::LeakyRelu(0.1));
            b.finish()
        };
        let h = trunk(vs.root() / "e").forward_t(&x, true);
        assert_eq!(h.size(), [2, 6, 2, 2]);
        assert_eq!(h.stride(), [24, 1, 12, 6], "channels-last output");
        let mut b = SeqBuilder::new(vs.root() / "g", ConvInit::PyTorch);
        b.conv_t(4, 3, 4, 2, 1, 0).bn(3).act(Act::Tanh);
        let g = ConvGenerator::new(&vs.root(), 5, [4, 2, 2], b.finish());
        let s = g.forward_t(&Tensor::randn([2, 5], (Kind::Float, Device::Cpu)), true);
        assert_eq!(s.size(), [2, 3, 4, 4]);
        assert!(s.is_contiguous());
    }
}
