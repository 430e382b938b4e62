//! StackedMNIST on the training device: the fixed stacks of
//! `meg_datasets::stacked::Stacks` gathered from the images, converted to
//! float in [-1, 1] once, so that a batch is two `index_select`s.

use super::{float_pm1, labels};
use anyhow::{bail, Result};
use meg_datasets::stacked::{paper_stack_count, Stacks};
use meg_datasets::ImageSet;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

/// A StackedMNIST sampler.
pub struct StackedMnist {
    /// float `[N, H, W]` in [-1, 1], on the device.
    images: Tensor,
    /// int64 `[N]`, on the device.
    labels: Tensor,
    /// int64 `[S, k]` image indices, on the device.
    stacks: Tensor,
    k: i64,
    rng: ChaCha8Rng,
}

impl StackedMnist {
    /// `count` stacks of `k` single-channel `train` images, fixed by `seed`.
    pub fn new(train: &ImageSet, k: u32, count: i64, seed: u64, device: Device) -> Result<Self> {
        let s = train.images.shape();
        if s[1] != 1 {
            bail!("StackedMNIST needs single-channel images [N, 1, H, W], got {s:?}");
        }
        let stacks = Stacks::draw(train.len(), k, count, seed)?;
        StackedMnist::from_stacks(train, &stacks, device)
    }

    /// The paper's set: `k` (3 or 4) stacks, `128·10^k` of them.
    pub fn paper(train: &ImageSet, k: u32, seed: u64, device: Device) -> Result<Self> {
        if !(k == 3 || k == 4) {
            bail!("StackedMNIST uses 3 or 4 stacks, not {k}");
        }
        StackedMnist::new(train, k, paper_stack_count(k), seed, device)
    }

    fn from_stacks(train: &ImageSet, stacks: &Stacks, device: Device) -> Result<Self> {
        Ok(StackedMnist {
            images: float_pm1(train, device).squeeze_dim(1),
            labels: labels(train).to_device(device),
            stacks: Tensor::try_from(&stacks.ids)?.to_device(device),
            k: stacks.k() as i64,
            rng: stacks.batch_rng(),
        })
    }

    /// Number of digits per example.
    pub fn k(&self) -> i64 {
        self.k
    }

    /// Number of fixed stacks.
    pub fn len(&self) -> i64 {
        self.stacks.size()[0]
    }

    /// Never true (construction needs a positive count).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fixed stacks: int64 `[S, k]` training-image indices.
    pub fn stacks(&self) -> &Tensor {
        &self.stacks
    }

    /// The examples of stacks `ids` (int64 `[B]`): float `[B, k, H, W]` in
    /// [-1, 1] and int64 digit tuples `[B, k]`.
    pub fn gather(&self, ids: &Tensor) -> (Tensor, Tensor) {
        let ids = ids.to_device(self.stacks.device());
        let flat = self.stacks.index_select(0, &ids).view([-1]);
        let b = ids.size()[0];
        let (h, w) = (self.images.size()[1], self.images.size()[2]);
        (
            self.images.index_select(0, &flat).view([b, self.k, h, w]),
            self.labels.index_select(0, &flat).view([b, self.k]),
        )
    }

    /// A batch of `n` stacks drawn uniformly from the fixed set with the
    /// set's own stream: float `[n, k, H, W]` in [-1, 1] and the digit
    /// tuples `[n, k]`.
    pub fn batch(&mut self, n: i64) -> (Tensor, Tensor) {
        let len = self.len();
        let ids: Vec<i64> = (0..n).map(|_| self.rng.random_range(0..len)).collect();
        self.gather(&Tensor::from_slice(&ids))
    }
}
