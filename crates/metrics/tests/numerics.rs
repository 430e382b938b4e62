//! FID statistics and distance, Inception Score, mode counting and the MNIST
//! classifier, against closed forms and the goldens of
//! tests/golden/metrics_numerics.py (pytorch-fid / scipy, numpy, torch-fidelity).

use meg_metrics::fid::{frechet_distance, trace_sqrt_product, trace_sqrt_product_eigh};
use meg_metrics::inception_score::{inception_score, inception_score_with, numpy_permutation};
use meg_metrics::modes::{classify_stacks, count_modes};
use meg_metrics::{classifier::TrainConfig, fid, MnistClassifier, Stats};
use meg_nn::golden::Golden;
use meg_nn::tolerance::U64;
use tch::{Device, Kind, Tensor};

fn golden() -> Golden {
    Golden::load("metrics_numerics.json").unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// Bound on what the square roots of round-off eigenvalues add to an FID: an
/// eigenvalue that is zero in exact arithmetic comes out as about ±n·U64·λmax
/// of an n x n problem, and a positive one adds its square root to
/// Tr sqrt(S1 S2), which the FID counts twice (float64 analysis, policy of
/// meg_nn::tolerance).
fn root_noise(n: i64, lam_max: f64, zeros: i64) -> f64 {
    2.0 * zeros as f64 * (4.0 * n as f64 * U64 * lam_max).sqrt()
}

fn d64(v: &[f64]) -> Tensor {
    Tensor::from_slice(v)
}

#[test]
fn fid_closed_form_for_diagonal_gaussians() {
    // FID(N(m1, diag a), N(m2, diag b)) = |m1 - m2|^2 + sum (sqrt a - sqrt b)^2.
    let (a, b) = ([4.0, 1.0, 0.25, 9.0], [1.0, 1.0, 1.0, 16.0]);
    let (m1, m2) = ([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 5.0, 4.5]);
    let expected: f64 = m1
        .iter()
        .zip(&m2)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        + a.iter()
            .zip(&b)
            .map(|(x, y)| (f64::sqrt(*x) - f64::sqrt(*y)).powi(2))
            .sum::<f64>();
    let got = frechet_distance(&d64(&m1), &d64(&a).diag(0), &d64(&m2), &d64(&b).diag(0)).unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
}

#[test]
fn fid_closed_form_for_commuting_covariances() {
    // S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: Tr sqrt(S1 S2) = sum sqrt(a b).
    tch::manual_seed(3);
    let (q, _) = Tensor::linalg_qr(
        &Tensor::randn([6, 6], (Kind::Double, Device::Cpu)),
        "reduced",
    );
    let a = d64(&[0.5, 1.0, 2.0, 3.0, 5.0, 8.0]);
    let b = d64(&[2.0, 0.1, 1.0, 3.0, 0.3, 4.0]);
    let s1 = (&q * a.unsqueeze(0)).matmul(&q.tr());
    let s2 = (&q * b.unsqueeze(0)).matmul(&q.tr());
    let expected = (&a * &b).sqrt().sum(Kind::Double).double_value(&[]);
    // Positive definite S1: the Cholesky route; the eigendecomposition route agrees.
    for got in [
        trace_sqrt_product(&s1, &s2),
        trace_sqrt_product_eigh(&s1, &s2),
    ] {
        assert!((got - expected).abs() < 1e-10, "{got} vs {expected}");
    }
    // A singular S1 (a zero eigenvalue): the same trace, up to the root of a
    // round-off-sized eigenvalue of the product (λmax = 8 · 4; a trace, so half
    // of the FID's bound).
    let b0 = d64(&[2.0, 0.1, 1.0, 3.0, 0.0, 4.0]);
    let s0 = (&q * b0.unsqueeze(0)).matmul(&q.tr());
    let expected = (&a * &b0).sqrt().sum(Kind::Double).double_value(&[]);
    let tol = root_noise(6, 32.0, 1) / 2.0 + 1e-12;
    for got in [trace_sqrt_product(&s0, &s1), trace_sqrt_product(&s1, &s0)] {
        assert!(
            (got - expected).abs() < tol,
            "{got} vs {expected} (tolerance {tol:e})"
        );
    }
    // Identical distributions are at distance 0.
    let mu = d64(&[1.0, -1.0, 0.0, 2.0, 3.0, 4.0]);
    let zero = frechet_distance(&mu, &s1, &mu, &s1).unwrap();
    assert!(zero.abs() < 1e-10, "{zero}");
}

#[test]
fn fid_matches_scipy_sqrtm_on_random_covariances() {
    let g = golden();
    for case in ["d4", "d16", "d64", "rank9_d32"] {
        let t = |n: &str| g.get(&format!("{case}_{n}"), Kind::Double).unwrap();
        let got = frechet_distance(&t("mu1"), &t("sigma1"), &t("mu2"), &t("sigma2")).unwrap();
        let want = g.scalar(&format!("{case}_fid")).unwrap();
        // The root of a singular product (rank 9 of 32) is ill-conditioned: scipy's
        // value is itself ~1e-8 off, so the rank-deficient case gets 1e-7.
        let tol = if case.starts_with("rank") { 1e-7 } else { 1e-9 };
        assert!(rel(got, want) < tol, "{case}: {got} vs pytorch-fid {want}");
    }
    // ... and against a 40-digit reference ours is closer than scipy's.
    let t = |n: &str| g.get(&format!("rank9_d32_{n}"), Kind::Double).unwrap();
    let got = frechet_distance(&t("mu1"), &t("sigma1"), &t("mu2"), &t("sigma2")).unwrap();
    let (mp, scipy) = (
        g.scalar("rank9_d32_fid_mp").unwrap(),
        g.scalar("rank9_d32_fid").unwrap(),
    );
    assert!(
        rel(got, mp) < 1e-8 && (got - mp).abs() < (scipy - mp).abs(),
        "{got} {mp} {scipy}"
    );
}

#[test]
fn fid_reports_a_failed_square_root_and_handles_singular_covariances() {
    // An infinite variance gives no finite root, even after the 1e-6 I retry:
    // an error, not a number.
    let mu = d64(&[0.0, 0.0]);
    let bad = d64(&[f64::INFINITY, 1.0]).diag(0);
    assert!(frechet_distance(&mu, &bad, &mu, &bad).is_err());
    // Singular covariances (rank 1 each) still give the closed form.
    let s1 = d64(&[1.0, 0.0]).diag(0);
    let s2 = d64(&[0.0, 4.0]).diag(0);
    let got = frechet_distance(&mu, &s1, &mu, &s2).unwrap();
    assert!((got - 5.0).abs() < 1e-12, "{got}");
}

#[test]
fn stats_use_n_minus_1_and_round_trip_through_npz() {
    let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 5.0, 4.0, 0.0]).view([3, 2]);
    let s = Stats::from_features(&x).unwrap();
    let mu: Vec<f64> = Vec::try_from(&s.mu).unwrap();
    assert_eq!(mu, vec![8.0 / 3.0, 7.0 / 3.0]);
    // np.cov([[1,2],[3,5],[4,0]], rowvar=False)
    let want = [[7.0 / 3.0, -5.0 / 6.0], [-5.0 / 6.0, 19.0 / 3.0]];
    for (i, row) in want.iter().enumerate() {
        for (j, w) in row.iter().enumerate() {
            let v = s.sigma.double_value(&[i as i64, j as i64]);
            assert!((v - w).abs() < 1e-12, "sigma[{i},{j}] = {v}, want {w}");
        }
    }
    assert!(Stats::from_features(&x.narrow(0, 0, 1)).is_err());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.npz");
    s.save_npz(&path).unwrap();
    let back = Stats::load_npz(&path).unwrap();
    assert_eq!(back.mu.kind(), Kind::Double);
    assert!(back.mu.equal(&s.mu) && back.sigma.equal(&s.sigma));
    assert!(fid(&s, &back).unwrap().abs() < 1e-12);
    // Mismatched dimensions are an error, not a panic.
    let other = Stats::from_features(&Tensor::ones([4, 3], (Kind::Float, Device::Cpu))).unwrap();
    let err = fid(&s, &other).unwrap_err().to_string();
    assert!(err.contains("dimension"), "{err}");
}

