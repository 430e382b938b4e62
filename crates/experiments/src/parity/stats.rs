//! What the parity report measures: the generator's modes and KL at each
//! evaluation iteration (from `samples/<iteration>.safetensors`, written
//! alike by both sides), the seeds' mean and spread, and the verdict rule.

use anyhow::{bail, Context, Result};
use meg_datasets::toy::Toy;
use meg_metrics::classifier::MnistClassifier;
use meg_metrics::modes::{classify_stacks, mode_frequencies, ModeCount};
use serde::Serialize;
use std::path::Path;
use tch::{Kind, Tensor};

/// How generator samples are evaluated.
pub enum Evaluator<'a> {
    /// A toy Gaussian mixture: mode coverage around its centres.
    Toy(Toy),
    /// StackedMNIST with `k` digits: each channel classified.
    Stacks {
        classifier: &'a MnistClassifier,
        k: u32,
    },
}

/// The generator's numbers at one evaluation iteration.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EvalPoint {
    pub iteration: u64,
    /// Toy: modes holding at least 20% of their fair share of the
    /// high-quality samples (meg_metrics::toy::mode_coverage); StackedMNIST:
    /// distinct digit tuples among the samples.
    pub modes: f64,
    /// Toy: share of samples within 3σ of a centre (NaN for StackedMNIST).
    pub high_quality_share: f64,
    /// KL(generator mode frequencies || uniform), in nats (toy: over the
    /// high-quality samples, NaN when there are none).
    pub kl: f64,
}

/// Writes `x` as `samples` to `dir/samples/<iteration>.safetensors`
/// (through a temporary file and a rename); images (`[N, C, H, W]` in
/// [-1, 1]) as uint8 round(255·(x + 1)/2), as reference.py writes them.
pub fn write_samples(dir: &Path, iteration: u64, x: &Tensor) -> Result<()> {
    let x = if x.dim() == 4 {
        ((x + 1.0) / 2.0)
            .clamp(0.0, 1.0)
            .multiply_scalar(255.0)
            .round()
            .to_kind(Kind::Uint8)
    } else {
        x.shallow_clone()
    };
    let d = dir.join("samples");
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let path = d.join(format!("{iteration}.safetensors"));
    let tmp = d.join(format!("{iteration}.safetensors.tmp"));
    Tensor::write_safetensors(&[("samples", &x)], &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))
}

/// Every `samples/<iteration>.safetensors` of `dir`, evaluated by `ev`, in
/// iteration order.
pub fn evaluate_dir(dir: &Path, ev: &Evaluator) -> Result<Vec<EvalPoint>> {
    let d = dir.join("samples");
    let mut its = Vec::new();
    for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(it) = name
            .strip_suffix(".safetensors")
            .and_then(|s| s.parse::<u64>().ok())
        {
            its.push(it);
        }
    }
    its.sort_unstable();
    let mut out = Vec::new();
    for it in its {
        let path = d.join(format!("{it}.safetensors"));
        let tensors = Tensor::read_safetensors(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let Some((_, x)) = tensors.into_iter().find(|(n, _)| n == "samples") else {
            bail!("{}: no tensor `samples`", path.display());
        };
        out.push(evaluate(&x, ev, it).with_context(|| format!("evaluating {}", path.display()))?);
    }
    Ok(out)
}

/// The numbers of samples `x` (toy `[N, 2]`; StackedMNIST uint8 `[N, k, 28, 28]`).
fn evaluate(x: &Tensor, ev: &Evaluator, iteration: u64) -> Result<EvalPoint> {
    match ev {
        Evaluator::Toy(toy) => {
            let Some((centres, std)) = toy.mixture() else {
                bail!(
                    "{} has no modes to count (use 25gaussians or 8gaussians)",
                    toy.name()
                );
            };
            if x.dim() != 2 || x.size()[1] != 2 {
                bail!("`samples` has shape {:?}, expected [N, 2]", x.size());
            }
            let cov = meg_metrics::toy::mode_coverage(x, &centres, std);
            Ok(EvalPoint {
                iteration,
                modes: cov.modes_covered as f64,
                high_quality_share: cov.high_quality_share,
                kl: kl_to_uniform(&cov.counts),
            })
        }
        Evaluator::Stacks { classifier, k } => {
            let s = x.size();
            if s.len() != 4 || s[1..] != [*k as i64, 28, 28] || x.kind() != Kind::Uint8 {
                bail!(
                    "`samples` is {:?} {s:?}, expected uint8 [N, {k}, 28, 28]",
                    x.kind()
                );
            }
            let unit = x.to_kind(Kind::Float) / 255.0;
            let digits = classify_stacks(classifier, &unit, 1000)?;
            let count = ModeCount::from_frequencies(&mode_frequencies(&digits)?, *k as usize);
            Ok(EvalPoint {
                iteration,
                modes: count.modes as f64,
                high_quality_share: f64::NAN,
                kl: count.kl,
            })
        }
    }
}

