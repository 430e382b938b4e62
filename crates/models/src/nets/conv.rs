//! Convolutional building blocks: a look-alike of PyTorch's `nn.Sequential`
//! (same layer order, same variable names) and the DCGAN-style E, G and T
//! assembled from it.

use super::mlp::{leaky_relu_grad, output_grad, Act, Mlp};
use super::{EnergyNet, EnergyStep, StatisticsNet};
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
struct Geom {
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

/// What [`Seq::chain`] needs of each layer.
enum Saved<'a> {
    /// A convolution, and the spatial size of its input.
    Conv(&'a nn::Conv2D, Geom, [i64; 2]),
    /// A leaky ReLU's input (all rows, outside the graph) and slope.
    LeakyRelu(Tensor, f64),
}

impl Seq {
    fn has_batch_norm(&self) -> bool {
        self.0.iter().any(|l| matches!(l, Layer::Bn(_)))
    }

    /// For [`EnergyNet::energy_step`] (the trunk has no BatchNorm): the
    /// trunk's output (outside the graph), what [`Seq::chain`] needs, and each
    /// convolution's output, bottom first, in the graph of that convolution's
    /// weights only (its input taken outside the graph). `None` unless every
    /// layer is a convolution or a leaky ReLU.
    fn forward_layerwise(&self, x: &Tensor) -> Option<(Tensor, Vec<Saved<'_>>, Vec<Tensor>)> {
        let mut saved = Vec::with_capacity(self.0.len());
        let mut outs = Vec::new();
        let mut h = conv_layout(x).detach();
        for l in &self.0 {
            h = match l {
                Layer::Conv(c, geom) => {
                    let s = h.size();
                    saved.push(Saved::Conv(c, *geom, [s[2], s[3]]));
                    let y = conv(c, *geom, &h);
                    let next = y.detach();
                    outs.push(y);
                    next
                }
                Layer::Act(a @ Act::LeakyRelu(slope)) => {
                    saved.push(Saved::LeakyRelu(h.shallow_clone(), *slope));
                    a.apply(h)
                }
                _ => return None,
            };
        }
        Some((h, saved, outs))
    }

    /// Backpropagates `g`, the gradient at the trunk's output for the rows
    /// from `start`: a transposed convolution per convolution (what
    /// convolution_backward computes for the input), the leaky ReLU's mask per
    /// activation. Returns the gradient at each convolution's output (bottom
    /// first) and, if `to_input`, at the input (else at the first output).
    fn chain(saved: &[Saved], mut g: Tensor, start: i64, to_input: bool) -> (Vec<Tensor>, Tensor) {
        let len = g.size()[0];
        let mut deltas = Vec::new();
        for (i, s) in saved.iter().enumerate().rev() {
            g = match s {
                Saved::LeakyRelu(pre, slope) => {
                    leaky_relu_grad(&g, &pre.narrow(0, start, len), *slope)
                }
                Saved::Conv(c, geom, input) => {
                    deltas.push(g.shallow_clone());
                    if i == 0 && !to_input {
                        break;
                    }
                    conv_input_grad(c, *geom, &g, *input)
                }
            };
        }
        deltas.reverse();
        (deltas, g)
    }
}

/// The input gradient of a convolution from its output gradient `g`.
fn conv_input_grad(c: &nn::Conv2D, geom: Geom, g: &Tensor, input: [i64; 2]) -> Tensor {
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

/// `c.forward(x)`, computed as im2col and one matrix product where
/// [`gemm_pays`] (the same sums, in another order); autograd differentiates
/// either form.
fn conv(c: &nn::Conv2D, Geom { stride, padding }: Geom, x: &Tensor) -> Tensor {
    let (s, w) = (x.size(), c.ws.size());
    let out = |i: usize| (s[2 + i] + 2 * padding - w[2 + i]) / stride + 1;
    let (oh, ow) = (out(0), out(1));
    if !gemm_pays(x.device(), oh * ow) {
        return c.forward(x);
    }
    let (n, o) = (s[0], w[0]);
    // [N, C·k·k, L] → [N·L, C·k·k]: one row per output position.
    let cols = x
        .im2col([w[2], w[3]], [1, 1], [padding, padding], [stride, stride])
        .transpose(1, 2)
        .reshape([n * oh * ow, -1]);
    let wt = c.ws.view([o, -1]).tr();
    let y = match &c.bs {
        Some(b) => b.addmm(&cols, &wt),
        None => cols.mm(&wt),
    };
    y.view([n, oh, ow, o]).permute([0, 3, 1, 2])
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
    fn energy_step(&self, x: &Tensor, n: i64) -> Option<EnergyStep> {
        let (h, saved, outs) = self.main.forward_layerwise(x)?;
        let out = self.expand.forward(&h.flatten(1, -1));
        let mut shape = h.size();
        Some(EnergyStep::from_chain(
            &out,
            &outs,
            n,
            |start, len, to_input| {
                // Σ E over `len` rows, at the trunk's output.
                shape[0] = len;
                let top = conv_layout(&output_grad(&self.expand.ws, len).reshape(&shape[..]));
                Seq::chain(&saved, top, start, to_input)
            },
        ))
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
    /// the explicit input gradient.
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
    }
}
