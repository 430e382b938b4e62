//! The MNIST classifier used for StackedMNIST mode counting (the authors'
//! `classifier_mnist.py`, PyTorch's MNIST example): conv(1,10,5) -> maxpool 2 ->
//! ReLU -> conv(10,20,5) -> Dropout2d -> maxpool 2 -> ReLU -> fc(320,50) -> ReLU ->
//! dropout -> fc(50,10), log-softmax; inputs `[N, 1, 28, 28]` in [0, 1]. Trained with
//! SGD (lr 0.01, momentum 0.5), batch 64, 10 epochs, NLL loss.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The classifier and its parameters.
pub struct MnistClassifier {
    vs: nn::VarStore,
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

/// Training settings (the authors' defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    /// Seeds libtorch's generator before initialization (then shuffling and dropout).
    pub seed: i64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 64,
            lr: 0.01,
            momentum: 0.5,
            seed: 1,
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
    /// A fresh classifier with PyTorch's default initialization.
    pub fn new(device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let r = vs.root();
        MnistClassifier {
            conv1: meg_nn::conv2d(&r / "conv1", 1, 10, 5, 1, 0),
            conv2: meg_nn::conv2d(&r / "conv2", 10, 20, 5, 1, 0),
            fc1: meg_nn::linear(&r / "fc1", 320, 50),
            fc2: meg_nn::linear(&r / "fc2", 50, 10),
            vs,
        }
    }

    /// Loads weights saved by [`MnistClassifier::save`], or any state dict with
    /// the PyTorch module's keys (`conv1.weight`, ..., `fc2.bias`), e.g. the
    /// authors' `pretrained_classifier.pt` (see [`crate::weights`]).
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let sd = crate::weights::load_state_dict(path, &crate::weights::default_cache_dir()?)?;
        let c = Self::new(device);
        crate::weights::copy_into(&c.vs, &sd, |_| false)
            .with_context(|| format!("loading classifier weights {}", path.display()))?;
        Ok(c)
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

    /// The 50 ReLU activations of `fc1` `[N, 50]` (dropout active when `train`).
    fn hidden(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.conv1.forward(x).max_pool2d_default(2).relu();
        let h = self
            .conv2
            .forward(&h)
            .feature_dropout(0.5, train)
            .max_pool2d_default(2)
            .relu();
        self.fc1.forward(&h.view([-1, 320])).relu()
    }

    /// Log-probabilities `[N, 10]`; dropout is active when `train`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.hidden(x, train);
        self.fc2
            .forward(&h.dropout(0.5, train))
            .log_softmax(1, Kind::Float)
    }

    /// Features `[N, 50]` (the ReLU activations of `fc1`, the classifier's
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
        let mut c = Self::new(device);
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
        let mut opt = nn::Sgd {
            momentum: cfg.momentum,
            ..Default::default()
        }
        .build(&self.vs, cfg.lr)?;
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