#[test]
fn low_rank_statistics_give_the_same_fid() {
    // N <= D: fid() takes the N x N route through the centred features.
    tch::manual_seed(5);
    let a = Tensor::randn([6, 40], (Kind::Double, Device::Cpu));
    let b = Tensor::randn([9, 40], (Kind::Double, Device::Cpu)) * 1.5 + 0.3;
    let (sa, sb) = (
        Stats::from_features(&a).unwrap(),
        Stats::from_features(&b).unwrap(),
    );
    let fast = fid(&sa, &sb).unwrap();
    // Independent exact form: with S1 = F F^T, S2 = G G^T (centred features over
    // sqrt(N - 1)), Tr sqrt(S1 S2) is the nuclear norm of G^T F.
    let factor =
        |x: &Tensor| (x - x.mean_dim(0, true, Kind::Double)) / ((x.size()[0] - 1) as f64).sqrt();
    let gtf = factor(&b).matmul(&factor(&a).tr());
    let nuclear = gtf.svd(true, false).1.sum(Kind::Double);
    let diff = &sa.mu - &sb.mu;
    let exact = diff.dot(&diff).double_value(&[])
        + sa.sigma.trace().double_value(&[])
        + sb.sigma.trace().double_value(&[])
        - 2.0 * nuclear.double_value(&[]);
    // Tolerances by the float64 analysis (policy: meg_nn::tolerance).
    let eig_max = |m: &Tensor| m.linalg_eigvalsh("L").max().double_value(&[]);
    // Nuclear norm against the SVD of the same matrix: round-off of sums of ~exact terms.
    let terms = diff.dot(&diff).double_value(&[])
        + sa.sigma.trace().double_value(&[])
        + sb.sigma.trace().double_value(&[])
        + 2.0 * nuclear.double_value(&[]);
    assert!(
        (fast - exact).abs() < 1e3 * U64 * terms,
        "{fast} vs {exact}"
    );
    // The D x D route takes roots of the round-off eigenvalues of S1 (rank 5 of
    // 40: 35 of them) and of the product; observed ~1e-6.
    let general = frechet_distance(&sa.mu, &sa.sigma, &sb.mu, &sb.sigma).unwrap();
    let lam = eig_max(&sa.sigma).max(1.0) * eig_max(&sb.sigma).max(1.0);
    let tol = root_noise(40, lam, 35) + 1e3 * U64 * terms;
    assert!(
        (fast - general).abs() < tol,
        "{fast} vs {general} (tolerance {tol:e})"
    );
    // Both factors swapped: the singular values of the transposed matrix.
    assert!((fid(&sb, &sa).unwrap() - fast).abs() < 1e3 * U64 * terms);
    // Loaded statistics (no factor) against low-rank ones: the 6 x 6 eigenproblem
    // F^T S2 F of a rank-5 factor has one zero eigenvalue whose round-off root
    // enters (or, negative, is clamped): up to root_noise(6, λmax, 1), ~1e-7.
    let plain = Stats::new(sb.mu.shallow_clone(), sb.sigma.shallow_clone()).unwrap();
    let fa = factor(&a).tr();
    let lam = eig_max(&fa.tr().matmul(&sb.sigma).matmul(&fa));
    let tol = root_noise(6, lam, 1) + 1e3 * U64 * terms;
    let got = fid(&sa, &plain).unwrap();
    assert!(
        (got - fast).abs() < tol,
        "{got} vs {fast} (tolerance {tol:e})"
    );
}

