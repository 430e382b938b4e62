//! StackedMNIST (Table 1): each example stacks k MNIST training digits as k
//! channels; channel j holds digit j of the tuple.
//!
//! The training set is a fixed list of `128·10^k` stacks of k indices drawn
//! uniformly (with replacement) from the training images by a seeded ChaCha8
//! stream. Batches draw stacks uniformly from that list with a second,
//! independent stream of the same seed. The images are converted to float
//! in [-1, 1] once, on the chosen device, so a batch is two `index_select`s.

use crate::images::ImageSet;
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

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

/// `128·10^k`, the paper's number of stacks.
pub fn paper_stack_count(k: u32) -> i64 {
    128 * 10i64.pow(k)
}

impl StackedMnist {
    /// The paper's set: `k` (3 or 4) stacks, `128·10^k` of them, from
    /// single-channel `train` images, fixed by `seed`.
    pub fn new(train: &ImageSet, k: u32, seed: u64, device: Device) -> Result<StackedMnist> {
        if !(k == 3 || k == 4) {
            bail!("StackedMNIST uses 3 or 4 stacks, not {k}");
        }
        StackedMnist::with_count(train, k, paper_stack_count(k), seed, device)
    }

    /// Like [`StackedMnist::new`] with any `k >= 1` and number of stacks.
    pub fn with_count(
        train: &ImageSet,
        k: u32,
        count: i64,
        seed: u64,
        device: Device,
    ) -> Result<StackedMnist> {
        let s = train.images.size();
        if s.len() != 4 || s[1] != 1 {
            bail!("StackedMNIST needs single-channel images [N, 1, H, W], got {s:?}");
        }
        if k == 0 || count <= 0 || s[0] == 0 {
            bail!("StackedMNIST needs k >= 1, a positive count and images (k {k}, count {count}, images {})", s[0]);
        }
        let n = s[0];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ids: Vec<i64> = (0..count * k as i64)
            .map(|_| rng.random_range(0..n))
            .collect();
        let stacks = Tensor::from_slice(&ids)
            .view([count, k as i64])
            .to_device(device);
        let mut batch_rng = ChaCha8Rng::seed_from_u64(seed);
        batch_rng.set_stream(1);
        Ok(StackedMnist {
            images: train.float_pm1(device).squeeze_dim(1),
            labels: train.labels.to_device(device),
            stacks,
            k: k as i64,
            rng: batch_rng,
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

    /// A batch of `n` stacks drawn uniformly from the fixed set: float
    /// `[n, k, H, W]` in [-1, 1] and the digit tuples `[n, k]`.
    pub fn batch(&mut self, n: i64) -> (Tensor, Tensor) {
        let len = self.len();
        let ids: Vec<i64> = (0..n).map(|_| self.rng.random_range(0..len)).collect();
        self.gather(&Tensor::from_slice(&ids))
    }
}

/// Mode index of digit tuples `[B, k]`: `Σ_j d_j · 10^(k-1-j)`, in
/// `0..10^k`.
pub fn mode_index(tuples: &Tensor) -> Tensor {
    let k = tuples.size()[1];
    let weights: Vec<i64> = (0..k).map(|j| 10i64.pow((k - 1 - j) as u32)).collect();
    let w = Tensor::from_slice(&weights).to_device(tuples.device());
    (tuples.to_kind(Kind::Int64) * w).sum_dim_intlist(1, false, Kind::Int64)
}
