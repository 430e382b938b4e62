//! StackedMNIST mode counting (Table 1), as the authors' `ModeCollapseEval`:
//! every channel of a generated stack is classified by the MNIST classifier, a
//! sample's mode is its tuple of digits (channel 0 first), and the report gives
//! the number of distinct modes seen and KL(model mode frequencies || uniform over
//! 10^k modes) in nats.

use crate::classifier::MnistClassifier;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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

/// Mode count and KL of digit tuples `[N, k]` (integers 0..=9).
pub fn count_modes(digits: &Tensor) -> Result<ModeCount> {
    let s = digits.size();
    if s.len() != 2 || s[0] == 0 || s[1] == 0 {
        bail!("expected digits of shape [N, k] with N, k > 0, got {s:?}");
    }
    let (n, k) = (s[0] as usize, s[1] as usize);
    let d: Vec<i64> = Vec::<i64>::try_from(digits.to_kind(Kind::Int64).flatten(0, -1))?;
    if let Some(bad) = d.iter().find(|v| !(0..10).contains(*v)) {
        bail!("digit {bad} out of 0..=9");
    }
    let mut counts: HashMap<&[i64], usize> = HashMap::new();
    for row in d.chunks(k) {
        *counts.entry(row).or_default() += 1;
    }
    let log_modes = k as f64 * 10f64.ln();
    let kl = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            p * (p.ln() + log_modes)
        })
        .sum();
    Ok(ModeCount {
        modes: counts.len(),
        kl,
        samples: n,
        stacks: k,
    })
}
