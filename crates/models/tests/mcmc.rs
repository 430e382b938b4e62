//! MALA (crates/models/src/mcmc.rs): single steps against PyTorch with injected
//! noise (tests/golden/models_mcmc.py), stationary moments on Gaussian targets,
//! the latent prior's N(0, I) target, and the sampler's bookkeeping and config.

use meg_models::config::ModelConfig;
use meg_models::mcmc::{MalaConfig, MalaState, MalaVariant};
use meg_models::nets::Model;
use meg_nn::golden::Golden;
use meg_nn::tolerance::{assert_close, assert_close_scaled};
use std::sync::{Mutex, MutexGuard};
use tch::{Device, Kind, Tensor};

/// libtorch's RNG is global to the process: tests must not interleave their draws
/// (every test here draws, if only to initialize a model), so each holds this lock.
static SERIAL: Mutex<()> = Mutex::new(());

fn seeded(seed: i64) -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    guard
}

fn toy(width: i64) -> Model {
    Model::new(
        &ModelConfig::Toy {
            width,
            z_dim: 2,
            hidden: 3,
        },
        Device::Cpu,
    )
}

fn golden_model(g: &Golden) -> Model {
    let m = toy(8);
    tch::no_grad(|| {
        for (name, mut v) in m.named_variables() {
            v.copy_(&g.get(&name, Kind::Float).unwrap());
        }
    });
    m
}

fn cfg(alpha: f64, beta: f64, prior: Option<bool>, variant: MalaVariant) -> MalaConfig {
    MalaConfig {
        steps: 3,
        alpha,
        beta,
        prior,
        variant,
        clamp: None,
    }
}

#[test]
fn steps_match_pytorch() {
    use MalaVariant::{AuthorsReleased as A, Standard as S};
    let _serial = seeded(0);
    let g = Golden::load("models_mcmc.json").unwrap();
    let m = golden_model(&g);
    let clamped = MalaConfig {
        clamp: Some((-0.5, 0.5)),
        ..cfg(0.5, 5.0, None, A)
    };
    // (case, latent?, config): as `cases` in the script; `None` prior takes the
    // variant's default (on for standard, off for the authors' sampler).
    let cases = [
        ("latent_standard_prior", true, cfg(0.6, 5.0, None, S)),
        (
            "latent_standard_noprior",
            true,
            cfg(0.6, 5.0, Some(false), S),
        ),
        ("latent_authors", true, cfg(0.6, 5.0, None, A)),
        ("latent_authors_prior", true, cfg(0.6, 5.0, Some(true), A)),
        ("visible_standard", false, cfg(0.2, 5.0, None, S)),
        ("visible_authors_clamp", false, clamped),
    ];
    let mut rejected = 0;
    for (name, latent, c) in cases {
        let latent_target = c.latent_target(&m);
        let visible_target = c.visible_target(&m);
        let (target, x0): (&meg_models::mcmc::Target, _) = if latent {
            (&latent_target, "z0")
        } else {
            (&visible_target, "x0")
        };
        let mut s = MalaState::new(target, &g.get(x0, Kind::Float).unwrap());
        for k in 0..3 {
            let get = |what: &str| g.get(&format!("{name}.{k}.{what}"), Kind::Float).unwrap();
            let st = c.step(target, &s, &get("eps"), &get("uniform"));
            let what = |w: &str| format!("{name} step {k}: {w}");
            // y = x - α∇U(x) + sqrt(2α)·ε: scaled by the magnitude of its terms.
            let terms =
                s.x.abs() + s.grad.abs() * c.alpha + get("eps").abs() * (2.0 * c.alpha).sqrt();
            assert_close_scaled(
                &what("proposal"),
                &st.proposal,
                &get("proposal"),
                &terms,
                1e-5,
            );
            // The log ratio is U(x) - U(y) + log q(x|y) - log q(y|x): terms of
            // size ~10 that cancel to ~1e-5 here, so its round-off is a fraction
            // of their magnitude (tolerance policy of meg_nn::tolerance), and
            // the acceptance probability min(1, e^r) carries that error times itself.
            let p = MalaState::new(target, &st.proposal);
            let scale = s.u.abs()
                + p.u.abs()
                + log_q(&c, &(&p.x - &s.x + &s.grad * c.alpha)).abs()
                + log_q(&c, &(&s.x - &p.x + &p.grad * c.alpha)).abs();
            assert_close_scaled(
                &what("log ratio"),
                &st.log_ratio,
                &get("log_ratio"),
                &scale,
                1e-5,
            );
            assert_close_scaled(
                &what("accept prob"),
                &st.accept_prob,
                &get("accept_prob"),
                &(&scale * get("accept_prob")),
                1e-5,
            );
            assert!(
                st.accept.equal(&get("accept").to_kind(Kind::Bool)),
                "{}: {:?}",
                what("accept"),
                st.accept
            );
            assert_close_scaled(&what("next"), &st.next.x, &get("next"), &terms, 1e-5);
            // Network outputs: scaled by the batch's largest (layer proxy).
            for (w, got, want) in [("U", &st.next.u, get("u")), ("E", &st.next.e, get("e"))] {
                assert_close_scaled(&what(w), got, &want, &want.abs().max(), 1e-5);
            }
            rejected += 8 - st.accept.sum(Kind::Int64).int64_value(&[]);
            s = st.next;
        }
    }
    assert!(
        rejected > 20,
        "the golden chains should reject often, got {rejected}"
    );
}

