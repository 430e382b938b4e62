//! Training data: a seeded stream of batches on the training device, and the
//! loading of each [`DataConfig`] (real cache or synthetic stand-ins).

use crate::config::{DataConfig, Digits, KddScaling};
use anyhow::Result;
use meg_datasets::celeba::{load_celeba64, CelebaSplit};
use meg_datasets::cifar::load_cifar10;
use meg_datasets::holdout::{holdout_split, Holdout};
use meg_datasets::images::{load_mnist, load_mnist_all};
use meg_datasets::kdd::{load_kdd99, Kdd99, KddOptions, Scaling};
use meg_datasets::stacked::{paper_stack_count, StackedMnist};
use meg_datasets::toy::ToySampler;
use meg_datasets::{synthetic, ImageSet, MnistKind, Split, Store};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

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
        self.sampler.batch(n as usize).to_device(self.device)
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

fn kind(d: Digits) -> MnistKind {
    match d {
        Digits::Mnist => MnistKind::Mnist,
        Digits::FashionMnist => MnistKind::FashionMnist,
    }
}

/// The real cache, or the synthetic stand-ins' root.
fn roots(synthetic: bool) -> Result<(Option<Store>, Option<std::path::PathBuf>)> {
    Ok(if synthetic {
        (None, Some(synthetic::default_root()?))
    } else {
        (Some(Store::from_env()?), None)
    })
}

/// One split of MNIST / Fashion-MNIST (or the synthetic digits).
pub fn mnist_split(dataset: Digits, split: Split, synth: bool) -> Result<ImageSet> {
    match roots(synth)? {
        (Some(store), _) => load_mnist(&store, kind(dataset), split),
        (_, Some(root)) => synthetic::mnist(&root, split),
        _ => unreachable!(),
    }
}

/// The held-out-digit split of Table 4 for `DataConfig::MnistHoldout`.
pub fn mnist_holdout(dataset: Digits, digit: i64, seed: u64, synth: bool) -> Result<Holdout> {
    let pool = match roots(synth)? {
        (Some(store), _) => load_mnist_all(&store, kind(dataset))?,
        (_, Some(root)) => synthetic::mnist_all(&root)?,
        _ => unreachable!(),
    };
    holdout_split(&pool, digit, seed)
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

/// The Table 3 KDD99 data for `DataConfig::Kdd99`.
pub fn kdd99(scaling: KddScaling, seed: u64, synth: bool) -> Result<Kdd99> {
    let opts = KddOptions {
        seed,
        scaling: match scaling {
            KddScaling::MinMax => Scaling::MinMax,
            KddScaling::Unscaled => Scaling::Unscaled,
        },
        ..KddOptions::default()
    };
    match roots(synth)? {
        (Some(store), _) => load_kdd99(&store, &opts),
        (_, Some(root)) => synthetic::kdd99(&root, &opts),
        _ => unreachable!(),
    }
}

/// CIFAR-10 (or its stand-in), one split.
pub fn cifar10(split: Split, synth: bool) -> Result<ImageSet> {
    match roots(synth)? {
        (Some(store), _) => load_cifar10(&store, split),
        (_, Some(root)) => synthetic::cifar10(&root, split),
        _ => unreachable!(),
    }
}

/// CelebA 64x64 training images (or the stand-in).
pub fn celeba(synth: bool) -> Result<ImageSet> {
    match roots(synth)? {
        (Some(store), _) => load_celeba64(&store, CelebaSplit::Train, true),
        (_, Some(root)) => synthetic::celeba64(&root),
        _ => unreachable!(),
    }
}

impl DataConfig {
    /// The cache data set this config reads (`None` for toy or synthetic data).
    pub fn dataset_name(&self) -> Option<&'static str> {
        let digits = |d: &Digits| kind(*d).name();
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
            | DataConfig::MnistHoldout { dataset, .. } => Some(digits(dataset)),
            DataConfig::Cifar10 { .. } => Some("cifar10"),
            DataConfig::Kdd99 { .. } => Some("kdd99"),
            DataConfig::Celeba { .. } => Some("celeba"),
        }
    }
}

/// Fails, naming the command to run, when a cache data set is not present
/// and verified (checked before any training starts).
pub fn require_dataset(name: &str) -> Result<()> {
    let status = meg_datasets::dataset_status(name)?;
    if !status.is_ready() {
        anyhow::bail!(
            "data set `{name}` is {} in {}: run `{}` first",
            status.summary(),
            status.dir.display(),
            status.fix
        );
    }
    Ok(())
}

/// Opens the data of a run config (loading it once) as a stream seeded by
/// `seed`.
pub fn open(cfg: &DataConfig, seed: u64, device: Device) -> Result<Box<dyn DataSource>> {
    let images = |set: ImageSet| Epochs::new(set.float_pm1(device));
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
            let set = StackedMnist::with_count(&train, *stacks, count, *split_seed, device)?;
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
            let x = split.train.float_pm1(device);
            Box::new(Epochs::new(if flat { x.flatten(1, -1) } else { x }))
        }
        DataConfig::Cifar10 { synthetic } => Box::new(images(cifar10(Split::Train, *synthetic)?)),
        DataConfig::Celeba { synthetic } => Box::new(images(celeba(*synthetic)?)),
        DataConfig::Kdd99 {
            scaling,
            split_seed,
            synthetic,
        } => Box::new(Epochs::new(
            kdd99(*scaling, *split_seed, *synthetic)?
                .train_x
                .to_device(device),
        )),
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
