//! The 28x28 digit classifiers used for StackedMNIST mode counting (and as
//! the feature space of the Fashion-MNIST stand-in for Table 2), in two
//! architectures ([`Arch`]): the authors' `classifier_mnist.py` (PyTorch's MNIST
//! example) for MNIST, and a wider small CNN for Fashion-MNIST, where the
//! authors' net stays below 90% test accuracy. Inputs `[N, 1, 28, 28]` in [0, 1].

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// A classifier architecture. Both are conv -> ReLU/maxpool 2 -> conv ->
/// ReLU/maxpool 2 -> fc -> ReLU -> dropout 0.5 -> fc(10), log-softmax (ReLU and
/// max-pooling commute); their weights are `conv1`, `conv2`, `fc1`, `fc2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Arch {
    /// The authors' `classifier_mnist.py`: conv(1,10,5) -> conv(10,20,5) with
    /// Dropout2d(0.5) -> fc(320,50) -> fc(50,10); trained with SGD (lr 0.01,
    /// momentum 0.5), batch 64, 10 epochs, as they do. Their
    /// `pretrained_classifier.pt` loads into it.
    #[default]
    #[serde(rename = "authors")]
    Authors,
    /// For Fashion-MNIST: conv(1,32,3) -> conv(32,64,3) -> fc(1600,128) ->
    /// fc(128,10), no channel dropout; trained with Adam (lr 1e-3). The
    /// authors' net reaches 87.5% on Fashion-MNIST after 15 epochs of Adam
    /// (measured); this one passes 90%.
    #[serde(rename = "small-cnn")]
    SmallCnn,
}

/// Layer sizes of an [`Arch`].
struct Sizes {
    kernel: i64,
    c1: i64,
    c2: i64,
    hidden: i64,
    /// Side of the feature map after the second pooling.
    side: i64,
    dropout2d: bool,
}

impl Arch {
    fn sizes(self) -> Sizes {
        match self {
            Arch::Authors => Sizes {
                kernel: 5,
                c1: 10,
                c2: 20,
                hidden: 50,
                side: 4,
                dropout2d: true,
            },
            Arch::SmallCnn => Sizes {
                kernel: 3,
                c1: 32,
                c2: 64,
                hidden: 128,
                side: 5,
                dropout2d: false,
            },
        }
    }

    /// Width of the features ([`MnistClassifier::features_and_logits`]).
    pub fn features(self) -> i64 {
        self.sizes().hidden
    }

    /// The architecture whose `conv1.weight` has `shape`.
    fn from_conv1(shape: &[i64]) -> Result<Self> {
        [Arch::Authors, Arch::SmallCnn]
            .into_iter()
            .find(|a| {
                let s = a.sizes();
                shape == [s.c1, 1, s.kernel, s.kernel]
            })
            .with_context(|| {
                format!(
                    "conv1.weight has shape {shape:?}: expected [10, 1, 5, 5] (the authors' \
                     classifier) or [32, 1, 3, 3] (the small CNN)"
                )
            })
    }

    /// The architecture the project trains for `dataset` (`mnist` or
    /// `fashion-mnist`).
    pub fn for_dataset(fashion: bool) -> Self {
        if fashion {
            Arch::SmallCnn
        } else {
            Arch::Authors
        }
    }
}

/// The classifier and its parameters.
pub struct MnistClassifier {
    vs: nn::VarStore,
    arch: Arch,
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl std::fmt::Debug for MnistClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MnistClassifier(device={:?})", self.vs.device())
    }
}

/// Training settings; [`TrainConfig::for_arch`] gives each architecture's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// SGD's momentum (the authors' architecture; Adam trains the other).
    pub momentum: f64,
    /// Seeds libtorch's generator before initialization (then shuffling and dropout).
    pub seed: i64,
    /// The architecture (the authors' when absent).
    #[serde(default, skip_serializing_if = "is_authors")]
    pub arch: Arch,
}

fn is_authors(a: &Arch) -> bool {
    *a == Arch::Authors
}

impl Default for TrainConfig {
    /// The authors' architecture and settings.
    fn default() -> Self {
        Self::for_arch(Arch::Authors)
    }
}

impl TrainConfig {
    /// `arch`'s settings: the authors' (SGD lr 0.01, momentum 0.5, 10
    /// epochs), or Adam at lr 1e-3 for 8 epochs for the small CNN; batch 64, seed 1.
    pub fn for_arch(arch: Arch) -> Self {
        let (epochs, lr) = match arch {
            Arch::Authors => (10, 0.01),
            Arch::SmallCnn => (8, 1e-3),
        };
        TrainConfig {
            epochs,
            batch_size: 64,
            lr,
            momentum: 0.5,
            seed: 1,
            arch,
        }
    }
}

