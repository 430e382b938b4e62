//! The E, G and T of each model family, layer for layer (order, kernels,
//! padding, BatchNorm placement, activations, initialization) as in the
//! authors' code, github.com/ritheshkumar95/energy_based_generative_models
//! (`networks/*.py` at b4a8d82). Variables carry the authors' state-dict
//! names (`main.3.weight`, `expand.bias`, ...), except the toy family, whose
//! layers are numbered `0, 1, 2, ...`.

use super::conv::{ConvEncoder, ConvGenerator, ConvInit, ConvStatistics, Seq, SeqBuilder};
use super::mlp::{Act, ConcatStatistics, Mlp};
use super::traits::{EnergyNet, StatisticsNet};
use crate::config::ModelConfig;
use tch::nn::{self, ModuleT};

/// E, G and T of one model.
pub(super) type Nets = (Box<dyn EnergyNet>, Box<dyn ModuleT>, Box<dyn StatisticsNet>);

/// The variable stores of E, G and T.
pub(super) struct Stores<'a> {
    pub e: &'a nn::VarStore,
    pub g: &'a nn::VarStore,
    pub t: &'a nn::VarStore,
}

/// `networks/toy.py`: E 2 -> width (x hidden) -> 1 and T (2 + z) -> ... -> 1
/// with LeakyReLU(0.2); G z -> width (x hidden) -> 2 with ReLU. PyTorch init.
pub(super) fn toy(s: &Stores, width: i64, z_dim: i64, hidden: usize) -> Nets {
    let x_dim = 2;
    let mid = vec![width; hidden];
    let dims = |i: i64, o: i64| [vec![i], mid.clone(), vec![o]].concat();
    (
        Box::new(Mlp::new(s.e.root(), &dims(x_dim, 1), Act::LeakyRelu(0.2))),
        Box::new(Mlp::new(s.g.root(), &dims(z_dim, x_dim), Act::Relu)),
        Box::new(ConcatStatistics(Mlp::new(
            s.t.root(),
            &dims(x_dim + z_dim, 1),
            Act::LeakyRelu(0.2),
        ))),
    )
}

/// `networks/kdd.py` (the authors fix x_dim = 121): G `main` z -> 64 -> 128 -> x
/// with ReLU; E `main` x -> 256 -> 128 -> 128 -> 1 and T `main`
/// (x + z) -> 256 -> 128 -> 128 -> 1 on concat(x, z), LeakyReLU(0.2). PyTorch init.
pub(super) fn kdd(s: &Stores, z_dim: i64, x_dim: i64) -> Nets {
    let lrelu = Act::LeakyRelu(0.2);
    (
        Box::new(Mlp::sequential(
            s.e.root() / "main",
            &[x_dim, 256, 128, 128, 1],
            lrelu,
        )),
        Box::new(Mlp::sequential(
            s.g.root() / "main",
            &[z_dim, 64, 128, x_dim],
            Act::Relu,
        )),
        Box::new(ConcatStatistics(Mlp::sequential(
            s.t.root() / "main",
            &[x_dim + z_dim, 256, 128, 128, 1],
            lrelu,
        ))),
    )
}

/// E and T on one trunk design (each with its own weights), with G.
/// `features`: the trunk's flattened output size; `slope`: T's head LeakyReLU.
fn conv_nets(
    s: &Stores,
    trunk: &dyn Fn(nn::Path) -> Seq,
    features: i64,
    g: ConvGenerator,
    (z_dim, dim, slope): (i64, i64, f64),
) -> Nets {
    (
        Box::new(ConvEncoder::new(&s.e.root(), trunk, features, 1)),
        Box::new(g),
        Box::new(ConvStatistics::new(
            &s.t.root(),
            trunk,
            features,
            z_dim,
            dim,
            slope,
        )),
    )
}

/// `networks/mnist.py` (MNIST, StackedMNIST with `c` = stacks, MNIST anomaly),
/// 28x28, the authors' `weights_init` ([`ConvInit::Dcgan`]) on all three nets:
/// - G: `expand` Linear(z, 4·dim) viewed as [dim, 2, 2]; `main`: BN, ReLU, then
///   ConvT 5x5 stride 2 pad 2 to dim/2 (output_padding 1), dim/4 (0), dim/8 (1),
///   each with BN, ReLU; ConvT 5x5/2 pad 2 op 1 to c, tanh (2→4→7→14→28).
/// - E: `main` = 4 × (Conv 5x5 stride 2 pad 2, LeakyReLU 0.2), c → dim/8 → dim/4
///   → dim/2 → dim (28→14→7→4→2), no BN; `expand` Linear(4·dim, 1).
/// - T: E's trunk, `expand` Linear(4·dim, z), concat z, `classify`
///   Linear(2z, dim), LeakyReLU 0.2, Linear(dim, 1).
pub(super) fn mnist(s: &Stores, dim: i64, z_dim: i64, c: i64) -> Nets {
    let init = ConvInit::Dcgan;
    let trunk = |path: nn::Path| {
        let mut b = SeqBuilder::new(path, init);
        for w in [c, dim / 8, dim / 4, dim / 2, dim].windows(2) {
            b.conv(w[0], w[1], 5, 2, 2).act(Act::LeakyRelu(0.2));
        }
        b.finish()
    };
    let root = s.g.root();
    let mut b = SeqBuilder::new(&root / "main", init);
    b.bn(dim).act(Act::Relu);
    for (i, o, op) in [
        (dim, dim / 2, 1),
        (dim / 2, dim / 4, 0),
        (dim / 4, dim / 8, 1),
    ] {
        b.conv_t(i, o, 5, 2, 2, op).bn(o).act(Act::Relu);
    }
    b.conv_t(dim / 8, c, 5, 2, 2, 1).act(Act::Tanh);
    let g = ConvGenerator::new(&root, z_dim, [dim, 2, 2], b.finish());
    conv_nets(s, &trunk, 2 * 2 * dim, g, (z_dim, dim, 0.2))
}

