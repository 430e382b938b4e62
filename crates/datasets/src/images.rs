//! Image data sets in host memory, and the MNIST / Fashion-MNIST loaders.
//!
//! An [`ImageSet`] keeps the pixels as uint8 `[N, C, H, W]` (compact, exact)
//! and one int64 label per image; the training side makes tensors of them
//! (`meg_models::data`).

use crate::idx::{read_idx_images, read_idx_labels};
use crate::manifest::Manifest;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which of the two IDX-format data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MnistKind {
    /// Handwritten digits.
    #[serde(rename = "mnist")]
    Mnist,
    /// Zalando article images, same format.
    #[serde(rename = "fashion-mnist")]
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

/// Images with labels, in host memory.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// uint8 `[N, C, H, W]` (standard layout; `Tensor::try_from(&set.images)`
    /// makes the tensor).
    pub images: Array4<u8>,
    /// One class label per image.
    pub labels: Vec<i64>,
}

impl ImageSet {
    /// Checks that there is one label per image.
    pub fn new(images: Array4<u8>, labels: Vec<i64>) -> Result<ImageSet> {
        if images.shape()[0] != labels.len() {
            bail!("{} images but {} labels", images.shape()[0], labels.len());
        }
        Ok(ImageSet {
            // Copied only when not already row-major (a loader's array is).
            images: if images.is_standard_layout() {
                images
            } else {
                images.as_standard_layout().into_owned()
            },
            labels,
        })
    }

    /// From pixels in `[N, C, H, W]` order.
    pub fn from_pixels(pixels: Vec<u8>, shape: [usize; 4], labels: Vec<i64>) -> Result<ImageSet> {
        let images = Array4::from_shape_vec(shape, pixels)
            .map_err(|e| anyhow::anyhow!("pixels do not fill shape {shape:?}: {e}"))?;
        ImageSet::new(images, labels)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The subset at `index`, in that order.
    pub fn select(&self, index: &[usize]) -> ImageSet {
        ImageSet {
            images: self.images.select(Axis(0), index),
            labels: index.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// The sets one after the other (images of one shape).
    pub fn concat(parts: &[&ImageSet]) -> Result<ImageSet> {
        let views: Vec<_> = parts.iter().map(|p| p.images.view()).collect();
        let images = ndarray::concatenate(Axis(0), &views)
            .map_err(|e| anyhow::anyhow!("joining image sets of different shapes: {e}"))?;
        let labels = parts
            .iter()
            .flat_map(|p| p.labels.iter().copied())
            .collect();
        ImageSet::new(images, labels)
    }

    /// How many images carry each label `0..classes`.
    /// Fails on a negative label or one at or above `classes`.
    pub fn class_counts(&self, classes: i64) -> Result<Vec<i64>> {
        let mut counts = vec![0i64; classes.max(0) as usize];
        for &l in &self.labels {
            if l < 0 {
                bail!("negative label {l}");
            }
            *counts
                .get_mut(l as usize)
                .with_context(|| format!("a label ({l}) is at or above {classes}"))? += 1;
        }
        Ok(counts)
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
    if images.shape()[0] != labels.len() {
        bail!(
            "{}: {} images but {} has {} labels",
            dir.join(img).display(),
            images.shape()[0],
            lab,
            labels.len()
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
    ImageSet::concat(&[&train, &test])
}
