//! Training data as tensors: a seeded stream of batches on the training
//! device for each [`DataConfig`] (loaded into host memory by
//! `meg_datasets::config`), and the conversions from host data.

mod stacked;

pub use stacked::StackedMnist;

use anyhow::{Context, Result};
use meg_datasets::config::{celeba, cifar10, holdout_of, kdd99, mnist_split};
use meg_datasets::stacked::paper_stack_count;
use meg_datasets::toy::ToySampler;
use meg_datasets::{DataConfig, ImageSet, Split};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// uint8 pixels (any shape) to float32 in [-1, 1]: `(x / 255 - 0.5) / 0.5`,
/// as torchvision's `ToTensor` + `Normalize(0.5, 0.5)`.
pub fn to_pm1(pixels: &Tensor) -> Tensor {
    (pixels.to_kind(Kind::Float) / 255.0 - 0.5) / 0.5
}

/// The pixels of `set`: uint8 `[N, C, H, W]` on the CPU.
pub fn pixels(set: &ImageSet) -> Tensor {
    Tensor::try_from(&set.images).expect("an ImageSet's images are in standard layout")
}

/// The labels of `set`: int64 `[N]` on the CPU.
pub fn labels(set: &ImageSet) -> Tensor {
    Tensor::from_slice(&set.labels)
}

/// All images of `set` as float32 in [-1, 1], on `device`.
pub fn float_pm1(set: &ImageSet, device: Device) -> Tensor {
    to_pm1(&pixels(set).to_device(device))
}

/// A host matrix (KDD99 features, toy points) as a float32 tensor on `device`.
pub fn matrix(m: &ndarray::Array2<f32>, device: Device) -> Result<Tensor> {
    Ok(Tensor::try_from(&m.as_standard_layout())
        .context("converting host data to a tensor")?
        .to_device(device))
}

/// A seeded stream of training batches.
pub trait DataSource {
    /// The next `n` examples, on the training device.
    fn next_batch(&mut self, n: i64) -> Tensor;

    /// Restarts the stream's randomness from `seed` (the data stay loaded).
    fn reseed(&mut self, seed: u64);

    /// Number of examples in one pass, or `None` for an endless stream.
    fn size(&self) -> Option<usize> {
        None
    }
}

struct Toy {
    name: meg_datasets::toy::Toy,
    sampler: ToySampler,
    device: Device,
}

impl DataSource for Toy {
    fn next_batch(&mut self, n: i64) -> Tensor {
        matrix(&self.sampler.batch(n as usize), self.device).expect("toy points")
    }

    fn reseed(&mut self, seed: u64) {
        self.sampler = ToySampler::new(self.name, seed);
    }
}

/// A finite set, visited in epochs: each epoch is a fresh seeded
/// permutation; a batch that would cross an epoch's end starts the next one
/// (the remainder of the old epoch is dropped, as `drop_last` does).
struct Epochs {
    x: Tensor,
    order: Vec<i64>,
    pos: usize,
    rng: ChaCha8Rng,
}

impl Epochs {
    fn new(x: Tensor) -> Self {
        Epochs {
            x,
            order: Vec::new(),
            pos: 0,
            rng: ChaCha8Rng::seed_from_u64(0),
        }
    }
}

impl DataSource for Epochs {
    fn next_batch(&mut self, n: i64) -> Tensor {
        let n = n as usize;
        let len = self.x.size()[0] as usize;
        if self.pos + n.min(len) > self.order.len() {
            self.order = (0..len as i64).collect();
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
        }
        let take = n.min(len);
        let ids = Tensor::from_slice(&self.order[self.pos..self.pos + take]);
        self.pos += take;
        self.x.index_select(0, &ids.to_device(self.x.device()))
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.order.clear();
        self.pos = 0;
    }

    fn size(&self) -> Option<usize> {
        Some(self.x.size()[0] as usize)
    }
}

/// StackedMNIST: stacks drawn uniformly (with replacement) from the fixed set.
struct Stacked {
    set: StackedMnist,
    rng: ChaCha8Rng,
}

impl DataSource for Stacked {
    fn next_batch(&mut self, n: i64) -> Tensor {
        let len = self.set.len();
        let ids: Vec<i64> = (0..n).map(|_| self.rng.random_range(0..len)).collect();
        self.set.gather(&Tensor::from_slice(&ids)).0
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    fn size(&self) -> Option<usize> {
        Some(self.set.len() as usize)
    }
}

/// Opens the data of a run config (loading it once) as a stream seeded by
/// `seed`.
pub fn open(cfg: &DataConfig, seed: u64, device: Device) -> Result<Box<dyn DataSource>> {
    let images = |set: ImageSet| Epochs::new(float_pm1(&set, device));
    let mut source: Box<dyn DataSource> = match cfg {
        DataConfig::Toy { name } => Box::new(Toy {
            name: *name,
            sampler: ToySampler::new(*name, seed),
            device,
        }),
        DataConfig::StackedMnist {
            stacks,
            dataset,
            count,
            split_seed,
            synthetic,
        } => {
            let train = mnist_split(*dataset, Split::Train, *synthetic)?;
            let count = count.unwrap_or_else(|| paper_stack_count(*stacks));
            let set = StackedMnist::new(&train, *stacks, count, *split_seed, device)?;
            Box::new(Stacked {
                set,
                rng: ChaCha8Rng::seed_from_u64(seed),
            })
        }
        DataConfig::Mnist { dataset, synthetic } => {
            Box::new(images(mnist_split(*dataset, Split::Train, *synthetic)?))
        }
        DataConfig::MnistHoldout { .. } => {
            let (split, flat) = holdout_of(cfg).expect("mnist-holdout data")?;
            let x = float_pm1(&split.train, device);
            Box::new(Epochs::new(if flat { x.flatten(1, -1) } else { x }))
        }
        DataConfig::Cifar10 { synthetic } => Box::new(images(cifar10(Split::Train, *synthetic)?)),
        DataConfig::Celeba { synthetic } => Box::new(images(celeba(*synthetic)?)),
        DataConfig::Kdd99 {
            scaling,
            split_seed,
            synthetic,
        } => Box::new(Epochs::new(matrix(
            &kdd99(*scaling, *split_seed, *synthetic)?.train_x,
            device,
        )?)),
    };
    source.reseed(seed);
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_visit_every_example_once_per_pass() {
        let mut s = Epochs::new(Tensor::arange(10, (tch::Kind::Int64, Device::Cpu)));
        s.reseed(3);
        let mut seen: Vec<i64> = (0..3)
            .flat_map(|_| Vec::<i64>::try_from(s.next_batch(3)).unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen.len(), 9);
        seen.dedup();
        assert_eq!(seen.len(), 9, "no repeats within an epoch");
        // The 10th example is dropped; the next batch starts a new epoch.
        let b = Vec::<i64>::try_from(s.next_batch(3)).unwrap();
        assert_eq!(b.len(), 3);
        // Same seed, same stream.
        let mut t = Epochs::new(Tensor::arange(10, (tch::Kind::Int64, Device::Cpu)));
        t.reseed(3);
        s.reseed(3);
        assert!(s.next_batch(4).equal(&t.next_batch(4)));
        assert_eq!(s.size(), Some(10));
    }
}