/// The CIFAR/CelebA trunk: Conv 3x3 stride 1 pad 1 and Conv 4x4 stride 2
/// pad 1 in turn through `chans`, each followed by LeakyReLU(0.1); no BN.
fn strided_trunk(path: nn::Path, init: ConvInit, chans: &[i64]) -> Seq {
    let mut b = SeqBuilder::new(path, init);
    for (k, w) in chans.windows(2).enumerate() {
        let (kernel, stride) = if k % 2 == 0 { (3, 1) } else { (4, 2) };
        b.conv(w[0], w[1], kernel, stride, 1)
            .act(Act::LeakyRelu(0.1));
    }
    b.finish()
}

/// The CIFAR/CelebA generator: `expand` Linear(z, 16·chans[0]) viewed as
/// [chans[0], 4, 4]; `main`: ConvT 4x4 stride 2 pad 1, BN, ReLU through
/// `chans` (no BN or ReLU before the first), then ConvT 3x3/1 pad 1 to 3, tanh.
fn upsampling_generator(s: &Stores, init: ConvInit, z_dim: i64, chans: &[i64]) -> ConvGenerator {
    let root = s.g.root();
    let mut b = SeqBuilder::new(&root / "main", init);
    for w in chans.windows(2) {
        b.conv_t(w[0], w[1], 4, 2, 1, 0).bn(w[1]).act(Act::Relu);
    }
    b.conv_t(chans[chans.len() - 1], 3, 3, 1, 1, 0)
        .act(Act::Tanh);
    ConvGenerator::new(&root, z_dim, [chans[0], 4, 4], b.finish())
}

/// `networks/cifar.py`, 32x32 RGB, the authors' `weights_init` ([`ConvInit::Dcgan`]):
/// - G: [`upsampling_generator`] dim → dim/2 → dim/4 → dim/8 (4→8→16→32).
/// - E: `main` = [`strided_trunk`] 3 → dim/8, dim/8, dim/4, dim/4, dim/2, dim/2,
///   dim (7 convs, 32→4); `expand` Linear(16·dim, 1).
/// - T: E's trunk, `expand` Linear(16·dim, z), concat z, `classify`
///   Linear(2z, dim), LeakyReLU 0.1, Linear(dim, 1).
pub(super) fn cifar(s: &Stores, dim: i64, z_dim: i64) -> Nets {
    let init = ConvInit::Dcgan;
    let chans = [3, dim / 8, dim / 8, dim / 4, dim / 4, dim / 2, dim / 2, dim];
    let trunk = |path: nn::Path| strided_trunk(path, init, &chans);
    let g = upsampling_generator(s, init, z_dim, &[dim, dim / 2, dim / 4, dim / 8]);
    conv_nets(s, &trunk, 4 * 4 * dim, g, (z_dim, dim, 0.1))
}

/// `networks/celeba.py`, 64x64 RGB: the CIFAR nets with one more stage and
/// PyTorch's default init (that file has no `weights_init`):
/// - G: [`upsampling_generator`] dim → dim → dim/2 → dim/4 → dim/8 (4→64).
/// - E: [`strided_trunk`] 3 → dim/8, dim/8, dim/4, dim/4, dim/2, dim/2, dim, dim,
///   dim (9 convs, 64→4); `expand` Linear(16·dim, 1).
/// - T: E's trunk, `expand` Linear(16·dim, z), concat z, `classify`
///   Linear(2z, dim), LeakyReLU 0.1, Linear(dim, 1).
pub(super) fn celeba(s: &Stores, dim: i64, z_dim: i64) -> Nets {
    let init = ConvInit::PyTorch;
    let chans = [
        3,
        dim / 8,
        dim / 8,
        dim / 4,
        dim / 4,
        dim / 2,
        dim / 2,
        dim,
        dim,
        dim,
    ];
    let trunk = |path: nn::Path| strided_trunk(path, init, &chans);
    let g = upsampling_generator(s, init, z_dim, &[dim, dim, dim / 2, dim / 4, dim / 8]);
    conv_nets(s, &trunk, 4 * 4 * dim, g, (z_dim, dim, 0.1))
}

