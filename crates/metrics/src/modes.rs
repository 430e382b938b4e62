//! StackedMNIST mode counting (Table 1), as the authors' `ModeCollapseEval`:
//! every channel of a generated stack is classified by the MNIST classifier, a
//! sample's mode is its tuple of digits (channel 0 first), and the report gives
//! the number of distinct modes seen and KL(model mode frequencies || uniform over
//! 10^k modes) in nats.

use crate::classifier::MnistClassifier;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Number of samples the protocol draws for `k` stacked digits: 26 * 10^k.
pub fn protocol_samples(k: u32) -> usize {
    26 * 10usize.pow(k)
}

/// The result of mode counting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeCount {
    /// Distinct digit tuples seen.
    pub modes: usize,
    /// KL(model mode frequencies || uniform over 10^stacks), natural log.
    pub kl: f64,
    pub samples: usize,
    pub stacks: usize,
}

/// Digits `[N, k]` (one per channel) of generated stacks `[N, k, 28, 28]` in [0, 1].
pub fn classify_stacks(
    classifier: &MnistClassifier,
    samples: &Tensor,
    batch: usize,
) -> Result<Tensor> {
    let s = samples.size();
    if s.len() != 4 || s[2..] != [28, 28] {
        bail!("expected samples of shape [N, k, 28, 28], got {s:?}");
    }
    let flat = samples.reshape([s[0] * s[1], 1, 28, 28]);
    Ok(classifier.predict(&flat, batch).view([s[0], s[1]]))
}

/// Mode index of digit tuples `[B, k]`: `Σ_j d_j · 10^(k-1-j)`, in
/// `0..10^k`.
pub fn mode_index(tuples: &Tensor) -> Tensor {
    let k = tuples.size()[1];
    let weights: Vec<i64> = (0..k).map(|j| 10i64.pow((k - 1 - j) as u32)).collect();
    let w = Tensor::from_slice(&weights).to_device(tuples.device());
    (tuples.to_kind(Kind::Int64) * w).sum_dim_intlist(1, false, Kind::Int64)
}

/// How many of the digit tuples `[N, k]` (integers 0..=9) fall in each of
/// the `10^k` modes, by [`mode_index`].
pub fn mode_frequencies(digits: &Tensor) -> Result<Vec<i64>> {
    let s = digits.size();
    if s.len() != 2 || s[0] == 0 || s[1] == 0 {
        bail!("expected digits of shape [N, k] with N, k > 0, got {s:?}");
    }
    let d = digits.to_kind(Kind::Int64);
    let (lo, hi) = (d.min().int64_value(&[]), d.max().int64_value(&[]));
    if let Some(bad) = [lo, hi].into_iter().find(|v| !(0..10).contains(v)) {
        bail!("digit {bad} out of 0..=9");
    }
    let modes = 10i64.pow(s[1] as u32);
    Ok(Vec::<i64>::try_from(
        mode_index(&d).bincount::<Tensor>(None, modes),
    )?)
}

impl ModeCount {
    /// The count and KL of per-mode frequencies of `stacks`-digit tuples.
    pub fn from_frequencies(freq: &[i64], stacks: usize) -> ModeCount {
        let n: i64 = freq.iter().sum();
        let log_modes = stacks as f64 * 10f64.ln();
        let kl = freq
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / n as f64;
                p * (p.ln() + log_modes)
            })
            .sum();
        ModeCount {
            modes: freq.iter().filter(|&&c| c > 0).count(),
            kl,
            samples: n as usize,
            stacks,
        }
    }
}

/// Mode count and KL of digit tuples `[N, k]` (integers 0..=9).
pub fn count_modes(digits: &Tensor) -> Result<ModeCount> {
    let freq = mode_frequencies(digits)?;
    Ok(ModeCount::from_frequencies(
        &freq,
        digits.size()[1] as usize,
    ))
}
