//! The FID variant of Inception-v3, layer for layer as pytorch-fid 0.3.0 builds it
//! (`fid_inception_v3()` + `InceptionV3([3])`): torchvision's Inception3 with a
//! 1008-class head, `FIDInceptionA/C/E_1` whose pooling branch averages without
//! the zero padding, and `FIDInceptionE_2` with a max pool there. Inputs in
//! [0, 1] are resized to 299x299 (bilinear, `align_corners=False`) and mapped to
//! [-1, 1]; the output is the 2048-d pool3 feature, and the head gives the logits.
//!
//! Variable names equal the state-dict keys of pytorch-fid's weight file
//! `pt_inception-2015-12-05-6726825d.pth` (e.g. `Mixed_5b.branch1x1.conv.weight`).

use crate::weights::{copy_into, load_state_dict, StateDict};
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// The file name pytorch-fid publishes its weights under (release `fid_weights`).
pub const FID_WEIGHTS_FILE: &str = "pt_inception-2015-12-05-6726825d.pth";
/// Side of the square input the network sees.
pub const INPUT_SIZE: i64 = 299;
/// Dimension of the pool3 features.
pub const POOL3_DIM: i64 = 2048;
/// Number of logits (the TF graph's 1008 classes).
pub const NUM_CLASSES: i64 = 1008;

/// BatchNorm's ε in torchvision's `BasicConv2d`.
const BN_EPS: f64 = 0.001;

/// conv (no bias) -> BatchNorm(eps 0.001, eval) -> ReLU: torchvision's `BasicConv2d`.
#[derive(Debug)]
struct BasicConv {
    conv: nn::Conv<[i64; 2]>,
    bn: nn::BatchNorm,
    stride: i64,
    pad: [i64; 2],
}