/// What training measured: test accuracy after each epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub test_accuracy_per_epoch: Vec<f64>,
    pub final_test_accuracy: f64,
    pub mean_train_loss_per_epoch: Vec<f64>,
}

/// Where `meg train-classifier --dataset NAME` saves by default:
/// `classifiers/NAME.safetensors` in the data cache (metadata in `NAME.json`).
pub fn default_path(dataset: &str) -> Result<PathBuf> {
    Ok(meg_datasets::store::data_root()?
        .join("classifiers")
        .join(format!("{dataset}.safetensors")))
}

impl MnistClassifier {
    /// A fresh classifier of `arch` with PyTorch's default initialization.
    pub fn new(arch: Arch, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let r = vs.root();
        let s = arch.sizes();
        MnistClassifier {
            conv1: meg_nn::conv2d(&r / "conv1", 1, s.c1, s.kernel, 1, 0),
            conv2: meg_nn::conv2d(&r / "conv2", s.c1, s.c2, s.kernel, 1, 0),
            fc1: meg_nn::linear(&r / "fc1", s.c2 * s.side * s.side, s.hidden),
            fc2: meg_nn::linear(&r / "fc2", s.hidden, 10),
            arch,
            vs,
        }
    }

    /// Loads weights saved by [`MnistClassifier::save`], or any state dict with
    /// the PyTorch module's keys (`conv1.weight`, ..., `fc2.bias`), e.g. the
    /// authors' `pretrained_classifier.pt` (see [`crate::weights`]); the
    /// architecture follows from `conv1.weight`'s shape.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let sd = crate::weights::load_state_dict(path, &crate::weights::default_cache_dir()?)?;
        let conv1 = sd
            .iter()
            .find(|(k, _)| k.as_str() == "conv1.weight")
            .with_context(|| format!("{}: no conv1.weight", path.display()))?;
        let arch = Arch::from_conv1(&conv1.1.size())
            .with_context(|| format!("loading classifier weights {}", path.display()))?;
        let c = Self::new(arch, device);
        crate::weights::copy_into(&c.vs, &sd, |_| false)
            .with_context(|| format!("loading classifier weights {}", path.display()))?;
        Ok(c)
    }

    /// Its architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Saves the weights as safetensors, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        meg_plumbing::io::write_atomic_with(path, |tmp| {
            let vars = self.vs.variables();
            let mut named: Vec<_> = vars.iter().collect();
            named.sort_by(|a, b| a.0.cmp(b.0));
            Tensor::write_safetensors(&named, tmp)?;
            Ok(())
        })
    }

    /// The device of the weights.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The ReLU activations of `fc1` `[N, features]` (dropout active when `train`).
    fn hidden(&self, x: &Tensor, train: bool) -> Tensor {
        let h = max_pool2(&self.conv1.forward(x), train).relu();
        let mut h = self.conv2.forward(&h);
        if self.arch.sizes().dropout2d {
            h = h.feature_dropout(0.5, train);
        }
        let h = max_pool2(&h, train).relu();
        self.fc1.forward(&h.flatten(1, -1)).relu()
    }

    /// Log-probabilities `[N, 10]`; dropout is active when `train`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.hidden(x, train);
        self.fc2
            .forward(&h.dropout(0.5, train))
            .log_softmax(1, Kind::Float)
    }

    /// Features `[N, features]` (the ReLU activations of `fc1`, the classifier's
    /// penultimate layer) and class logits `[N, 10]`, both float32 on the CPU,
    /// for images `[N, 1, 28, 28]` in [0, 1], `batch` at a time (eval mode).
    /// The stand-in for Inception's pool3 and logits when FID and IS are
    /// measured in this classifier's feature space.
    pub fn features_and_logits(&self, images: &Tensor, batch: usize) -> Result<(Tensor, Tensor)> {
        let size = images.size();
        if size.len() != 4 || size[1..] != [1, 28, 28] {
            bail!("expected images of shape [N, 1, 28, 28], got {size:?}");
        }
        tch::no_grad(|| {
            let (mut feats, mut logits) = (Vec::new(), Vec::new());
            for b in images.split(batch.max(1) as i64, 0) {
                let h = self.hidden(&b.to_device(self.device()).to_kind(Kind::Float), false);
                logits.push(self.fc2.forward(&h).to_device(Device::Cpu));
                feats.push(h.to_device(Device::Cpu));
            }
            Ok((Tensor::cat(&feats, 0), Tensor::cat(&logits, 0)))
        })
    }

    /// Predicted digits `[N]` (int64, CPU) for images `[N, 1, 28, 28]` in [0, 1].
    pub fn predict(&self, images: &Tensor, batch: usize) -> Tensor {
        tch::no_grad(|| {
            let outs: Vec<Tensor> = images
                .split(batch.max(1) as i64, 0)
                .iter()
                .map(|b| {
                    self.forward_t(&b.to_device(self.device()).to_kind(Kind::Float), false)
                        .argmax(1, false)
                        .to_device(Device::Cpu)
                })
                .collect();
            Tensor::cat(&outs, 0)
        })
    }

    /// Fraction of `labels` `[N]` predicted correctly.
    pub fn accuracy(&self, images: &Tensor, labels: &Tensor) -> f64 {
        let pred = self.predict(images, 1000);
        pred.eq_tensor(&labels.to_device(Device::Cpu).to_kind(Kind::Int64))
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[])
    }

    /// Seeds libtorch with `cfg.seed`, initializes a classifier on `device` and
    /// trains it on `(images [N,1,28,28] in [0,1], labels [N])`, evaluating on the
    /// test set after each epoch; `log` receives one line per epoch.
    pub fn fit(
        device: Device,
        train: (&Tensor, &Tensor),
        test: (&Tensor, &Tensor),
        cfg: &TrainConfig,
        log: impl FnMut(&str),
    ) -> Result<(Self, TrainReport)> {
        tch::manual_seed(cfg.seed);
        let mut c = Self::new(cfg.arch, device);
        let report = c.train(train, test, cfg, log)?;
        Ok((c, report))
    }

    fn train(
        &mut self,
        train: (&Tensor, &Tensor),
        test: (&Tensor, &Tensor),
        cfg: &TrainConfig,
        mut log: impl FnMut(&str),
    ) -> Result<TrainReport> {
        let (x, y) = train;
        let n = x.size()[0];
        if x.size().len() != 4 || x.size()[1..] != [1, 28, 28] || y.size() != [n] {
            bail!(
                "training data: expected images [N, 1, 28, 28] and labels [N], got {:?} and {:?}",
                x.size(),
                y.size()
            );
        }
        let mut opt = match self.arch {
            Arch::Authors => nn::Sgd {
                momentum: cfg.momentum,
                ..Default::default()
            }
            .build(&self.vs, cfg.lr)?,
            Arch::SmallCnn => nn::Adam::default().build(&self.vs, cfg.lr)?,
        };
        let dev = self.device();
        let mut report = TrainReport {
            test_accuracy_per_epoch: vec![],
            final_test_accuracy: 0.0,
            mean_train_loss_per_epoch: vec![],
        };
        for epoch in 1..=cfg.epochs {
            let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
            let (mut sum, mut batches) = (0.0, 0);
            for idx in perm.split(cfg.batch_size as i64, 0) {
                let bx = x.index_select(0, &idx).to_device(dev).to_kind(Kind::Float);
                let by = y.index_select(0, &idx).to_device(dev).to_kind(Kind::Int64);
                let loss = self.forward_t(&bx, true).nll_loss(&by);
                opt.backward_step(&loss);
                sum += loss.double_value(&[]);
                batches += 1;
            }
            let acc = self.accuracy(test.0, test.1);
            let mean_loss = sum / batches.max(1) as f64;
            log(&format!(
                "epoch {epoch}/{}: train loss {mean_loss:.4}, test accuracy {:.4}",
                cfg.epochs, acc
            ));
            report.test_accuracy_per_epoch.push(acc);
            report.mean_train_loss_per_epoch.push(mean_loss);
            report.final_test_accuracy = acc;
        }
        Ok(report)
    }
}