/// log q(to | from) of the variant from `d = to - from + α ∇U(from)`, written
/// from the formulas (MalaConfig::log_q is private).
fn log_q(c: &MalaConfig, d: &Tensor) -> Tensor {
    let n = d
        .flatten(1, -1)
        .square()
        .sum_dim_intlist(1, false, None::<Kind>);
    let n = match c.variant {
        MalaVariant::Standard => n,
        MalaVariant::AuthorsReleased => n.sqrt(),
    };
    n / (-4.0 * c.alpha)
}

/// U(x) = ||x||² / (2σ²) per example.
fn gaussian(sigma: f64) -> impl Fn(&Tensor) -> Tensor {
    move |x: &Tensor| x.square().sum_dim_intlist(1, false, None::<Kind>) / (2.0 * sigma * sigma)
}

fn mala(steps: usize, alpha: f64) -> MalaConfig {
    MalaConfig {
        steps,
        ..cfg(alpha, 1.0, None, MalaVariant::Standard)
    }
}

#[test]
fn gaussian_target_moments() {
    let _serial = seeded(11);
    let sigma = 0.5;
    for dim in [1, 2] {
        // 4000 chains started far off (mean 2), 100 steps at α = 0.2σ².
        let x0 = Tensor::randn([4000, dim], (Kind::Double, Device::Cpu)) * 0.1 + 2.0;
        let chain = mala(100, 0.2 * sigma * sigma)
            .sample(&gaussian(sigma), &x0, &[])
            .unwrap();
        let x = &chain.samples;
        let mean = x.mean(Kind::Double).double_value(&[]);
        let var = x.var(true).double_value(&[]);
        // Standard errors: σ/sqrt(n) = 0.008 (dim 1) for the mean, σ²·sqrt(2/n) = 0.0056 for the variance.
        assert!(mean.abs() < 0.04, "dim {dim}: mean {mean}");
        assert!(
            (var - 0.25).abs() < 0.03,
            "dim {dim}: variance {var} vs 0.25"
        );
        let late = chain.accept_rate[60..].iter().sum::<f64>() / 40.0;
        assert!(late > 0.9, "dim {dim}: acceptance {late}");
        // The U trace falls from its start to the stationary E[U] = dim/2.
        assert!(chain.mean_u[0] > 7.0 * dim as f64);
        let u_end = chain.mean_u[60..].iter().sum::<f64>() / 41.0;
        assert!(
            (u_end - dim as f64 / 2.0).abs() < 0.1,
            "dim {dim}: E[U] {u_end}"
        );
    }
}

#[test]
fn acceptance_falls_with_step_size() {
    let _serial = seeded(12);
    let sigma = 0.5;
    let x0 = Tensor::randn([2000, 2], (Kind::Double, Device::Cpu)) * sigma;
    let rate = |alpha: f64| {
        let c = mala(20, alpha).sample(&gaussian(sigma), &x0, &[]).unwrap();
        c.accept_rate.iter().sum::<f64>() / 20.0
    };
    let (small, mid, large) = (rate(1e-3), rate(0.1), rate(1.0));
    assert!(small > 0.99, "α = 1e-3: {small}");
    assert!(small > mid && mid > large, "{small} > {mid} > {large}");
    assert!(large < 0.1, "α = 1: {large}");
}

#[test]
fn authors_variant_leaves_the_target() {
    let _serial = seeded(14);
    // Chains started at N(0, I) itself: exact MALA keeps it; the authors' unsquared
    // norm in log q is not the proposal's density and shrinks the variance (to ~0.70).
    let x0 = Tensor::randn([4000, 2], (Kind::Double, Device::Cpu));
    let var = |variant| {
        let c = MalaConfig {
            steps: 50,
            ..cfg(0.5, 1.0, None, variant)
        };
        let chain = c.sample(&gaussian(1.0), &x0, &[]).unwrap();
        chain.samples.var(true).double_value(&[])
    };
    let (standard, authors) = (
        var(MalaVariant::Standard),
        var(MalaVariant::AuthorsReleased),
    );
    assert!(
        (standard - 1.0).abs() < 0.07,
        "standard: variance {standard}"
    );
    assert!(authors < 0.8, "authors-released: variance {authors}");
}

