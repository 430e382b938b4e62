//! What data a run reads ([`DataConfig`], the `data:` section of a run
//! config), and its loading: from the verified cache or from the synthetic
//! stand-ins ([`Source`]), into host memory. The training side streams
//! batches of it as tensors (`meg_models::data`).

use crate::celeba::{load_celeba64, CelebaSplit};
use crate::cifar::load_cifar10;
use crate::holdout::{holdout_split, Holdout};
use crate::images::{load_mnist, load_mnist_all, ImageSet, MnistKind, Split};
use crate::kdd::{load_kdd99, Kdd99, KddOptions, Scaling};
use crate::store::Store;
use crate::synthetic;
use crate::toy::Toy;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The training data. `synthetic: true` replaces the real files by small
/// deterministic stand-ins written in the same formats (for smoke runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum DataConfig {
    /// One of the 2-D toy densities (swissroll, 25gaussians, 8gaussians).
    #[serde(rename = "toy")]
    Toy { name: Toy },
    /// StackedMNIST: `count` (default `128·10^stacks`) fixed stacks of
    /// `stacks` training digits, drawn with `split_seed`.
    #[serde(rename = "stacked-mnist")]
    StackedMnist {
        stacks: u32,
        #[serde(default = "mnist_digits")]
        dataset: MnistKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<i64>,
        #[serde(default)]
        split_seed: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        synthetic: bool,
    },
    /// The training images of MNIST or Fashion-MNIST.
    #[serde(rename = "mnist")]
    Mnist {
        #[serde(default = "mnist_digits")]
        dataset: MnistKind,
        #[serde(default, skip_serializing_if = "is_false")]
        synthetic: bool,
    },
    /// Table 4: the training part of the held-out-`digit` split. With `flat`,
    /// images are vectors of 784 values (for the vector nets of the KDD99
    /// family, in the Fashion-MNIST stand-in for Table 3).
    #[serde(rename = "mnist-holdout")]
    MnistHoldout {
        digit: i64,
        #[serde(default = "mnist_digits")]
        dataset: MnistKind,
        #[serde(default)]
        split_seed: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        flat: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        synthetic: bool,
    },
    /// CIFAR-10 training images.
    #[serde(rename = "cifar10")]
    Cifar10 {
        #[serde(default, skip_serializing_if = "is_false")]
        synthetic: bool,
    },
    /// Table 3: the non-normal rows of KDD99's training half.
    #[serde(rename = "kdd99")]
    Kdd99 {
        #[serde(default = "minmax")]
        scaling: Scaling,
        #[serde(default = "kdd_split_seed")]
        split_seed: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        synthetic: bool,
    },
    /// CelebA 64x64 training images.
    #[serde(rename = "celeba")]
    Celeba {
        #[serde(default, skip_serializing_if = "is_false")]
        synthetic: bool,
    },
}

fn mnist_digits() -> MnistKind {
    MnistKind::Mnist
}
fn minmax() -> Scaling {
    Scaling::MinMax
}
fn kdd_split_seed() -> u64 {
    42
}

impl DataConfig {
    /// Shape of one example of this data (without the batch axis).
    pub fn x_shape(&self) -> Vec<i64> {
        match self {
            DataConfig::Toy { .. } => vec![2],
            DataConfig::StackedMnist { stacks, .. } => vec![*stacks as i64, 28, 28],
            DataConfig::MnistHoldout { flat: true, .. } => vec![28 * 28],
            DataConfig::Mnist { .. } | DataConfig::MnistHoldout { .. } => vec![1, 28, 28],
            DataConfig::Cifar10 { .. } => vec![3, 32, 32],
            DataConfig::Kdd99 { .. } => vec![crate::kdd::N_FEATURES as i64],
            DataConfig::Celeba { .. } => vec![3, 64, 64],
        }
    }

    /// The data set in words, for reports: "Fashion-MNIST", "CIFAR-10",
    /// "synthetic MNIST-format stand-in", ...
    pub fn describe(&self) -> String {
        let digits = |d: &MnistKind| match d {
            MnistKind::Mnist => "MNIST",
            MnistKind::FashionMnist => "Fashion-MNIST",
        };
        let (name, synthetic) = match self {
            DataConfig::Toy { name } => return format!("toy {name:?}"),
            DataConfig::StackedMnist {
                dataset, synthetic, ..
            }
            | DataConfig::Mnist { dataset, synthetic }
            | DataConfig::MnistHoldout {
                dataset, synthetic, ..
            } => (digits(dataset), *synthetic),
            DataConfig::Cifar10 { synthetic } => ("CIFAR-10", *synthetic),
            DataConfig::Kdd99 { synthetic, .. } => ("KDD99", *synthetic),
            DataConfig::Celeba { synthetic } => ("CelebA 64x64", *synthetic),
        };
        if synthetic {
            format!("synthetic {name}-format stand-in")
        } else {
            name.to_string()
        }
    }

