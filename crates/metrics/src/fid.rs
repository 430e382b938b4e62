//! Gaussian statistics of features and the Fréchet distance between them, in
//! float64 as pytorch-fid computes them:
//! `FID = ||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2)`, covariances with
//! N - 1 normalization.
//!
//! `Tr sqrt(S1 S2)` is computed from eigenvalues rather than scipy's Schur-based
//! `sqrtm`: for any factor `S1 = F F^T`, `S1 S2` has the eigenvalues of the
//! symmetric PSD matrix `F^T S2 F`, so the trace of its principal square root is
//! `sum_i sqrt(lambda_i)` over them (round-off negatives clamped to 0; pytorch-fid
//! likewise drops scipy's imaginary parts). `F` is the Cholesky factor when `S1`
//! is positive definite (fast: one `eigvalsh`), else the symmetric root
//! `V sqrt(max(w, 0)) V^T` from `S1`'s eigendecomposition. Statistics made from
//! N <= D features keep the low-rank factor `X_c^T / sqrt(N - 1)` (centred
//! features): the eigenproblem becomes N x N, or, when both sides have one,
//! `Tr sqrt(S1 S2)` is the nuclear norm of `G^T F` (exact to round-off, where a
//! D x D root adds the square roots of ~1e-16-sized eigenvalues, as scipy's
//! `sqrtm` does). All in float64 with libtorch's LAPACK. As in pytorch-fid, when
//! the result is not finite, 1e-6 is added to both diagonals and the trace is
//! computed again.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Offset added to both covariance diagonals when the first square root fails.
pub const SQRT_RETRY_EPS: f64 = 1e-6;

/// Mean and covariance of features (float64, on the CPU).
#[derive(Debug)]
pub struct Stats {
    /// `[D]`
    pub mu: Tensor,
    /// `[D, D]`
    pub sigma: Tensor,
    /// `[D, N]` with `sigma = F F^T`, kept when N <= D (a cheaper square root).
    factor: Option<Tensor>,
}

impl Stats {
    /// Statistics of features `[N, D]`, N >= 2 (`np.mean(axis=0)`, `np.cov(rowvar=False)`).
    pub fn from_features(features: &Tensor) -> Result<Self> {
        let size = features.size();
        if size.len() != 2 || size[0] < 2 {
            bail!("need features of shape [N, D] with N >= 2, got {size:?}");
        }
        let x = features.to_device(Device::Cpu).to_kind(Kind::Double);
        let mu = x.mean_dim(0, false, Kind::Double);
        let c = &x - &mu;
        let sigma = c.tr().matmul(&c) / (size[0] - 1) as f64;
        let factor = (size[0] <= size[1]).then(|| c.tr() / ((size[0] - 1) as f64).sqrt());
        Ok(Stats { mu, sigma, factor })
    }

    /// Statistics from a mean `[D]` and covariance `[D, D]`.
    pub fn new(mu: Tensor, sigma: Tensor) -> Result<Self> {
        let d = *mu.size().first().unwrap_or(&0);
        if mu.dim() != 1 || sigma.size() != [d, d] {
            bail!(
                "`mu` has shape {:?} and `sigma` {:?}; expected [D] and [D, D]",
                mu.size(),
                sigma.size()
            );
        }
        let f64cpu = |t: Tensor| t.to_device(Device::Cpu).to_kind(Kind::Double);
        let (mu, sigma) = (f64cpu(mu), f64cpu(sigma));
        validate(&mu, &sigma)?;
        Ok(Stats {
            mu,
            sigma,
            factor: None,
        })
    }

    /// The feature dimension D.
    pub fn dim(&self) -> i64 {
        self.mu.size()[0]
    }

    /// Writes `mu` and `sigma` (float64) as an `.npz` readable by numpy,
    /// pytorch-fid and TTUR; atomically.
    pub fn save_npz(&self, path: &Path) -> Result<()> {
        meg_plumbing::io::write_atomic_with(path, |tmp| {
            Tensor::write_npz(&[("mu", &self.mu), ("sigma", &self.sigma)], tmp)?;
            Ok(())
        })
    }

