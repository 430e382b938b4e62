"""Golden values for crates/metrics/tests/numerics.rs:
- pytorch-fid's `calculate_frechet_distance` (scipy `sqrtm`) on random covariance pairs:
  full-rank ones of several sizes and a rank-deficient pair (few samples, as with small
  image sets), for which a 40-digit mpmath value is recorded too (`<case>_fid_mp`): the
  root of a singular product is ill-conditioned, and scipy's value is off in the 8th digit;
- `np.random.RandomState(seed).permutation(n)` for a few n and seeds;
- torch-fidelity's Inception Score (`isc_features_to_metric`, restated below) on random
  logits.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dump  # noqa: E402
from pytorch_fid.fid_score import calculate_frechet_distance  # noqa: E402


def scalar(x):
    return torch.tensor(float(x), dtype=torch.float64)


def isc_features_to_metric(feature, splits=10, shuffle=True, rng_seed=2020):
    """torch-fidelity's metric_isc.isc_features_to_metric (v0.3.0), restated."""
    N, C = feature.shape
    if shuffle:
        r = np.random.RandomState(rng_seed)
        feature = feature[r.permutation(N), :]
    feature = feature.double()
    p = feature.softmax(dim=1)
    log_p = feature.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        p_chunk = p[(i * N // splits): ((i + 1) * N // splits), :]
        log_p_chunk = log_p[(i * N // splits): ((i + 1) * N // splits), :]
        q_chunk = p_chunk.mean(dim=0, keepdim=True)
        kl = p_chunk * (log_p_chunk - q_chunk.log())
        scores.append(kl.sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def random_stats(rng, d, n):
    """mean and N-1 covariance of n random correlated samples in d dimensions."""
    a = rng.randn(d, d) / np.sqrt(d)
    x = rng.randn(n, d) @ a + rng.randn(d)
    return x.mean(0), np.cov(x, rowvar=False)


def fid_mpmath(mu1, s1, mu2, s2):
    """The FID from eigenvalues, in 40-digit arithmetic."""
    import mpmath as mp

    mp.mp.dps = 40
    a, b = mp.matrix(s1.tolist()), mp.matrix(s2.tolist())
    e, q = mp.eigsy(a)
    root = q * mp.diag([mp.sqrt(max(x, 0)) for x in e]) * q.T
    m = root * b * root
    ev, _ = mp.eigsy((m + m.T) / 2)
    d = [mp.mpf(x) for x in mu1 - mu2]
    n = len(d)
    fid = sum(x * x for x in d) + sum(a[i, i] + b[i, i] for i in range(n))
    return fid - 2 * sum(mp.sqrt(max(x, 0)) for x in ev)


def main():
    rng = np.random.RandomState(7)
    t = {}
    cases = [("d4", 4, 50), ("d16", 16, 100), ("d64", 64, 300), ("rank9_d32", 32, 10)]
    for name, d, n in cases:
        mu1, s1 = random_stats(rng, d, n)
        mu2, s2 = random_stats(rng, d, n)
        t.update({f"{name}_mu1": mu1, f"{name}_sigma1": s1, f"{name}_mu2": mu2,
                  f"{name}_sigma2": s2, f"{name}_fid": scalar(calculate_frechet_distance(mu1, s1, mu2, s2))})
    t["rank9_d32_fid_mp"] = scalar(fid_mpmath(t["rank9_d32_mu1"], t["rank9_d32_sigma1"],
                                              t["rank9_d32_mu2"], t["rank9_d32_sigma2"]))

    for n, seed in [(1, 2020), (2, 2020), (10, 2020), (257, 2020), (1000, 0), (5000, 12345)]:
        t[f"perm_{n}_{seed}"] = torch.from_numpy(np.random.RandomState(seed).permutation(n))

    # Peaked, varied class distributions: logits with a few large entries per row.
    logits = torch.from_numpy(rng.randn(103, 100).astype(np.float32) * 2.0)
    logits[torch.arange(103), torch.from_numpy(rng.randint(0, 20, 103))] += 12.0
    t["is_logits"] = logits
    for splits in (10, 3):
        m, s = isc_features_to_metric(logits, splits=splits)
        t[f"is_mean_{splits}"], t[f"is_std_{splits}"] = scalar(m), scalar(s)
    m, s = isc_features_to_metric(logits, splits=10, shuffle=False)
    t["is_mean_noshuffle"], t["is_std_noshuffle"] = scalar(m), scalar(s)

    dump("metrics_numerics.json", t,
         note="pytorch-fid calculate_frechet_distance; numpy RandomState permutations; "
              "torch-fidelity Inception Score")


if __name__ == "__main__":
    main()