#[test]
fn invalid_statistics_are_refused_with_the_reason() {
    let eye = Tensor::eye(3, (Kind::Double, Device::Cpu));
    let mu = d64(&[0.0, 1.0, 2.0]);
    let err = |m: &Tensor, s: &Tensor| Stats::new(m.copy(), s.copy()).unwrap_err().to_string();
    assert!(err(&d64(&[0.0, f64::NAN, 2.0]), &eye).contains("`mu` has non-finite"));
    assert!(err(&mu, &(&eye * f64::INFINITY)).contains("`sigma` has non-finite"));
    assert!(err(&mu, &(-&eye)).contains("not positive semi-definite"));
    let skew = eye.copy();
    let _ = skew.get(0).get(1).fill_(0.5);
    assert!(err(&mu, &skew).contains("not symmetric"));
    // A singular covariance with round-off negatives is a covariance.
    let x = Tensor::randn([3, 3], (Kind::Double, Device::Cpu)); // rank 2
    let low = Stats::from_features(&x).unwrap().sigma;
    let nudged = &low - Tensor::eye(3, (Kind::Double, Device::Cpu)) * 1e-12;
    Stats::new(mu.copy(), nudged).unwrap();
}

#[test]
fn npz_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npz");
    std::fs::write(&path, b"not a zip").unwrap();
    let err = format!("{:#}", Stats::load_npz(&path).unwrap_err());
    assert!(err.contains("bad.npz"), "{err}");
    let only_mu = dir.path().join("mu.npz");
    Tensor::write_npz(&[("mu", &d64(&[1.0]))], &only_mu).unwrap();
    let err = format!("{:#}", Stats::load_npz(&only_mu).unwrap_err());
    assert!(err.contains("sigma"), "{err}");
    let wrong = dir.path().join("wrong.npz");
    Tensor::write_npz(
        &[("mu", &d64(&[1.0, 2.0])), ("sigma", &d64(&[1.0]).diag(0))],
        &wrong,
    )
    .unwrap();
    let err = format!("{:#}", Stats::load_npz(&wrong).unwrap_err());
    assert!(err.contains("shape"), "{err}");
}