#[test]
fn latent_prior_alone_targets_standard_normal() {
    let _serial = seeded(13);
    let m = toy(8);
    // β = 0 leaves U(z) = ||z||²/2: the chain must forget its start (mean 3) and settle at N(0, I).
    let c = MalaConfig {
        steps: 25,
        ..cfg(0.5, 0.0, None, MalaVariant::Standard)
    };
    let z0 = Tensor::randn([2000, 2], (Kind::Float, Device::Cpu)) * 0.1 + 3.0;
    let chain = c.sample_latent(&m, &z0, &[]).unwrap();
    let z = chain.samples.to_kind(Kind::Double);
    let mean = z.mean_dim(0, false, Kind::Double);
    let cov = z.transpose(0, 1).cov(1, None::<Tensor>, None::<Tensor>);
    let eye = Tensor::eye(2, (Kind::Double, Device::Cpu));
    // Standard errors 0.022 (mean) and 0.032 (variances).
    assert_close("mean", &mean, &mean.zeros_like(), 0.0, 0.08);
    assert_close("covariance", &cov, &eye, 0.0, 0.12);
    let rate = chain.accept_rate[10..].iter().sum::<f64>() / 15.0;
    assert!(rate > 0.8, "acceptance {rate}");
}

#[test]
fn sampler_is_reproducible_and_keeps_no_gradients() {
    let _serial = seeded(20);
    let m = toy(8);
    let c = MalaConfig {
        steps: 12,
        ..cfg(0.3, 2.0, None, MalaVariant::Standard)
    };
    let run = || {
        tch::manual_seed(21);
        let z0 = m.sample_z(16);
        (z0.copy(), c.sample_latent(&m, &z0, &[0, 5, 12]).unwrap())
    };
    let ((z0, a), (_, b)) = (run(), run());
    assert!(a.samples.equal(&b.samples));
    assert_eq!(a.accept_rate, b.accept_rate);
    assert_eq!(
        (a.accept_rate.len(), a.mean_u.len(), a.mean_e.len()),
        (12, 13, 13)
    );
    let steps: Vec<usize> = a.snapshots.iter().map(|(t, _)| *t).collect();
    assert_eq!(steps, [0, 5, 12]);
    assert!(a.snapshots[0].1.equal(&z0));
    assert!(a.snapshots[2].1.equal(&a.samples));
    assert!(!a.samples.requires_grad());
    // Sampling also works where the caller has switched gradients off.
    tch::manual_seed(21);
    let z0 = m.sample_z(16);
    let c2 = tch::no_grad(|| c.sample_latent(&m, &z0, &[]).unwrap());
    assert!(c2.samples.equal(&a.samples));
    for (name, p) in m.named_variables() {
        assert!(!p.grad().defined(), "{name} got a gradient");
    }
    // The E trace is E(G(z)) of the chain's states; U adds β·E and the prior.
    let e0 = m.energy(&m.generate(&z0, false), false).mean(Kind::Double);
    let u0 = &e0 * 2.0 + z0.square().sum(Kind::Double) / (2.0 * 16.0);
    assert!((a.mean_e[0] - e0.double_value(&[])).abs() < 1e-5);
    assert!((a.mean_u[0] - u0.double_value(&[])).abs() < 1e-5);
}

#[test]
fn visible_chain_stays_in_the_clamp_range() {
    let _serial = seeded(22);
    let m = toy(8);
    let c = MalaConfig {
        steps: 10,
        clamp: Some((-1.0, 1.0)),
        ..cfg(0.5, 1.0, None, MalaVariant::Standard)
    };
    let x0 = Tensor::rand([64, 2], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
    let chain = c.sample_visible(&m, &x0, &[]).unwrap();
    let x = &chain.samples;
    assert!(x.abs().max().double_value(&[]) <= 1.0);
    assert!(!x.equal(&x0), "the chain should move");
    let e = m.energy(x, false).mean(Kind::Double).double_value(&[]);
    assert!((chain.mean_e[10] - e).abs() < 1e-5);
    let err = c.sample_latent(&m, &m.sample_z(4), &[]).err().unwrap();
    assert!(err.to_string().contains("`clamp`"), "{err}");
}

#[test]
fn config_yaml_defaults_and_validation() {
    let _serial = seeded(0);
    let c: MalaConfig = serde_yaml_ng::from_str("steps: 100\nalpha: 0.01\n").unwrap();
    assert_eq!(
        (c.beta, c.variant, c.clamp),
        (1.0, MalaVariant::Standard, None)
    );
    assert!(c.prior_on());
    let c: MalaConfig =
        serde_yaml_ng::from_str("steps: 5\nalpha: 0.01\nbeta: 0.2\nvariant: authors-released\n")
            .unwrap();
    assert!(!c.prior_on());
    let back: MalaConfig = serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    let e =
        serde_yaml_ng::from_str::<MalaConfig>("steps: 5\nalpha: 0.01\ntemp: 0.2\n").unwrap_err();
    assert!(e.to_string().contains("temp"), "{e}");
    for (yaml, field) in [
        ("steps: 5\nalpha: 0\n", "`alpha`"),
        ("steps: 5\nalpha: 0.1\nbeta: -1\n", "`beta`"),
        ("steps: 5\nalpha: 0.1\nclamp: [1, -1]\n", "`clamp`"),
    ] {
        let c: MalaConfig = serde_yaml_ng::from_str(yaml).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{yaml}: {e}");
    }
    let c = mala(5, 0.1);
    let e = c
        .sample(
            &gaussian(1.0),
            &Tensor::zeros([2, 1], (Kind::Double, Device::Cpu)),
            &[6],
        )
        .err()
        .unwrap();
    assert!(e.to_string().contains("snapshot step 6"), "{e}");
}