impl BasicConv {
    fn new(p: nn::Path, cin: i64, cout: i64, k: [i64; 2], stride: i64, pad: [i64; 2]) -> Self {
        let cfg = nn::ConvConfigND::<[i64; 2]> {
            stride: [stride, stride],
            padding: pad,
            bias: false,
            ws_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let bn = nn::BatchNormConfig {
            eps: BN_EPS,
            ..Default::default()
        };
        BasicConv {
            conv: nn::conv(&p / "conv", cin, cout, k, cfg),
            bn: nn::batch_norm2d(&p / "bn", cout, bn),
            stride,
            pad,
        }
    }

    /// Square kernel `k`, padding `pad` on both axes.
    fn sq(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, pad: i64) -> Self {
        Self::new(p, cin, cout, [k, k], stride, [pad, pad])
    }

    /// `relu(bn(conv(x)))` with the eval-mode BatchNorm folded into the
    /// convolution (weight · γ/√(var + ε), bias β − mean · γ/√(var + ε)): one
    /// pass over the activations instead of two, the same function up to
    /// rounding.
    fn forward(&self, x: &Tensor) -> Tensor {
        let bn = &self.bn;
        let gamma = bn.ws.as_ref().expect("affine BatchNorm");
        let beta = bn.bs.as_ref().expect("affine BatchNorm");
        let scale = gamma / (&bn.running_var + BN_EPS).sqrt();
        let w = &self.conv.ws * scale.view([-1, 1, 1, 1]);
        let b = beta - &bn.running_mean * &scale;
        x.conv2d(
            &w,
            Some(&b),
            [self.stride, self.stride],
            self.pad,
            [1, 1],
            1,
        )
        .relu_()
    }
}

/// 3x3 average pool, stride 1, padding 1, not counting the padding (TF's pool).
fn avg_pool_3x3(x: &Tensor) -> Tensor {
    x.avg_pool2d([3, 3], [1, 1], [1, 1], false, false, None)
}

fn max_pool(x: &Tensor, stride: i64, pad: i64) -> Tensor {
    x.max_pool2d([3, 3], [stride, stride], [pad, pad], [1, 1], false)
}

/// `FIDInceptionA`.
#[derive(Debug)]
struct BlockA {
    b1: BasicConv,
    b5_1: BasicConv,
    b5_2: BasicConv,
    b3_1: BasicConv,
    b3_2: BasicConv,
    b3_3: BasicConv,
    pool: BasicConv,
}

impl BlockA {
    fn new(p: nn::Path, cin: i64, pool_features: i64) -> Self {
        BlockA {
            b1: BasicConv::sq(&p / "branch1x1", cin, 64, 1, 1, 0),
            b5_1: BasicConv::sq(&p / "branch5x5_1", cin, 48, 1, 1, 0),
            b5_2: BasicConv::sq(&p / "branch5x5_2", 48, 64, 5, 1, 2),
            b3_1: BasicConv::sq(&p / "branch3x3dbl_1", cin, 64, 1, 1, 0),
            b3_2: BasicConv::sq(&p / "branch3x3dbl_2", 64, 96, 3, 1, 1),
            b3_3: BasicConv::sq(&p / "branch3x3dbl_3", 96, 96, 3, 1, 1),
            pool: BasicConv::sq(&p / "branch_pool", cin, pool_features, 1, 1, 0),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        Tensor::cat(
            &[
                self.b1.forward(x),
                self.b5_2.forward(&self.b5_1.forward(x)),
                self.b3_3.forward(&self.b3_2.forward(&self.b3_1.forward(x))),
                self.pool.forward(&avg_pool_3x3(x)),
            ],
            1,
        )
    }
}

/// torchvision's `InceptionB` (Mixed_6a).
#[derive(Debug)]
struct BlockB {
    b3: BasicConv,
    d1: BasicConv,
    d2: BasicConv,
    d3: BasicConv,
}

impl BlockB {
    fn new(p: nn::Path, cin: i64) -> Self {
        BlockB {
            b3: BasicConv::sq(&p / "branch3x3", cin, 384, 3, 2, 0),
            d1: BasicConv::sq(&p / "branch3x3dbl_1", cin, 64, 1, 1, 0),
            d2: BasicConv::sq(&p / "branch3x3dbl_2", 64, 96, 3, 1, 1),
            d3: BasicConv::sq(&p / "branch3x3dbl_3", 96, 96, 3, 2, 0),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        Tensor::cat(
            &[
                self.b3.forward(x),
                self.d3.forward(&self.d2.forward(&self.d1.forward(x))),
                max_pool(x, 2, 0),
            ],
            1,
        )
    }
}

/// `FIDInceptionC`.
#[derive(Debug)]
struct BlockC {
    b1: BasicConv,
    b7: [BasicConv; 3],
    d7: [BasicConv; 5],
    pool: BasicConv,
}

impl BlockC {
    fn new(p: nn::Path, cin: i64, c7: i64) -> Self {
        let row = |p: nn::Path, i, o| BasicConv::new(p, i, o, [1, 7], 1, [0, 3]);
        let col = |p: nn::Path, i, o| BasicConv::new(p, i, o, [7, 1], 1, [3, 0]);
        BlockC {
            b1: BasicConv::sq(&p / "branch1x1", cin, 192, 1, 1, 0),
            b7: [
                BasicConv::sq(&p / "branch7x7_1", cin, c7, 1, 1, 0),
                row(&p / "branch7x7_2", c7, c7),
                col(&p / "branch7x7_3", c7, 192),
            ],
            d7: [
                BasicConv::sq(&p / "branch7x7dbl_1", cin, c7, 1, 1, 0),
                col(&p / "branch7x7dbl_2", c7, c7),
                row(&p / "branch7x7dbl_3", c7, c7),
                col(&p / "branch7x7dbl_4", c7, c7),
                row(&p / "branch7x7dbl_5", c7, 192),
            ],
            pool: BasicConv::sq(&p / "branch_pool", cin, 192, 1, 1, 0),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let chain =
            |layers: &[BasicConv]| layers.iter().fold(x.shallow_clone(), |h, l| l.forward(&h));
        Tensor::cat(
            &[
                self.b1.forward(x),
                chain(&self.b7),
                chain(&self.d7),
                self.pool.forward(&avg_pool_3x3(x)),
            ],
            1,
        )
    }
}

/// torchvision's `InceptionD` (Mixed_7a).
#[derive(Debug)]
struct BlockD {
    b3: [BasicConv; 2],
    b7: [BasicConv; 4],
}

impl BlockD {
    fn new(p: nn::Path, cin: i64) -> Self {
        BlockD {
            b3: [
                BasicConv::sq(&p / "branch3x3_1", cin, 192, 1, 1, 0),
                BasicConv::sq(&p / "branch3x3_2", 192, 320, 3, 2, 0),
            ],
            b7: [
                BasicConv::sq(&p / "branch7x7x3_1", cin, 192, 1, 1, 0),
                BasicConv::new(&p / "branch7x7x3_2", 192, 192, [1, 7], 1, [0, 3]),
                BasicConv::new(&p / "branch7x7x3_3", 192, 192, [7, 1], 1, [3, 0]),
                BasicConv::sq(&p / "branch7x7x3_4", 192, 192, 3, 2, 0),
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let chain =
            |layers: &[BasicConv]| layers.iter().fold(x.shallow_clone(), |h, l| l.forward(&h));
        Tensor::cat(&[chain(&self.b3), chain(&self.b7), max_pool(x, 2, 0)], 1)
    }
}

/// `FIDInceptionE_1` (average pool, padding not counted) or `FIDInceptionE_2`
/// (max pool) for Mixed_7b and Mixed_7c.
#[derive(Debug)]
struct BlockE {
    b1: BasicConv,
    b3_1: BasicConv,
    b3_2a: BasicConv,
    b3_2b: BasicConv,
    d_1: BasicConv,
    d_2: BasicConv,
    d_3a: BasicConv,
    d_3b: BasicConv,
    pool: BasicConv,
    max_pool: bool,
}

impl BlockE {
    fn new(p: nn::Path, cin: i64, max_pool: bool) -> Self {
        let row = |p: nn::Path| BasicConv::new(p, 384, 384, [1, 3], 1, [0, 1]);
        let col = |p: nn::Path| BasicConv::new(p, 384, 384, [3, 1], 1, [1, 0]);
        BlockE {
            b1: BasicConv::sq(&p / "branch1x1", cin, 320, 1, 1, 0),
            b3_1: BasicConv::sq(&p / "branch3x3_1", cin, 384, 1, 1, 0),
            b3_2a: row(&p / "branch3x3_2a"),
            b3_2b: col(&p / "branch3x3_2b"),
            d_1: BasicConv::sq(&p / "branch3x3dbl_1", cin, 448, 1, 1, 0),
            d_2: BasicConv::sq(&p / "branch3x3dbl_2", 448, 384, 3, 1, 1),
            d_3a: row(&p / "branch3x3dbl_3a"),
            d_3b: col(&p / "branch3x3dbl_3b"),
            pool: BasicConv::sq(&p / "branch_pool", cin, 192, 1, 1, 0),
            max_pool,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let b3 = self.b3_1.forward(x);
        let d = self.d_2.forward(&self.d_1.forward(x));
        let pooled = if self.max_pool {
            max_pool(x, 1, 1)
        } else {
            avg_pool_3x3(x)
        };
        Tensor::cat(
            &[
                self.b1.forward(x),
                self.b3_2a.forward(&b3),
                self.b3_2b.forward(&b3),
                self.d_3a.forward(&d),
                self.d_3b.forward(&d),
                self.pool.forward(&pooled),
            ],
            1,
        )
    }
}

/// pytorch-fid's Inception network with its weights.
pub struct InceptionFid {
    vs: nn::VarStore,
    stem: [BasicConv; 5],
    mixed_5: [BlockA; 3],
    mixed_6a: BlockB,
    mixed_6: [BlockC; 4],
    mixed_7a: BlockD,
    mixed_7: [BlockE; 2],
    fc: nn::Linear,
    /// Which weights: the sha256 of the file they came from, or "synthetic".
    weights_id: String,
}

impl std::fmt::Debug for InceptionFid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InceptionFid(device={:?})", self.vs.device())
    }
}

impl InceptionFid {
    /// The architecture with all weights zero (to be filled in).
    fn empty(device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let r = vs.root();
        let stem = [
            BasicConv::sq(&r / "Conv2d_1a_3x3", 3, 32, 3, 2, 0),
            BasicConv::sq(&r / "Conv2d_2a_3x3", 32, 32, 3, 1, 0),
            BasicConv::sq(&r / "Conv2d_2b_3x3", 32, 64, 3, 1, 1),
            BasicConv::sq(&r / "Conv2d_3b_1x1", 64, 80, 1, 1, 0),
            BasicConv::sq(&r / "Conv2d_4a_3x3", 80, 192, 3, 1, 0),
        ];
        let mixed_5 = [
            BlockA::new(&r / "Mixed_5b", 192, 32),
            BlockA::new(&r / "Mixed_5c", 256, 64),
            BlockA::new(&r / "Mixed_5d", 288, 64),
        ];
        let mixed_6a = BlockB::new(&r / "Mixed_6a", 288);
        let mixed_6 = [
            BlockC::new(&r / "Mixed_6b", 768, 128),
            BlockC::new(&r / "Mixed_6c", 768, 160),
            BlockC::new(&r / "Mixed_6d", 768, 160),
            BlockC::new(&r / "Mixed_6e", 768, 192),
        ];
        let mixed_7a = BlockD::new(&r / "Mixed_7a", 768);
        let mixed_7 = [
            BlockE::new(&r / "Mixed_7b", 1280, false),
            BlockE::new(&r / "Mixed_7c", 2048, true),
        ];
        let fc = nn::linear(
            &r / "fc",
            POOL3_DIM,
            NUM_CLASSES,
            nn::LinearConfig {
                ws_init: nn::Init::Const(0.0),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        InceptionFid {
            vs,
            stem,
            mixed_5,
            mixed_6a,
            mixed_6,
            mixed_7a,
            mixed_7,
            fc,
            weights_id: String::new(),
        }
    }

    /// Loads `weights`, or when `None` the verified pytorch-fid weight file of the
    /// data cache (data set `inception-fid`; the error says how to get it).
    pub fn load_or_default(weights: Option<&Path>, device: Device) -> Result<Self> {
        match weights {
            Some(w) => Self::load(w, device),
            None => {
                let store = meg_datasets::Store::from_env()?;
                Self::load(&meg_datasets::inception_weights(&store)?, device)
            }
        }
    }

    /// Loads the weights from a state-dict file with pytorch-fid's keys (a `.pth`
    /// is converted once through Python and cached, see [`crate::weights`]).
    pub fn load(weights: &Path, device: Device) -> Result<Self> {
        let sd = load_state_dict(weights, &crate::weights::default_cache_dir()?)?;
        let mut net = Self::from_state_dict(&sd, device)
            .with_context(|| format!("loading Inception weights from {}", weights.display()))?;
        net.weights_id = meg_datasets::hash::hash_file(weights)?.sha256;
        Ok(net)
    }

    /// Builds the network from named tensors; every parameter and BatchNorm
    /// buffer must be present with its exact shape, and nothing else (apart from
    /// `num_batches_tracked`) may be.
    pub fn from_state_dict(sd: &StateDict, device: Device) -> Result<Self> {
        let mut net = Self::empty(device);
        copy_into(&net.vs, sd, |k| k.ends_with("num_batches_tracked"))
            .context("not a pytorch-fid Inception state dict")?;
        net.vs.freeze();
        Ok(net)
    }

    /// The network with the deterministic synthetic weights of
    /// `tests/golden/metrics_synthetic.py` (see [`synthetic_tensor`]): not a
    /// trained network, but one whose features vary from image to image, for
    /// tests and benchmarks against pytorch-fid on identical weights.
    pub fn synthetic(device: Device) -> Self {
        let mut net = Self::from_state_dict(&Self::synthetic_state_dict(), device)
            .expect("the synthetic state dict matches the architecture");
        net.weights_id = "synthetic".into();
        net
    }

    /// The sha256 of the weight file (empty for [`InceptionFid::from_state_dict`],
    /// "synthetic" for [`InceptionFid::synthetic`]): cached statistics are keyed by it.
    pub fn weights_id(&self) -> &str {
        &self.weights_id
    }

    /// The synthetic weights as a state dict (CPU, float32).
    pub fn synthetic_state_dict() -> StateDict {
        let net = Self::empty(Device::Cpu);
        net.vs
            .variables()
            .into_iter()
            .map(|(k, v)| {
                let shape = v.size();
                (k.clone(), synthetic_tensor(&k, &shape))
            })
            .collect()
    }

    /// Names and shapes of every tensor the network reads from a state dict.
    pub fn parameter_shapes() -> Vec<(String, Vec<i64>)> {
        let mut v: Vec<_> = Self::empty(Device::Cpu)
            .vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        v.sort();
        v
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// pool3 features `[B, 2048]` of a batch already resized to 299x299 and mapped
    /// to [-1, 1].
    fn pool3_299(&self, x: &Tensor) -> Tensor {
        let s = &self.stem;
        let x = meg_nn::conv_layout(x);
        let mut h = s[2].forward(&s[1].forward(&s[0].forward(&x)));
        h = max_pool(&h, 2, 0);
        h = s[4].forward(&s[3].forward(&h));
        h = max_pool(&h, 2, 0);
        for b in &self.mixed_5 {
            h = b.forward(&h);
        }
        h = self.mixed_6a.forward(&h);
        for b in &self.mixed_6 {
            h = b.forward(&h);
        }
        h = self.mixed_7a.forward(&h);
        for b in &self.mixed_7 {
            h = b.forward(&h);
        }
        h.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }

    /// pool3 features `[N, 2048]` and the logits torch-fidelity's Inception Score
    /// uses (`logits_unbiased`: pool3 times the head's weight, without its bias)
    /// `[N, 1008]`, both float32 on the CPU, for images `[N, 3, H, W]` (any size,
    /// any device; float in [0, 1], or uint8, divided by 255), `batch` at a time.
    pub fn features_and_logits(&self, images: &Tensor, batch: usize) -> Result<(Tensor, Tensor)> {
        let size = images.size();
        if size.len() != 4 || size[1] != 3 {
            bail!("expected images of shape [N, 3, H, W], got {size:?}");
        }
        let mut feats = Vec::new();
        for chunk in images.split(batch.max(1) as i64, 0) {
            feats.push(self.pool3(&chunk));
        }
        let pool3 = Tensor::cat(&feats, 0);
        let logits = self.logits(&pool3, false);
        Ok((pool3, logits))
    }

    /// pool3 features of one batch `[B, 3, H, W]` (float in [0, 1], or uint8), on
    /// the CPU.
    pub fn pool3(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| {
            // Contiguous NCHW, as torchvision's ToTensor gives, for the resize;
            // the network itself runs channels-last on the CPU (`pool3_299`).
            let x = images
                .to_device(self.device())
                .to_kind(Kind::Float)
                .contiguous();
            let x = if images.kind() == Kind::Uint8 {
                x / 255.0
            } else {
                x
            };
            self.pool3_299(&(resize_299(&x) * 2.0 - 1.0))
                .to_device(Device::Cpu)
        })
    }

    /// The head applied to pool3 features: `pool3 W^T (+ b when `bias`)`.
    pub fn logits(&self, pool3: &Tensor, bias: bool) -> Tensor {
        tch::no_grad(|| {
            let x = pool3.to_device(self.device()).to_kind(Kind::Float);
            let out = if bias {
                x.apply(&self.fc)
            } else {
                x.matmul(&self.fc.ws.tr())
            };
            out.to_device(Device::Cpu)
        })
    }
}

/// Bilinear resize of `[N, C, H, W]` to 299x299 as `F.interpolate(...,
/// mode="bilinear", align_corners=False)` does it.
pub fn resize_299(x: &Tensor) -> Tensor {
    x.upsample_bilinear2d([INPUT_SIZE, INPUT_SIZE], false, None, None)
}

/// Gain of the synthetic conv weights: filter variance `CONV_GAIN / 6 / fan_in`.
const CONV_GAIN: f64 = 24.0;

/// 64-bit FNV-1a of `key`'s UTF-8 bytes.
fn fnv1a64(key: &str) -> u64 {
    key.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Value number `i` (from 0) in [0, 1) of splitmix64 seeded with fnv1a64(key):
/// the `u(key, i)` of the synthetic-weight rule.
pub fn synthetic_uniform(key: &str, i: u64) -> f64 {
    uniform(fnv1a64(key), i)
}

fn uniform(seed: u64, i: u64) -> f64 {
    meg_plumbing::seed::splitmix64_uniform(seed, i)
}

/// The synthetic tensor `key` of shape `shape`, as `tests/golden/metrics_synthetic.py`
/// defines it, with `u(i) = synthetic_uniform(key, i)` over the elements in row-major
/// order: conv filters `[o, c, kh, kw]` are differences of neighbouring uniforms
/// within each filter, `(u(i) - u(next in the same filter, cyclically))
/// sqrt(CONV_GAIN / fan_in)` (so each filter sums to zero); BatchNorm weights and
/// running variances are `0.9 + 0.2u`, biases and running means `0.1 (2u - 1)`; the
/// head's weight is `sqrt(3 / 2048) (2u - 1)`. Computed in f64, rounded once to f32.
pub fn synthetic_tensor(key: &str, shape: &[i64]) -> Tensor {
    let seed = fnv1a64(key);
    let n: i64 = shape.iter().product();
    let u: Vec<f64> = (0..n as u64).map(|i| uniform(seed, i)).collect();
    let each = |f: &dyn Fn(f64) -> f64| u.iter().map(|&x| f(x) as f32).collect::<Vec<_>>();
    let data: Vec<f32> = if key.ends_with("conv.weight") {
        let fan = shape[1..].iter().product::<i64>() as usize;
        let scale = (CONV_GAIN / fan as f64).sqrt();
        u.chunks(fan)
            .flat_map(|f| (0..fan).map(move |j| ((f[j] - f[(j + 1) % fan]) * scale) as f32))
            .collect()
    } else if key.ends_with("bn.weight") || key.ends_with("bn.running_var") {
        each(&|x| 0.9 + 0.2 * x)
    } else if key.ends_with("bn.bias") || key.ends_with("bn.running_mean") || key == "fc.bias" {
        each(&|x| 0.1 * (2.0 * x - 1.0))
    } else if key == "fc.weight" {
        each(&|x| (3.0 / 2048.0f64).sqrt() * (2.0 * x - 1.0))
    } else {
        panic!("no synthetic rule for `{key}`")
    };
    Tensor::from_slice(&data).reshape(shape)
}