#[test]
fn permutation_equals_numpy_random_state() {
    let g = golden();
    for (n, seed) in [
        (1, 2020),
        (2, 2020),
        (10, 2020),
        (257, 2020),
        (1000, 0),
        (5000, 12345),
    ] {
        let want: Vec<i64> =
            Vec::<f64>::try_from(g.get(&format!("perm_{n}_{seed}"), Kind::Double).unwrap())
                .unwrap()
                .into_iter()
                .map(|v| v as i64)
                .collect();
        assert_eq!(numpy_permutation(n, seed), want, "n={n} seed={seed}");
    }
}

#[test]
fn inception_score_equals_torch_fidelity() {
    let g = golden();
    let logits = g.get("is_logits", Kind::Float).unwrap();
    for (splits, key) in [(10, "10"), (3, "3")] {
        let (m, s) = inception_score(&logits, splits).unwrap();
        let (wm, ws) = (
            g.scalar(&format!("is_mean_{key}")).unwrap(),
            g.scalar(&format!("is_std_{key}")).unwrap(),
        );
        assert!(
            rel(m, wm) < 1e-9 && rel(s, ws) < 1e-9,
            "splits {splits}: {m} ± {s} vs {wm} ± {ws}"
        );
    }
    let (m, s) = inception_score_with(&logits, 10, None).unwrap();
    let (wm, ws) = (
        g.scalar("is_mean_noshuffle").unwrap(),
        g.scalar("is_std_noshuffle").unwrap(),
    );
    assert!(rel(m, wm) < 1e-9 && rel(s, ws) < 1e-9);
    // One-hot predictions spread evenly over c classes score exactly c.
    let eye = Tensor::eye(5, (Kind::Double, Device::Cpu)) * 200.0;
    let (m, s) = inception_score_with(&eye, 1, None).unwrap();
    assert!((m - 5.0).abs() < 1e-9 && s == 0.0, "{m} {s}");
    assert!(inception_score(&logits.narrow(0, 0, 5), 10).is_err());
}

#[test]
fn mode_counting_known_answers() {
    // Every one of the 100 two-digit modes once: 100 modes, KL 0.
    let all: Vec<i64> = (0..100).flat_map(|m| [m / 10, m % 10]).collect();
    let d = Tensor::from_slice(&all).view([100, 2]);
    let c = count_modes(&d).unwrap();
    assert_eq!((c.modes, c.samples, c.stacks), (100, 100, 2));
    assert!(c.kl.abs() < 1e-12, "{}", c.kl);
    // One mode only: KL = ln(10^k).
    let one = Tensor::from_slice(&[3i64, 1, 4])
        .view([1, 3])
        .repeat([7, 1]);
    let c = count_modes(&one).unwrap();
    assert_eq!(c.modes, 1);
    assert!((c.kl - 1000f64.ln()).abs() < 1e-12);
    // Two modes, 3:1, of 100: KL = 3/4 ln(3/4 * 100) + 1/4 ln(1/4 * 100); tuples are ordered.
    let d = Tensor::from_slice(&[1i64, 2, 1, 2, 1, 2, 2, 1]).view([4, 2]);
    let c = count_modes(&d).unwrap();
    let want = 0.75 * (75f64).ln() + 0.25 * (25f64).ln();
    assert_eq!(c.modes, 2);
    assert!((c.kl - want).abs() < 1e-12);
    assert!(count_modes(&Tensor::from_slice(&[10i64]).view([1, 1])).is_err());
}

/// Ten easily separable 28x28 "digits": class c lights rows 2c+2 and 2c+3.
fn toy_digits(n: i64) -> (Tensor, Tensor) {
    let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(10);
    let x = Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)) * 0.2;
    for i in 0..n {
        let c = labels.int64_value(&[i]);
        let _ = x.get(i).narrow(1, 2 + 2 * c, 2).fill_(1.0);
    }
    (x, labels)
}