/// The number of values E, G and T of `config` hold (weights, biases and
/// BatchNorm's running statistics), counted from the layers above without
/// allocating anything: what [`crate::memory`] weighs before a model is built.
/// A test checks it against every family's real variable stores.
pub(crate) fn value_count(config: &ModelConfig) -> u128 {
    let linear = |i: u128, o: u128| i * o + o;
    let mlp = |dims: &[u128]| -> u128 { dims.windows(2).map(|w| linear(w[0], w[1])).sum() };
    // Conv and transposed conv: weight i·o·k² and bias o; BatchNorm: weight,
    // bias, running mean and variance.
    let conv = |i: u128, o: u128, k: u128| i * o * k * k + o;
    let bn = |c: u128| 4 * c;
    // T's head on the trunk's features: Linear(f, z), concat z, Linear(2z, d), Linear(d, 1).
    let head = |f: u128, z: u128, d: u128| linear(f, z) + linear(2 * z, d) + linear(d, 1);
    let u = |v: i64| v.max(0) as u128;
    match *config {
        ModelConfig::Toy {
            width,
            z_dim,
            hidden,
        } => {
            let (w, z, h) = (u(width), u(z_dim), hidden as u128);
            // dims [i, w × h, o]: Linear(i, w), (h - 1) × Linear(w, w), Linear(w, o).
            let net =
                |i: u128, o: u128| linear(i, w) + h.saturating_sub(1) * linear(w, w) + linear(w, o);
            net(2, 1) + net(z, 2) + net(2 + z, 1)
        }
        ModelConfig::Kdd { z_dim, x_dim } => {
            let (z, x) = (u(z_dim), u(x_dim));
            mlp(&[x, 256, 128, 128, 1]) + mlp(&[z, 64, 128, x]) + mlp(&[x + z, 256, 128, 128, 1])
        }
        ModelConfig::Mnist {
            dim,
            z_dim,
            channels,
        } => {
            let (d, z, c) = (u(dim), u(z_dim), u(channels));
            let chans = [c, d / 8, d / 4, d / 2, d];
            let trunk: u128 = chans.windows(2).map(|w| conv(w[0], w[1], 5)).sum();
            let g = linear(z, 4 * d)
                + bn(d)
                + [(d, d / 2), (d / 2, d / 4), (d / 4, d / 8)]
                    .iter()
                    .map(|&(i, o)| conv(i, o, 5) + bn(o))
                    .sum::<u128>()
                + conv(d / 8, c, 5);
            (trunk + linear(4 * d, 1)) + g + (trunk + head(4 * d, z, d))
        }
        ModelConfig::Cifar { dim, z_dim } | ModelConfig::Celeba { dim, z_dim } => {
            let (d, z) = (u(dim), u(z_dim));
            let celeba = matches!(config, ModelConfig::Celeba { .. });
            let mut chans = vec![3, d / 8, d / 8, d / 4, d / 4, d / 2, d / 2, d];
            let mut up = vec![d, d / 2, d / 4, d / 8];
            if celeba {
                chans.extend([d, d]);
                up.insert(0, d);
            }
            let trunk: u128 = chans
                .windows(2)
                .enumerate()
                .map(|(k, w)| conv(w[0], w[1], if k % 2 == 0 { 3 } else { 4 }))
                .sum();
            let g = linear(z, 16 * up[0])
                + up.windows(2)
                    .map(|w| conv(w[0], w[1], 4) + bn(w[1]))
                    .sum::<u128>()
                + conv(up[up.len() - 1], 3, 3);
            (trunk + linear(16 * d, 1)) + g + (trunk + head(16 * d, z, d))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::Model;
    use tch::Device;

    #[test]
    fn value_count_is_what_the_built_nets_hold() {
        let configs = [
            ModelConfig::Toy {
                width: 7,
                z_dim: 3,
                hidden: 1,
            },
            ModelConfig::Toy {
                width: 5,
                z_dim: 2,
                hidden: 4,
            },
            ModelConfig::Kdd { z_dim: 5, x_dim: 9 },
            ModelConfig::Mnist {
                dim: 16,
                z_dim: 5,
                channels: 3,
            },
            ModelConfig::Cifar { dim: 24, z_dim: 4 },
            ModelConfig::Celeba { dim: 16, z_dim: 3 },
        ];
        for config in configs {
            let model = Model::new(&config, Device::Cpu);
            let held: i64 = model
                .named_variables()
                .iter()
                .map(|(_, v)| v.numel() as i64)
                .sum();
            assert_eq!(value_count(&config), held as u128, "{config:?}");
        }
    }
}
