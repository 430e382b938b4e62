//! Convolutional building blocks: a look-alike of PyTorch's `nn.Sequential`
//! (same layer order, same variable names) and the DCGAN-style E, G and T
//! assembled from it.

use super::mlp::{Act, Mlp};
use super::step::{EnergyStep, Op};
use super::{EnergyNet, StatisticsNet};
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

/// Stride and padding of a [`Layer::Conv`] (square, dilation 1, one group,
/// zero padding: what [`meg_nn::conv2d`] builds).
#[derive(Debug, Clone, Copy)]
pub(super) struct Geom {
    stride: i64,
    padding: i64,
}

#[derive(Debug)]
enum Layer {
    Conv(nn::Conv2D, Geom),
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
                Layer::Conv(c, geom) => conv(c, *geom, &h),
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

    /// The trunk as the explicit energy step's ops; `None` unless every
    /// layer is a convolution or a leaky ReLU.
    fn step_ops(&self) -> Option<Vec<Op<'_>>> {
        self.0
            .iter()
            .map(|l| match l {
                Layer::Conv(c, geom) => Some(Op::Conv(c, *geom)),
                Layer::Act(Act::LeakyRelu(slope)) => Some(Op::LeakyRelu(*slope)),
                _ => None,
            })
            .collect()
    }
}

/// The input gradient of a convolution from its output gradient `g`.
pub(super) fn conv_input_grad(c: &nn::Conv2D, geom: Geom, g: &Tensor, input: [i64; 2]) -> Tensor {
    if gemm_pays(g.device(), g.size()[2] * g.size()[3]) {
        return conv_input_grad_gemm(c, geom, g, input);
    }
    let Geom { stride, padding } = geom;
    let w = c.ws.size();
    let out = g.size();
    // The output padding that restores the input size: (in + 2p - k) mod s.
    let op = |i: usize| input[i] - ((out[2 + i] - 1) * stride - 2 * padding + w[2 + i]);
    g.conv_transpose2d(
        &c.ws,
        None::<Tensor>,
        [stride, stride],
        [padding, padding],
        [op(0), op(1)],
        1,
        [1, 1],
    )
}

/// Whether a convolution with `positions` output positions on `device` runs
/// faster as one matrix product over im2col columns than through libtorch's
/// convolution: on the CPU, for outputs of at most 2x2 positions (the last
/// conv of the 28x28 trunks). There oneDNN's backward pass reaches a third
/// of the GEMM rate (the 5x5 kernel mostly covers padding), while the GEMM
/// form's backward (a GEMM and col2im) runs about twice as fast at the same
/// FLOPs; for larger outputs the column matrices cost more than they save.
fn gemm_pays(device: tch::Device, positions: i64) -> bool {
    device == tch::Device::Cpu && positions <= 4
}

/// `c.forward(x)` (see [`conv_with`]).
fn conv(c: &nn::Conv2D, geom: Geom, x: &Tensor) -> Tensor {
    conv_with(&c.ws, c.bs.as_ref(), geom, x)
}

/// The convolution of `x` by `ws` (plus `bs`), computed as im2col and one
/// matrix product where [`gemm_pays`] (the same sums, in another order);
/// autograd differentiates either form.
pub(super) fn conv_with(ws: &Tensor, bs: Option<&Tensor>, geom: Geom, x: &Tensor) -> Tensor {
    let (s, w) = (x.size(), ws.size());
    let [oh, ow] = out_size(geom, &s, &w);
    if !gemm_pays(x.device(), oh * ow) {
        let Geom { stride, padding } = geom;
        return x.conv2d(ws, bs, [stride, stride], [padding, padding], [1, 1], 1);
    }
    let o = w[0];
    let wt = ws.view([o, -1]).tr();
    let cols = columns(geom, x, &w);
    let y = match bs {
        Some(b) => b.addmm(&cols, &wt),
        None => cols.mm(&wt),
    };
    y.view([s[0], oh, ow, o]).permute([0, 3, 1, 2])
}

/// Output height and width of a convolution of an input of shape `s` by a
/// weight of shape `w`.
fn out_size(Geom { stride, padding }: Geom, s: &[i64], w: &[i64]) -> [i64; 2] {
    [0, 1].map(|i| (s[2 + i] + 2 * padding - w[2 + i]) / stride + 1)
}