    /// Reads an `.npz` holding `mu` `[D]` and `sigma` `[D, D]` (any float type,
    /// compressed or not).
    pub fn load_npz(path: &Path) -> Result<Self> {
        let arrays = Tensor::read_npz(path)
            .with_context(|| format!("{}: cannot read as .npz", path.display()))?;
        let get = |name: &str| {
            arrays
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.to_kind(Kind::Double))
                .with_context(|| format!("{}: no array `{name}`", path.display()))
        };
        Self::new(get("mu")?, get("sigma")?).with_context(|| path.display().to_string())
    }

    /// Reads `path` if it exists, else computes the statistics with `compute` and
    /// caches them there (for data-set statistics, computed once).
    pub fn load_or_compute(path: &Path, compute: impl FnOnce() -> Result<Stats>) -> Result<Self> {
        if path.exists() {
            return Self::load_npz(path);
        }
        let s = compute()?;
        s.save_npz(path)?;
        Ok(s)
    }
}

/// Relative tolerance of the covariance checks: asymmetry up to this fraction
/// of the largest entry, negative eigenvalues down to minus this fraction of
/// the largest (round-off of a rank-deficient covariance stored in float32
/// reaches about D·2⁻²⁴ ≈ 1e-4 of it at D = 2048).
pub const COVARIANCE_RTOL: f64 = 1e-3;

/// Statistics must be finite, with a symmetric positive semi-definite
/// covariance (within [`COVARIANCE_RTOL`]): anything else gives a NaN or a
/// negative "distance".
fn validate(mu: &Tensor, sigma: &Tensor) -> Result<()> {
    let finite = |t: &Tensor| t.isfinite().all().int64_value(&[]) == 1;
    if !finite(mu) {
        bail!("`mu` has non-finite entries (NaN or infinity)");
    }
    if !finite(sigma) {
        bail!("`sigma` has non-finite entries (NaN or infinity)");
    }
    let scale = sigma.abs().max().double_value(&[]);
    let asym = (sigma - sigma.tr()).abs().max().double_value(&[]);
    if asym > COVARIANCE_RTOL * scale {
        bail!("`sigma` is not symmetric: entries differ from their transposes by up to {asym:e} (largest entry {scale:e})");
    }
    let ev = symmetric(sigma).linalg_eigvalsh("L");
    let (lo, hi) = (ev.min().double_value(&[]), ev.max().double_value(&[]));
    if lo < -COVARIANCE_RTOL * hi.abs().max(f64::MIN_POSITIVE) {
        bail!("`sigma` is not positive semi-definite: its smallest eigenvalue is {lo:e} (largest {hi:e}); a covariance has none below zero");
    }
    Ok(())
}

/// Statistics of CIFAR-10's 50,000 training images (from the data cache)
/// in `net`'s features, computed once per weight file and cached as
/// `fid-stats/cifar10-train-<weights sha256>.npz` in the data cache.
pub fn cifar10_train_stats(net: &crate::inception::InceptionFid, batch: usize) -> Result<Stats> {
    if net.weights_id().is_empty() {
        bail!("statistics are cached per weight file: load the network from a file");
    }
    let store = meg_datasets::Store::from_env()?;
    let path = store
        .root()
        .join("fid-stats")
        .join(format!("cifar10-train-{}.npz", net.weights_id()));
    Stats::load_or_compute(&path, || {
        let train = meg_datasets::cifar::load_cifar10(&store, meg_datasets::Split::Train)?;
        let pixels = Tensor::try_from(&train.images)?;
        Stats::from_features(&net.features_and_logits(&pixels, batch)?.0)
    })
}

/// FID between two sets of statistics of the same dimension.
pub fn fid(a: &Stats, b: &Stats) -> Result<f64> {
    if a.dim() != b.dim() {
        bail!(
            "statistics of different dimensions: {} against {}",
            a.dim(),
            b.dim()
        );
    }
    // Low-rank factors: with S1 = F F^T and S2 = G G^T, Tr sqrt(S1 S2) is the
    // nuclear norm of G^T F; with one factor, the N x N route; else the D x D one.
    let t = match (&a.factor, &b.factor) {
        (Some(f), Some(g)) => nuclear_norm(&g.tr().matmul(f)),
        (Some(f), None) => trace_sqrt_with_factor(f, &b.sigma),
        (None, Some(g)) => trace_sqrt_with_factor(g, &a.sigma),
        (None, None) => f64::NAN,
    };
    if t.is_finite() {
        return Ok(fid_terms(&a.mu, &a.sigma, &b.mu, &b.sigma) - 2.0 * t);
    }
    frechet_distance(&a.mu, &a.sigma, &b.mu, &b.sigma)
}

