//! How the test suite compares numbers, so that every comparison holds on
//! every x86-64 CPU (AVX2 or AVX-512 kernels, MKL's and oneDNN's code paths,
//! any summation order), and still fails on a wrong implementation.
//!
//! # The policy
//! A tolerance is an error bound derived from the computation, never a margin
//! fitted to what one machine produced. Two implementations of the same float
//! arithmetic differ by the round-off of the terms that were combined, so the
//! bound scales with **the magnitude of the quantities that cancel**, not with
//! the result:
//!
//! * **float32**: `|got - want| <= k · U32 · S`, elementwise, where `U32` is the
//!   unit round-off (2⁻²⁴), `S` the magnitude of the terms that were summed or
//!   subtracted to give the value, and `k` a modest count of roundings on the
//!   path (reduction length, depth; 10²–10³ for the networks here, written as a
//!   relative tolerance `k · U32` of 1e-5 to 1e-4). For a difference of two
//!   energies `S = |E₁| + |E₂|`; for a log acceptance ratio the sum of the
//!   absolute terms; for a tensor produced by a layer, the largest magnitude of
//!   the reference tensor (a proxy for `|A||x|` that is never smaller than the
//!   entries of the result). Use [`assert_close_scaled`] with `S` explicit. A
//!   result's own magnitude (`rtol · |want|`, [`assert_close`]) is a valid
//!   scale only where nothing cancels (products, a sum of same-sign terms).
//! * **float64**: by the analysis of the algorithm, written next to the check
//!   (e.g. an eigenvalue that is zero in exact arithmetic comes out as
//!   `±n·U64·λmax`; its square root contributes up to `sqrt(n·U64·λmax)`).
//! * **Random draws** (moments of a sampler, accuracies of trained models):
//!   a bound of several standard errors, stated with the check.
//!
//! `cargo xtask test --numeric-paths` runs the golden and numerics tests under
//! each kernel path one machine can reach (`ATEN_CPU_CAPABILITY`, `MKL_CBWR`,
//! `ONEDNN_MAX_CPU_ISA`); a comparison that passes on one path only is a bug in
//! its tolerance.

use tch::{Kind, Tensor};

/// float32 unit round-off, 2⁻²⁴.
pub const U32: f64 = f32::EPSILON as f64 / 2.0;
/// float64 unit round-off, 2⁻⁵³.
pub const U64: f64 = f64::EPSILON / 2.0;

/// Largest elementwise `|a - b| / (atol + rtol |b|)`; `<= 1` means "close".
pub fn closeness(a: &Tensor, b: &Tensor, rtol: f64, atol: f64) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    ((&a - &b).abs() / (b.abs() * rtol + atol))
        .max()
        .double_value(&[])
}

/// Panics with a readable message unless `|a - b| <= atol + rtol |b|`
/// elementwise. For values where nothing cancels, or with `atol` derived
/// from the magnitude of what does (see the module doc).
#[track_caller]
pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, rtol: f64, atol: f64) {
    let c = closeness(a, b, rtol, atol);
    assert!(
        c <= 1.0,
        "{what}: not close (worst error ratio {c:.3}); got {a:?} expected {b:?}"
    );
}

/// Panics unless `|a - b| <= rtol · scale` elementwise, where `scale`
/// (broadcast to the shape of `b`) is the magnitude of the terms that cancel
/// to give `b`: the condition-aware float32 comparison of the module doc.
#[track_caller]
pub fn assert_close_scaled(what: &str, a: &Tensor, b: &Tensor, scale: &Tensor, rtol: f64) {
    assert_eq!(a.size(), b.size(), "{what}: shape mismatch");
    let d = |t: &Tensor| t.to_kind(Kind::Double);
    let bound = d(scale).abs() * rtol;
    // The smallest positive double keeps an exact zero bound meaningful (0 <= 0).
    let ratio = (d(a) - d(b)).abs() / bound.clamp_min(f64::MIN_POSITIVE);
    let c = ratio.max().double_value(&[]);
    assert!(
        c <= 1.0,
        "{what}: not close (worst error ratio {c:.3} against {rtol:e} of the cancelling terms' magnitude); \
         got {a:?} expected {b:?} scale {scale:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_bound_follows_the_cancelling_terms() {
        // 10.0 - 9.99999 in float32 carries an error of ~U32·10, far above
        // U32 times the result (1e-5): the scaled bound accepts it.
        let a = Tensor::from_slice(&[10.0f32]) - Tensor::from_slice(&[9.99999f32]);
        let want = Tensor::from_slice(&[10.0f64 - 9.99999]);
        assert!(closeness(&a, &want, 1e-3, 0.0) > 1.0);
        assert_close_scaled("difference", &a, &want, &Tensor::from_slice(&[20.0]), 1e-6);
    }

    #[test]
    #[should_panic(expected = "not close")]
    fn scaled_bound_still_catches_a_wrong_value() {
        let a = Tensor::from_slice(&[1.0f32]);
        let want = Tensor::from_slice(&[1.001f64]);
        assert_close_scaled("value", &a, &want, &Tensor::from_slice(&[10.0]), 1e-5);
    }
}