/// im2col of `x` for a weight of shape `w`: `[N·L, C·k·k]`, one row per
/// output position.
fn columns(geom @ Geom { stride, padding }: Geom, x: &Tensor, w: &[i64]) -> Tensor {
    let [oh, ow] = out_size(geom, &x.size(), w);
    x.im2col([w[2], w[3]], [1, 1], [padding, padding], [stride, stride])
        .transpose(1, 2)
        .reshape([x.size()[0] * oh * ow, -1])
}

/// The weight gradient of a convolution of `x` for its output gradient `g`:
/// one matrix product over im2col columns where [`gemm_pays`], else
/// libtorch's backward kernel ([`meg_nn::grad::conv2d_weight_grad`]).
pub(super) fn conv_weight_grad(c: &nn::Conv2D, geom: Geom, g: &Tensor, x: &Tensor) -> Tensor {
    let (s, w) = (g.size(), c.ws.size());
    if !gemm_pays(g.device(), s[2] * s[3]) {
        return meg_nn::grad::conv2d_weight_grad(g, x, &c.ws, geom.stride, geom.padding);
    }
    g.permute([0, 2, 3, 1])
        .reshape([-1, s[1]])
        .tr()
        .mm(&columns(geom, x, &w))
        .view(&w[..])
}

/// The input gradient of a convolution from its output gradient `g`, as
/// col2im of one matrix product (what [`conv`]'s GEMM form backpropagates).
fn conv_input_grad_gemm(
    c: &nn::Conv2D,
    Geom { stride, padding }: Geom,
    g: &Tensor,
    input: [i64; 2],
) -> Tensor {
    let (s, w) = (g.size(), c.ws.size());
    let (n, o, l) = (s[0], s[1], s[2] * s[3]);
    g.permute([0, 2, 3, 1])
        .reshape([n * l, o])
        .mm(&c.ws.view([o, -1]))
        .view([n, l, -1])
        .transpose(1, 2)
        .col2im(
            input,
            [w[2], w[3]],
            [1, 1],
            [padding, padding],
            [stride, stride],
        )
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
        self.layers.push(Layer::Conv(
            c,
            Geom {
                stride: s,
                padding: p,
            },
        ));
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
        let mut ops = self.main.step_ops()?;
        ops.extend([Op::Flatten, Op::Linear(&self.expand)]);
        Some(EnergyStep::run(ops, &conv_layout(x), n))
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

    /// The GEMM form of a small-output convolution against libtorch's
    /// convolution, in float64: output, input and parameter gradients, and
    /// the explicit input and weight gradients.
    #[test]
    fn gemm_convolution_equals_libtorch_convolution() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        // The last conv of the 28x28 trunk: 4x4 → 2x2, kernel 5, stride 2, padding 2.
        let c = meg_nn::conv2d(vs.root() / "c", 6, 7, 5, 2, 2);
        let geom = Geom {
            stride: 2,
            padding: 2,
        };
        let mut vs = vs;
        vs.double();
        let x = Tensor::randn([3, 6, 4, 4], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let ours = conv(&c, geom, &x);
        let want = c.forward(&x);
        assert_eq!(ours.size(), [3, 7, 2, 2]);
        assert!(gemm_pays(Device::Cpu, 4) && !gemm_pays(Device::Cpu, 16));
        let close = |what: &str, a: &Tensor, b: &Tensor| {
            let err = (a - b).abs().max().double_value(&[]);
            assert!(err < 1e-12, "{what}: max difference {err}");
        };
        close("output", &ours, &want);
        let g = Tensor::randn([3, 7, 2, 2], (Kind::Double, Device::Cpu));
        let inputs = [&x, &c.ws, c.bs.as_ref().unwrap()];
        let a = Tensor::run_backward(&[(&ours * &g).sum(Kind::Double)], &inputs, false, false);
        let b = Tensor::run_backward(&[(&want * &g).sum(Kind::Double)], &inputs, false, false);
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            close(&format!("gradient {i}"), a, b);
        }
        close(
            "explicit input gradient",
            &conv_input_grad_gemm(&c, geom, &g, [4, 4]),
            &b[0],
        );
        close(
            "explicit weight gradient",
            &conv_weight_grad(&c, geom, &g, &x.detach()),
            &b[1],
        );
    }
}
