//! The Inception Score exactly as torch-fidelity's `isc_features_to_metric`
//! computes it: the rows of the logits are shuffled with
//! `np.random.RandomState(2020).permutation(N)`, cast to float64, soft-maxed over
//! all 1008 logits, cut into `splits` chunks `[i N / splits, (i + 1) N / splits)`,
//! and each chunk scores `exp(mean_x KL(p(y|x) || mean_x p(y|x)))`; the result is
//! the mean and the population standard deviation (`np.std`) of the chunk scores.
//!
//! torch-fidelity feeds it the layer `logits_unbiased` (pool3 times the head's
//! weight, no bias, as in the original TF code); [`crate::InceptionFid`] returns
//! those logits.

use anyhow::{bail, Result};
use rand_mt::Mt;
use tch::{Kind, Tensor};

/// torch-fidelity's default `rng_seed`.
pub const SHUFFLE_SEED: u32 = 2020;

/// `(mean, std)` of the Inception Score of `logits` `[N, C]` over `splits` chunks,
/// shuffled as torch-fidelity does by default.
pub fn inception_score(logits: &Tensor, splits: usize) -> Result<(f64, f64)> {
    inception_score_with(logits, splits, Some(SHUFFLE_SEED))
}

/// [`inception_score`] with the shuffle seed given, or no shuffle for `None`.
pub fn inception_score_with(
    logits: &Tensor,
    splits: usize,
    shuffle: Option<u32>,
) -> Result<(f64, f64)> {
    let size = logits.size();
    if size.len() != 2 {
        bail!("expected logits of shape [N, C], got {size:?}");
    }
    let n = size[0] as usize;
    if splits == 0 || n < splits {
        bail!("the Inception Score over {splits} splits needs at least {splits} samples, got {n}");
    }
    let mut x = logits.to_device(tch::Device::Cpu).to_kind(Kind::Double);
    if let Some(seed) = shuffle {
        let perm = numpy_permutation(n, seed);
        x = x.index_select(0, &Tensor::from_slice(&perm));
    }
    let p = x.softmax(1, Kind::Double);
    let log_p = x.log_softmax(1, Kind::Double);
    let scores: Vec<f64> = (0..splits)
        .map(|i| {
            let (lo, hi) = ((i * n / splits) as i64, ((i + 1) * n / splits) as i64);
            let (pc, lpc) = (p.narrow(0, lo, hi - lo), log_p.narrow(0, lo, hi - lo));
            let q = pc.mean_dim(0, true, Kind::Double);
            let kl = (&pc * (&lpc - q.log())).sum_dim_intlist(1, false, Kind::Double);
            kl.mean(Kind::Double).exp().double_value(&[])
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / splits as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / splits as f64;
    Ok((mean, var.sqrt()))
}

/// `np.random.RandomState(seed).permutation(n)`: MT19937 seeded by `init_genrand`,
/// then numpy's legacy Fisher-Yates shuffle drawing bounded integers by masked
/// rejection sampling.
pub fn numpy_permutation(n: usize, seed: u32) -> Vec<i64> {
    let mut mt = Mt::new(seed);
    let mut v: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        let j = bounded(&mut mt, i as u64);
        v.swap(i, j as usize);
    }
    v
}

/// numpy's legacy `random_interval(max)`: a uniform integer in [0, max].
fn bounded(mt: &mut Mt, max: u64) -> u64 {
    let mut mask = max;
    for s in [1, 2, 4, 8, 16, 32] {
        mask |= mask >> s;
    }
    loop {
        let v = if max <= u32::MAX as u64 {
            mt.next_u32() as u64 & mask
        } else {
            mt.next_u64() & mask
        };
        if v <= max {
            return v;
        }
    }
}