    /// The cache data set this config reads (`None` for toy or synthetic data).
    pub fn dataset_name(&self) -> Option<&'static str> {
        match self {
            DataConfig::Toy { .. } => None,
            DataConfig::StackedMnist {
                synthetic: true, ..
            }
            | DataConfig::Mnist {
                synthetic: true, ..
            }
            | DataConfig::MnistHoldout {
                synthetic: true, ..
            }
            | DataConfig::Cifar10 { synthetic: true }
            | DataConfig::Kdd99 {
                synthetic: true, ..
            }
            | DataConfig::Celeba { synthetic: true } => None,
            DataConfig::StackedMnist { dataset, .. }
            | DataConfig::Mnist { dataset, .. }
            | DataConfig::MnistHoldout { dataset, .. } => Some(dataset.name()),
            DataConfig::Cifar10 { .. } => Some("cifar10"),
            DataConfig::Kdd99 { .. } => Some("kdd99"),
            DataConfig::Celeba { .. } => Some("celeba"),
        }
    }

    /// Checks the data's own fields (the run config checks that its model
    /// takes examples of [`DataConfig::x_shape`]).
    pub fn validate(&self) -> Result<()> {
        match self {
            DataConfig::StackedMnist { stacks, count, .. } => {
                if *stacks == 0 {
                    bail!("field `data.stacks` must be positive, got 0");
                }
                if let Some(c) = count {
                    if *c <= 0 {
                        bail!("field `data.count` must be positive, got {c}");
                    }
                }
            }
            DataConfig::MnistHoldout { digit, .. } if !(0..=9).contains(digit) => {
                bail!("field `data.digit` must be 0-9, got {digit}")
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where a data set's files come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The verified cache.
    Cache(Store),
    /// The synthetic stand-ins under this root.
    Synthetic(PathBuf),
}

impl Source {
    /// The stand-ins' default root when `synthetic`, else the cache.
    pub fn new(synthetic: bool) -> Result<Source> {
        Ok(if synthetic {
            Source::Synthetic(synthetic::default_root()?)
        } else {
            Source::Cache(Store::from_env()?)
        })
    }

    /// One split of MNIST / Fashion-MNIST (or the synthetic digits).
    pub fn mnist(&self, kind: MnistKind, split: Split) -> Result<ImageSet> {
        match self {
            Source::Cache(store) => load_mnist(store, kind, split),
            Source::Synthetic(root) => synthetic::mnist(root, split),
        }
    }

    /// Training and test parts of MNIST / Fashion-MNIST together.
    pub fn mnist_all(&self, kind: MnistKind) -> Result<ImageSet> {
        match self {
            Source::Cache(store) => load_mnist_all(store, kind),
            Source::Synthetic(root) => synthetic::mnist_all(root),
        }
    }

    /// The Table 3 KDD99 data.
    pub fn kdd99(&self, opts: &KddOptions) -> Result<Kdd99> {
        match self {
            Source::Cache(store) => load_kdd99(store, opts),
            Source::Synthetic(root) => synthetic::kdd99(root, opts),
        }
    }

    /// CIFAR-10, one split.
    pub fn cifar10(&self, split: Split) -> Result<ImageSet> {
        match self {
            Source::Cache(store) => load_cifar10(store, split),
            Source::Synthetic(root) => synthetic::cifar10(root, split),
        }
    }

    /// CelebA 64x64 training images (partition labels).
    pub fn celeba(&self) -> Result<ImageSet> {
        match self {
            Source::Cache(store) => load_celeba64(store, CelebaSplit::Train, true),
            Source::Synthetic(root) => synthetic::celeba64(root),
        }
    }
}

/// One split of MNIST / Fashion-MNIST (or the synthetic digits).
pub fn mnist_split(kind: MnistKind, split: Split, synthetic: bool) -> Result<ImageSet> {
    Source::new(synthetic)?.mnist(kind, split)
}

/// The held-out-digit split of Table 4 for `DataConfig::MnistHoldout`.
pub fn mnist_holdout(kind: MnistKind, digit: i64, seed: u64, synthetic: bool) -> Result<Holdout> {
    holdout_split(&Source::new(synthetic)?.mnist_all(kind)?, digit, seed)
}

/// The Table 3 KDD99 data for `DataConfig::Kdd99`.
pub fn kdd99(scaling: Scaling, seed: u64, synthetic: bool) -> Result<Kdd99> {
    let opts = KddOptions {
        seed,
        scaling,
        ..KddOptions::default()
    };
    Source::new(synthetic)?.kdd99(&opts)
}

/// CIFAR-10 (or its stand-in), one split.
pub fn cifar10(split: Split, synthetic: bool) -> Result<ImageSet> {
    Source::new(synthetic)?.cifar10(split)
}

/// CelebA 64x64 training images (or the stand-in).
pub fn celeba(synthetic: bool) -> Result<ImageSet> {
    Source::new(synthetic)?.celeba()
}

/// For `mnist-holdout` data: its held-out-class split, and whether its
/// images are flattened to vectors; `None` for other data.
pub fn holdout_of(cfg: &DataConfig) -> Option<Result<(Holdout, bool)>> {
    match *cfg {
        DataConfig::MnistHoldout {
            digit,
            dataset,
            split_seed,
            flat,
            synthetic,
        } => Some(mnist_holdout(dataset, digit, split_seed, synthetic).map(|h| (h, flat))),
        _ => None,
    }
}

/// Fails, naming the command to run, when a cache data set is not present
/// and verified (checked before any training starts).
pub fn require_dataset(name: &str) -> Result<()> {
    let status = crate::dataset_status(name)?;
    if !status.is_ready() {
        bail!(
            "data set `{name}` is {} in {}: run `{}` first",
            status.summary(),
            status.dir.display(),
            status.fix
        );
    }
    Ok(())
}