/// The small CNN (Fashion-MNIST's classifier) trains with Adam, saves, and
/// loads back as itself (the architecture read from `conv1.weight`), with
/// 128 features; a state dict of neither architecture is refused by name.
#[test]
fn small_cnn_trains_and_loads_as_itself() {
    use meg_metrics::classifier::Arch;
    tch::manual_seed(0);
    let (x, y) = toy_digits(1280);
    let (tx, ty) = toy_digits(200);
    let cfg = TrainConfig {
        epochs: 2,
        ..TrainConfig::for_arch(Arch::SmallCnn)
    };
    let (clf, report) =
        MnistClassifier::fit(Device::Cpu, (&x, &y), (&tx, &ty), &cfg, |_| {}).unwrap();
    assert_eq!(clf.arch(), Arch::SmallCnn);
    assert!(report.final_test_accuracy > 0.95, "{report:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clf.safetensors");
    clf.save(&path).unwrap();
    let back = MnistClassifier::load(&path, Device::Cpu).unwrap();
    assert_eq!(back.arch(), Arch::SmallCnn);
    assert!(back.predict(&tx, 64).equal(&clf.predict(&tx, 64)));
    let (f, _) = back.features_and_logits(&tx, 64).unwrap();
    assert_eq!(f.size(), [200, Arch::SmallCnn.features()]);
    let odd = dir.path().join("odd.safetensors");
    let w = Tensor::zeros([16, 1, 5, 5], (tch::Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("conv1.weight", &w)], &odd).unwrap();
    let err = format!(
        "{:#}",
        MnistClassifier::load(&odd, Device::Cpu).unwrap_err()
    );
    assert!(
        err.contains("[16, 1, 5, 5]") && err.contains("expected"),
        "{err}"
    );
}

#[test]
fn classifier_learns_trains_saves_and_counts_stacks() {
    tch::manual_seed(0);
    let (x, y) = toy_digits(1280);
    let (tx, ty) = toy_digits(200);
    // A faster schedule than the protocol's, so that a few steps suffice.
    let cfg = TrainConfig {
        epochs: 3,
        lr: 0.05,
        momentum: 0.9,
        ..TrainConfig::default()
    };
    let mut lines = vec![];
    let (clf, report) = MnistClassifier::fit(Device::Cpu, (&x, &y), (&tx, &ty), &cfg, |l| {
        lines.push(l.to_string())
    })
    .unwrap();
    assert_eq!(lines.len(), 3);
    assert!(report.final_test_accuracy > 0.95, "{report:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clf.safetensors");
    clf.save(&path).unwrap();
    let back = MnistClassifier::load(&path, Device::Cpu).unwrap();
    assert!(back.predict(&tx, 64).equal(&clf.predict(&tx, 64)));

    // Features and logits (the FID/IS stand-in): the logits are the eval-mode
    // log-probabilities up to their log-normalizer, whatever the batch size.
    let (f, l) = clf.features_and_logits(&tx, 64).unwrap();
    assert_eq!((f.size(), l.size()), (vec![200, 50], vec![200, 10]));
    assert!(f.min().double_value(&[]) >= 0.0, "ReLU features");
    let logp = tch::no_grad(|| clf.forward_t(&tx, false));
    assert!(l
        .log_softmax(1, tch::Kind::Float)
        .allclose(&logp, 1e-5, 1e-5, false));
    let (f7, _) = clf.features_and_logits(&tx, 7).unwrap();
    assert!(f7.allclose(&f, 1e-5, 1e-5, false));
    let err = clf
        .features_and_logits(&tx.view([200, 784]), 64)
        .unwrap_err();
    assert!(err.to_string().contains("[N, 1, 28, 28]"), "{err}");

    // Stacks of 3 channels: channel c of sample i holds digit (i + c) % 10.
    let idx: Vec<i64> = (0..30)
        .flat_map(|i| (0..3).map(move |c| (i + c) % 10))
        .collect();
    let stacks = tx
        .narrow(0, 0, 10)
        .index_select(0, &Tensor::from_slice(&idx))
        .view([30, 3, 28, 28]);
    let digits = classify_stacks(&back, &stacks, 16).unwrap();
    let want = Tensor::from_slice(&idx).view([30, 3]);
    assert!(digits.equal(&want));
    let c = count_modes(&digits).unwrap();
    assert_eq!(c.modes, 10);
}