/// 2x2 max pooling with stride 2 of `x` `[N, C, H, W]` (odd trailing rows and
/// columns dropped, as `max_pool2d` does). Training uses `max_pool2d` (its
/// gradient goes to the first maximum, as PyTorch's does); evaluation takes the
/// elementwise maximum of the four strided quarter grids instead: the same
/// values exactly (a maximum involves no rounding), about 3x faster on the CPU
/// than libtorch's NCHW pooling kernel, which dominated mode counting.
fn max_pool2(x: &Tensor, train: bool) -> Tensor {
    if train {
        return x.max_pool2d_default(2);
    }
    let (h, w) = (x.size()[2] / 2 * 2, x.size()[3] / 2 * 2);
    let q = |r: i64, c: i64| x.slice(2, r, h, 2).slice(3, c, w, 2);
    q(0, 0)
        .maximum(&q(0, 1))
        .maximum(&q(1, 0).maximum(&q(1, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_pooling_equals_max_pool2d_exactly() {
        tch::manual_seed(3);
        // Even and odd sizes (max_pool2d drops the odd last row/column), and
        // ties (ReLU'd zeros) that the four-way maximum must keep.
        for shape in [[4, 3, 24, 24], [2, 5, 8, 8], [3, 2, 7, 9]] {
            let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            for x in [x.shallow_clone(), x.relu()] {
                let want = x.max_pool2d_default(2);
                let got = max_pool2(&x, false);
                assert_eq!(got.size(), want.size(), "{shape:?}");
                assert!(got.equal(&want), "{shape:?}: values differ");
            }
        }
    }
}
