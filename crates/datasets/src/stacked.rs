//! StackedMNIST (Table 1): each example stacks k MNIST training digits as k
//! channels; channel j holds digit j of the tuple.
//!
//! The training set is a fixed list of `128·10^k` stacks of k indices drawn
//! uniformly (with replacement) from the training images by a seeded ChaCha8
//! stream ([`Stacks::draw`]). Batches draw stacks uniformly from that list
//! with a second, independent stream of the same seed
//! ([`Stacks::batch_rng`]). The training side gathers the images on its
//! device (`meg_models::data::StackedMnist`).

use anyhow::{bail, Result};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `128·10^k`, the paper's number of stacks.
pub fn paper_stack_count(k: u32) -> i64 {
    128 * 10i64.pow(k)
}

/// The fixed stacks of one StackedMNIST set.
#[derive(Debug, Clone)]
pub struct Stacks {
    /// `[count, k]` indices into the single-channel training images.
    pub ids: Array2<i64>,
    seed: u64,
}

impl Stacks {
    /// `count` stacks of `k` indices below `images`, fixed by `seed`.
    pub fn draw(images: usize, k: u32, count: i64, seed: u64) -> Result<Stacks> {
        if k == 0 || count <= 0 || images == 0 {
            bail!("StackedMNIST needs k >= 1, a positive count and images (k {k}, count {count}, images {images})");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = images as i64;
        let ids: Vec<i64> = (0..count * k as i64)
            .map(|_| rng.random_range(0..n))
            .collect();
        let ids =
            Array2::from_shape_vec((count as usize, k as usize), ids).expect("count·k indices");
        Ok(Stacks { ids, seed })
    }

    /// The paper's set: `k` (3 or 4) stacks, `128·10^k` of them.
    pub fn paper(images: usize, k: u32, seed: u64) -> Result<Stacks> {
        if !(k == 3 || k == 4) {
            bail!("StackedMNIST uses 3 or 4 stacks, not {k}");
        }
        Stacks::draw(images, k, paper_stack_count(k), seed)
    }

    /// Digits per stack.
    pub fn k(&self) -> usize {
        self.ids.ncols()
    }

    /// Number of stacks.
    pub fn len(&self) -> usize {
        self.ids.nrows()
    }

    /// Never true (construction needs a positive count).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream that draws batches of stacks: the same seed as the
    /// stacks, stream 1.
    pub fn batch_rng(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(1);
        rng
    }
}