/// KL(counts / total || uniform over the bins), in nats; NaN for no counts.
pub fn kl_to_uniform(counts: &[usize]) -> f64 {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    let k = counts.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let q = c as f64 / total as f64;
            q * (q * k).ln()
        })
        .sum()
}

/// One quantity's comparison across the seeds of the two sides.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub quantity: String,
    pub ours_mean: f64,
    pub ours_std: f64,
    pub ref_mean: f64,
    pub ref_std: f64,
    pub seeds_ours: usize,
    pub seeds_ref: usize,
    /// |mean ours - mean reference|.
    pub diff: f64,
    /// Twice the standard error of the difference of the means,
    /// 2·sqrt(s_o²/n_o + s_r²/n_r) (sample standard deviations, N-1).
    pub threshold: f64,
    /// `diff <= threshold`; None when a side has no finite value (e.g. the
    /// KL of a generator with no sample near any mode).
    pub agree: Option<bool>,
}

/// The verdict on `quantity` from per-seed values of each side: the two
/// implementations agree when their means differ by at most twice the
/// standard error of the difference (seed-to-seed variation).
pub fn verdict(quantity: &str, ours: &[f64], reference: &[f64]) -> Verdict {
    let (mo, so) = crate::target::mean_std(ours);
    let (mr, sr) = crate::target::mean_std(reference);
    let se = (so * so / ours.len() as f64 + sr * sr / reference.len() as f64).sqrt();
    let diff = (mo - mr).abs();
    Verdict {
        quantity: quantity.to_string(),
        ours_mean: mo,
        ours_std: so,
        ref_mean: mr,
        ref_std: sr,
        seeds_ours: ours.len(),
        seeds_ref: reference.len(),
        diff,
        threshold: 2.0 * se,
        agree: (diff.is_finite() && se.is_finite()).then_some(diff <= 2.0 * se),
    }
}

/// Per x, (mean, mean - std, mean + std) of the seeds' values at that x
/// (x present in every seed's curve only).
pub fn band(curves: &[Vec<(f64, f64)>]) -> Vec<(f64, f64, f64, f64)> {
    let Some(first) = curves.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter_map(|&(x, _)| {
            let ys: Vec<f64> = curves
                .iter()
                .filter_map(|c| c.iter().find(|p| p.0 == x).map(|p| p.1))
                .collect();
            (ys.len() == curves.len()).then(|| {
                let (m, s) = crate::target::mean_std(&ys);
                (x, m, m - s, m + s)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_for_uniform_and_ln_k_for_one_mode() {
        assert_eq!(kl_to_uniform(&[5, 5, 5, 5]), 0.0);
        assert!((kl_to_uniform(&[0, 9, 0, 0]) - 4f64.ln()).abs() < 1e-12);
        assert!(kl_to_uniform(&[0, 0]).is_nan());
    }

    #[test]
    fn verdict_compares_the_difference_with_twice_the_standard_error() {
        // Means 1 and 2, sample std 1 each over 3 seeds: 2·sqrt(2/3) = 1.633 > 1.
        let v = verdict("q", &[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((v.threshold - 2.0 * (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(v.agree == Some(true) && v.diff == 1.0);
        // The same spread, means 5 apart: differ.
        assert_eq!(
            verdict("q", &[0.0, 1.0, 2.0], &[5.0, 6.0, 7.0]).agree,
            Some(false)
        );
        // Undefined values: no verdict.
        assert_eq!(
            verdict("q", &[f64::NAN, 1.0, 2.0], &[5.0, 6.0, 7.0]).agree,
            None
        );
    }

    #[test]
    fn band_keeps_shared_points_with_mean_and_spread() {
        let b = band(&[vec![(1.0, 1.0), (2.0, 4.0)], vec![(1.0, 3.0)]]);
        assert_eq!(b.len(), 1);
        let (x, m, lo, hi) = b[0];
        assert_eq!((x, m), (1.0, 2.0));
        assert!((hi - m - 2f64.sqrt()).abs() < 1e-12 && (m - lo - 2f64.sqrt()).abs() < 1e-12);
    }
}
