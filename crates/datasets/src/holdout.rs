//! The held-out-digit anomaly split of Table 4.
//!
//! Pool all images (70,000 for MNIST); for held-out class d, shuffle the
//! other classes with a seeded ChaCha8 stream and train on the first 80%
//! (`floor(0.8·n)`); the test set is the remaining 20% plus every image of
//! d, shuffled again by the same stream, with anomaly label 1 for d.

use crate::images::{load_mnist_all, ImageSet, MnistKind};
use crate::store::Store;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A held-out-class split.
#[derive(Debug)]
pub struct Holdout {
    /// The held-out class.
    pub digit: i64,
    /// Training images (never class `digit`), original labels.
    pub train: ImageSet,
    /// Test images, original labels.
    pub test: ImageSet,
    /// One per test image: 1 where it is of class `digit`, else 0.
    pub test_anomaly: Vec<i64>,
}

/// Splits `pool` for held-out class `digit` (0-9) with `seed`.
pub fn holdout_split(pool: &ImageSet, digit: i64, seed: u64) -> Result<Holdout> {
    if !(0..=9).contains(&digit) {
        bail!("held-out digit must be 0-9, not {digit}");
    }
    let labels = &pool.labels;
    let mut others: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] != digit).collect();
    let held: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == digit).collect();
    if held.is_empty() || others.is_empty() {
        bail!(
            "held-out split needs images of class {digit} and of other classes ({} and {})",
            held.len(),
            others.len()
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    others.shuffle(&mut rng);
    let n_train = others.len() * 8 / 10;
    let mut test: Vec<usize> = others[n_train..].to_vec();
    test.extend_from_slice(&held);
    test.shuffle(&mut rng);
    let test_set = pool.select(&test);
    let test_anomaly = test_set
        .labels
        .iter()
        .map(|&l| i64::from(l == digit))
        .collect();
    Ok(Holdout {
        digit,
        train: pool.select(&others[..n_train]),
        test: test_set,
        test_anomaly,
    })
}

/// The Table 4 split of MNIST (or Fashion-MNIST) from the cache.
pub fn mnist_holdout(store: &Store, kind: MnistKind, digit: i64, seed: u64) -> Result<Holdout> {
    holdout_split(&load_mnist_all(store, kind)?, digit, seed)
}