/// Sum of the singular values of a matrix.
fn nuclear_norm(m: &Tensor) -> f64 {
    m.linalg_norm_ord_str("nuc", [-2i64, -1].as_slice(), false, None::<Kind>)
        .double_value(&[])
}

/// `||mu1 - mu2||^2 + Tr S1 + Tr S2` (float64 CPU inputs).
fn fid_terms(mu1: &Tensor, s1: &Tensor, mu2: &Tensor, s2: &Tensor) -> f64 {
    let diff = mu1 - mu2;
    diff.dot(&diff).double_value(&[]) + s1.trace().double_value(&[]) + s2.trace().double_value(&[])
}

/// `||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2)`, with pytorch-fid's retry:
/// if the square root is not finite, it is recomputed with `1e-6 I` added to both
/// covariances (the other terms keep the original ones).
pub fn frechet_distance(mu1: &Tensor, s1: &Tensor, mu2: &Tensor, s2: &Tensor) -> Result<f64> {
    let d = |t: &Tensor| t.to_device(Device::Cpu).to_kind(Kind::Double);
    let (mu1, s1, mu2, s2) = (d(mu1), d(s1), d(mu2), d(s2));
    let mut tr_covmean = trace_sqrt_product(&s1, &s2);
    if !tr_covmean.is_finite() {
        eprintln!(
            "warning: FID: the covariance product is singular; adding {SQRT_RETRY_EPS} to the diagonals"
        );
        let eye = Tensor::eye(s1.size()[0], (Kind::Double, Device::Cpu)) * SQRT_RETRY_EPS;
        tr_covmean = trace_sqrt_product(&(&s1 + &eye), &(&s2 + &eye));
    }
    if !tr_covmean.is_finite() {
        bail!("FID: the matrix square root is not finite (are the statistics finite?)");
    }
    Ok(fid_terms(&mu1, &s1, &mu2, &s2) - 2.0 * tr_covmean)
}

/// `Tr sqrt(S1 S2)` for symmetric PSD `S1`, `S2` (float64): Cholesky route when
/// `S1` is positive definite, eigendecomposition route otherwise; NaN when an
/// eigendecomposition fails or is not finite.
pub fn trace_sqrt_product(s1: &Tensor, s2: &Tensor) -> f64 {
    let (l, info) = symmetric(s1).linalg_cholesky_ex(false, false);
    let factor = if info.int64_value(&[]) == 0 {
        Ok(l)
    } else {
        eigen_root(s1)
    };
    factor.map_or(f64::NAN, |f| trace_sqrt_with_factor(&f, s2))
}

/// [`trace_sqrt_product`] always through the eigendecomposition of `S1`.
pub fn trace_sqrt_product_eigh(s1: &Tensor, s2: &Tensor) -> f64 {
    eigen_root(s1).map_or(f64::NAN, |f| trace_sqrt_with_factor(&f, s2))
}

fn symmetric(m: &Tensor) -> Tensor {
    (m + m.tr()) * 0.5
}

/// `sqrt(S) = V sqrt(max(w, 0)) V^T`.
fn eigen_root(s: &Tensor) -> Result<Tensor> {
    let (w, v) = symmetric(s).f_linalg_eigh("L")?;
    Ok((&v * w.clamp_min(0.0).sqrt().unsqueeze(0)).matmul(&v.tr()))
}

/// `sum sqrt(max(eig(F^T S2 F), 0))`.
fn trace_sqrt_with_factor(f: &Tensor, s2: &Tensor) -> f64 {
    let m = symmetric(&f.tr().matmul(s2).matmul(f));
    match m.f_linalg_eigvalsh("L") {
        Ok(ev) => ev.clamp_min(0.0).sqrt().sum(Kind::Double).double_value(&[]),
        Err(_) => f64::NAN,
    }
}
