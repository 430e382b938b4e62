//! Image data sets as tensors, and the MNIST / Fashion-MNIST loaders.
//!
//! An [`ImageSet`] keeps the pixels as uint8 `[N, C, H, W]` (compact, exact)
//! and the labels as int64 `[N]`; [`to_pm1`] maps pixels to float in
//! [-1, 1] exactly as torchvision's `ToTensor` + `Normalize(0.5, 0.5)`.

use crate::idx::{read_idx_images, read_idx_labels};
use crate::manifest::Manifest;
use crate::store::Store;
use anyhow::{bail, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Which of the two IDX-format data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistKind {
    /// Handwritten digits.
    Mnist,
    /// Zalando article images, same format.
    FashionMnist,
}

impl MnistKind {
    /// The manifest / cache name: `mnist` or `fashion-mnist`.
    pub fn name(self) -> &'static str {
        match self {
            MnistKind::Mnist => "mnist",
            MnistKind::FashionMnist => "fashion-mnist",
        }
    }

    /// From a name as accepted by [`MnistKind::name`].
    pub fn from_name(name: &str) -> Result<MnistKind> {
        match name {
            "mnist" => Ok(MnistKind::Mnist),
            "fashion-mnist" => Ok(MnistKind::FashionMnist),
            _ => bail!("{name:?} is neither mnist nor fashion-mnist"),
        }
    }
}

/// Training or test part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training part.
    Train,
    /// The test part.
    Test,
}

/// Images with labels.
#[derive(Debug)]
pub struct ImageSet {
    /// uint8 `[N, C, H, W]`.
    pub images: Tensor,
    /// int64 `[N]`.
    pub labels: Tensor,
}

/// uint8 pixels (any shape) to float32 in [-1, 1]: `(x / 255 - 0.5) / 0.5`.
pub fn to_pm1(pixels: &Tensor) -> Tensor {
    (pixels.to_kind(Kind::Float) / 255.0 - 0.5) / 0.5
}

impl ImageSet {
    /// Checks shapes and kinds.
    pub fn new(images: Tensor, labels: Tensor) -> Result<ImageSet> {
        let (s, l) = (images.size(), labels.size());
        if s.len() != 4 || images.kind() != Kind::Uint8 {
            bail!(
                "images must be uint8 [N, C, H, W], got {:?} {s:?}",
                images.kind()
            );
        }
        if l != [s[0]] || labels.kind() != Kind::Int64 {
            bail!(
                "labels must be int64 [{}], got {:?} {l:?}",
                s[0],
                labels.kind()
            );
        }
        Ok(ImageSet { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All images as float32 in [-1, 1], on `device`.
    pub fn float_pm1(&self, device: Device) -> Tensor {
        to_pm1(&self.images.to_device(device))
    }

    /// The images at `index` (int64 `[B]`) as float in [-1, 1], and their
    /// labels.
    pub fn batch_pm1(&self, index: &Tensor) -> (Tensor, Tensor) {
        let index = index.to_device(self.images.device());
        (
            to_pm1(&self.images.index_select(0, &index)),
            self.labels.index_select(0, &index),
        )
    }

    /// The subset at `index` (int64 `[B]`).
    pub fn select(&self, index: &Tensor) -> ImageSet {
        ImageSet {
            images: self.images.index_select(0, index),
            labels: self.labels.index_select(0, index),
        }
    }

    /// The sets one after the other.
    pub fn concat(parts: &[&ImageSet]) -> ImageSet {
        let images: Vec<&Tensor> = parts.iter().map(|p| &p.images).collect();
        let labels: Vec<&Tensor> = parts.iter().map(|p| &p.labels).collect();
        ImageSet {
            images: Tensor::cat(&images, 0),
            labels: Tensor::cat(&labels, 0),
        }
    }

    /// How many images carry each label `0..classes`.
    /// Fails on a negative label or one at or above `classes`.
    pub fn class_counts(&self, classes: i64) -> Result<Vec<i64>> {
        let counts = self.labels.f_bincount::<Tensor>(None, classes)?;
        if counts.size()[0] != classes {
            bail!("a label is at or above {classes}");
        }
        Ok(Vec::<i64>::try_from(&counts)?)
    }

    /// A shallow copy sharing storage.
    pub fn shallow_clone(&self) -> ImageSet {
        ImageSet {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
        }
    }
}

/// IDX file names of one split.
pub fn idx_files(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        Split::Test => ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
}

/// Reads one split from a folder of IDX files (no checksum check: use
/// [`load_mnist`] for cached data). Image and label counts must agree.
pub fn read_mnist_dir(dir: &Path, split: Split) -> Result<ImageSet> {
    let (img, lab) = idx_files(split);
    let images = read_idx_images(&dir.join(img))?;
    let labels = read_idx_labels(&dir.join(lab), 10)?;
    if images.size()[0] != labels.size()[0] {
        bail!(
            "{}: {} images but {} has {} labels",
            dir.join(img).display(),
            images.size()[0],
            lab,
            labels.size()[0]
        );
    }
    ImageSet::new(images, labels)
}

/// One split of MNIST or Fashion-MNIST from the cache, after checking every
/// file against the manifest.
pub fn load_mnist(store: &Store, kind: MnistKind, split: Split) -> Result<ImageSet> {
    let dir = store.require(&Manifest::builtin(kind.name())?)?;
    read_mnist_dir(&dir, split)
}

/// Training and test parts together (70,000 images for the real data).
pub fn load_mnist_all(store: &Store, kind: MnistKind) -> Result<ImageSet> {
    let dir = store.require(&Manifest::builtin(kind.name())?)?;
    let train = read_mnist_dir(&dir, Split::Train)?;
    let test = read_mnist_dir(&dir, Split::Test)?;
    Ok(ImageSet::concat(&[&train, &test]))
}
