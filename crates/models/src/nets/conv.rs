//! Convolutional building blocks: a look-alike of PyTorch's `nn.Sequential`
//! (same layer order, same variable names) and the DCGAN-style E, G and T
//! assembled from it.

use super::mlp::{Act, Mlp};
use super::StatisticsNet;
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
    Conv(nn::Conv2D),
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
        let mut h = x.shallow_clone();
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
        let c = meg_nn::conv2d(self.next_path(), i, o, k, s, p);
        self.dcgan(&c.ws, 0.0);
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
        ConvStatistics {
            encoder: ConvEncoder::new(root, trunk, features, z_dim),
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
        self.main.forward_t(&x, train)
    }
}
