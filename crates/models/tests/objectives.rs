//! The MEG and WGAN-GP objectives against PyTorch (tests/golden/models_objectives.py),
//! and the score penalty's parameter gradient against finite differences.

use meg_models::config::ModelConfig;
use meg_models::nets::Model;
use meg_models::objectives::{self, GradientPenalty};
use meg_nn::golden::Golden;
use meg_nn::tolerance::{assert_close, assert_close_scaled};
use tch::{Device, Kind, Tensor};

fn golden_model(g: &Golden) -> Model {
    let m = Model::new(
        &ModelConfig::Toy {
            width: 8,
            z_dim: 2,
            hidden: 3,
        },
        Device::Cpu,
    );
    tch::no_grad(|| {
        for (name, mut v) in m.named_variables() {
            v.copy_(&g.get(&name, Kind::Float).unwrap());
        }
    });
    m
}

fn zero_grads(m: &Model) {
    for (_, v) in m.named_variables() {
        let mut g = v.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
}

/// Compares the parameter gradients of the loss with PyTorch's. A gradient is
/// a sum of the gradients of the loss's terms (`terms`: e.g. mean E(real) and
/// mean E(fake), which cancel exactly in the last bias), so the bound scales
/// with their magnitudes and the result's, over the layer (policy:
/// meg_nn::tolerance).
fn check_grads(g: &Golden, m: &Model, tag: &str, which: &str, terms: &[Tensor]) {
    let params = m.parameters(which);
    assert!(!params.is_empty());
    let inputs: Vec<Tensor> = params.iter().map(|(_, p)| p.shallow_clone()).collect();
    let term_grads: Vec<Vec<Tensor>> = terms
        .iter()
        .map(|t| Tensor::run_backward(&[t], &inputs, true, true))
        .collect();
    for (i, (name, p)) in params.into_iter().enumerate() {
        let want = g.get(&format!("{tag}.grad.{name}"), Kind::Double).unwrap();
        let mut magnitude = want.abs();
        for tg in term_grads.iter().filter(|tg| tg[i].defined()) {
            magnitude = magnitude + tg[i].abs().to_kind(Kind::Double);
        }
        let scale = magnitude.max();
        assert_close_scaled(
            &format!("{tag}: d loss / d {name}"),
            &p.grad(),
            &want,
            &scale,
            1e-4,
        );
    }
}

#[test]
fn meg_energy_step_matches_pytorch() {
    let g = Golden::load("models_objectives.json").unwrap();
    let m = golden_model(&g);
    let (xr, xf) = (
        g.get("x_real", Kind::Float).unwrap(),
        g.get("x_fake", Kind::Float).unwrap(),
    );
    let t = objectives::meg_energy(&m, &xr, &xf, 0.1);
    // mean E(real) - mean E(fake) + λ·penalty: scaled by its terms.
    let terms = t.e_real.abs() + t.e_fake.abs() + t.penalty.abs() * 0.1;
    assert_close_scaled(
        "loss",
        &t.loss,
        &g.get("meg_energy.loss", Kind::Double).unwrap(),
        &terms,
        1e-5,
    );
    assert_close(
        "penalty",
        &t.penalty,
        &g.get("meg_energy.penalty", Kind::Double).unwrap(),
        1e-5,
        1e-7,
    );
    let terms = [
        m.energy(&xr, true).mean(Kind::Float),
        m.energy(&xf, true).mean(Kind::Float),
    ];
    t.loss.backward();
    check_grads(&g, &m, "meg_energy", "E", &terms);
}

#[test]
fn meg_generator_step_matches_pytorch() {
    let g = Golden::load("models_objectives.json").unwrap();
    let m = golden_model(&g);
    let z = g.get("z", Kind::Float).unwrap();
    let perm = g.get("perm", Kind::Int64).unwrap();
    let t = objectives::meg_generator(&m, &z, &perm);
    let terms = t.e_fake.abs() + t.mi.abs();
    assert_close_scaled(
        "loss",
        &t.loss,
        &g.get("meg_generator.loss", Kind::Double).unwrap(),
        &terms,
        1e-5,
    );
    assert_close(
        "mi",
        &t.mi,
        &g.get("meg_generator.mi", Kind::Double).unwrap(),
        1e-5,
        1e-6,
    );
    let terms = [m.energy(&m.generate(&z, true), true).mean(Kind::Float)];
    t.loss.backward();
    check_grads(&g, &m, "meg_generator", "GT", &terms);
}

#[test]
fn wgan_critic_step_matches_pytorch() {
    let g = Golden::load("models_objectives.json").unwrap();
    let m = golden_model(&g);
    let (xr, xf) = (
        g.get("x_real", Kind::Float).unwrap(),
        g.get("x_fake", Kind::Float).unwrap(),
    );
    let alpha = g.get("alpha", Kind::Float).unwrap();
    let t = objectives::wgan_critic(&m, &xr, &xf, &alpha, 10.0, GradientPenalty::PerExample);
    let terms = t.e_real.abs() + t.e_fake.abs() + t.penalty.abs() * 10.0;
    assert_close_scaled(
        "loss",
        &t.loss,
        &g.get("wgan_critic.loss", Kind::Double).unwrap(),
        &terms,
        1e-5,
    );
    assert_close(
        "penalty",
        &t.penalty,
        &g.get("wgan_critic.penalty", Kind::Double).unwrap(),
        1e-5,
        1e-7,
    );
    let terms = [
        m.energy(&xr, true).mean(Kind::Float),
        m.energy(&xf, true).mean(Kind::Float),
    ];
    t.loss.backward();
    check_grads(&g, &m, "wgan_critic", "E", &terms);
}

#[test]
fn score_penalty_gradient_matches_finite_differences() {
    tch::manual_seed(5);
    let mut m = Model::new(
        &ModelConfig::Toy {
            width: 6,
            z_dim: 2,
            hidden: 2,
        },
        Device::Cpu,
    );
    m.e_vs.double();
    let x = Tensor::randn([7, 2], (Kind::Double, Device::Cpu));
    let x_fake = Tensor::randn([7, 2], (Kind::Double, Device::Cpu));
    let penalty = |m: &Model| {
        objectives::meg_energy(m, &x, &x_fake, 1.0)
            .penalty
            .double_value(&[])
    };
    let t = objectives::meg_energy(&m, &x, &x_fake, 1.0);
    zero_grads(&m);
    // Differentiate the penalty alone (the loss's other terms have their own gradients).
    let xr = x.set_requires_grad(true);
    let gx = Tensor::run_backward(&[m.energy(&xr, true).sum(Kind::Double)], &[&xr], true, true)
        .remove(0);
    gx.square().sum(Kind::Double).divide_scalar(7).backward();
    assert!((t.penalty.double_value(&[]) - penalty(&m)).abs() < 1e-12);
    let h = 1e-6;
    let mut checked = 0;
    for (name, p) in m.parameters("E") {
        // The last bias does not reach the input gradient: no gradient at all.
        let grad = if p.grad().defined() {
            p.grad().copy()
        } else {
            p.zeros_like()
        };
        let flat = p.detach().reshape([-1]);
        for i in [0, flat.size()[0] / 2, flat.size()[0] - 1] {
            let orig = flat.double_value(&[i]);
            let set = |v: f64| {
                let _ = tch::no_grad(|| flat.get(i).fill_(v));
            };
            set(orig + h);
            let up = penalty(&m);
            set(orig - h);
            let down = penalty(&m);
            set(orig);
            let fd = (up - down) / (2.0 * h);
            let ad = grad.reshape([-1]).double_value(&[i]);
            assert!(
                (fd - ad).abs() <= 1e-6 + 1e-5 * ad.abs(),
                "{name}[{i}]: finite difference {fd} vs autograd {ad}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 18);
}

/// The explicit passes of `meg_energy` (one forward over the real and fake
/// batches, the backward pass of Σ E by transposed layers, the score's
/// cotangent pulled back up the layers, one weight gradient per layer for
/// both terms) against autograd's double backward, in float64 for every
/// family's E: loss, penalty and E's parameter gradients.
#[test]
fn explicit_score_matches_autograd_double_backward() {
    let configs = [
        ModelConfig::Toy {
            width: 8,
            z_dim: 2,
            hidden: 3,
        },
        ModelConfig::Kdd { z_dim: 4, x_dim: 9 },
        ModelConfig::Mnist {
            dim: 16,
            z_dim: 8,
            channels: 3,
        },
        ModelConfig::Cifar { dim: 16, z_dim: 8 },
        ModelConfig::Celeba { dim: 16, z_dim: 8 },
    ];
    for cfg in configs {
        tch::manual_seed(11);
        let mut m = Model::new(&cfg, Device::Cpu);
        m.e_vs.double();
        let mut shape = vec![5];
        shape.extend(m.x_shape());
        let xr = Tensor::randn(&shape[..], (Kind::Double, Device::Cpu));
        // Fewer fake rows than real ones: the two means weigh rows differently.
        shape[0] = 3;
        let xf = Tensor::randn(&shape[..], (Kind::Double, Device::Cpu));
        let lambda = 0.7;
        assert!(
            m.energy_step(&xr, &xf).is_some(),
            "{cfg:?}: no explicit score pass"
        );
        let t = objectives::meg_energy(&m, &xr, &xf, lambda);

        let x = xr.set_requires_grad(true);
        let er = m.energy(&x, true);
        let ef = m.energy(&xf, true).mean(Kind::Double);
        let gx = Tensor::run_backward(&[er.sum(Kind::Double)], &[&x], true, true).remove(0);
        let penalty = gx
            .square()
            .flatten(1, -1)
            .sum_dim_intlist(1, false, Kind::Double)
            .mean(Kind::Double);
        let loss = er.mean(Kind::Double) - &ef + &penalty * lambda;

        let close = |what: &str, a: &Tensor, b: &Tensor| {
            assert_close(&format!("{cfg:?}: {what}"), a, b, 1e-10, 1e-12);
        };
        close("loss", &t.loss, &loss);
        close("penalty", &t.penalty, &penalty);
        close("E(fake)", &t.e_fake, &ef);
        let params: Vec<Tensor> = m.parameters("E").into_iter().map(|(_, p)| p).collect();
        let ours = Tensor::run_backward(&[&t.loss], &params, false, false);
        let want = Tensor::run_backward(&[&loss], &params, false, false);
        for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
            close(&format!("gradient {i}"), a, b);
        }
    }
}

/// Both WGAN-GP penalties of one image-shaped gradient against PyTorch's
/// expressions (the authors' `gradients.norm(2, dim=1)` for per-pixel).
#[test]
fn gradient_penalties_match_pytorch() {
    let g = Golden::load("models_objectives.json").unwrap();
    let grad = g.get("g_img", Kind::Float).unwrap();
    for (kind, key) in [
        (GradientPenalty::PerExample, "gp_per_example"),
        (GradientPenalty::PerPixel, "gp_per_pixel"),
    ] {
        let ours = objectives::gradient_penalty(&grad, kind);
        let want = g.get(key, Kind::Float).unwrap();
        // A mean of 3 or 60 squares of O(1) values: float32 round-off.
        assert_close_scaled(key, &ours, &want, &want.abs(), 1e-5);
    }
    // The two differ on images, so a test of one cannot pass with the other.
    let (a, b) = (
        objectives::gradient_penalty(&grad, GradientPenalty::PerExample).double_value(&[]),
        objectives::gradient_penalty(&grad, GradientPenalty::PerPixel).double_value(&[]),
    );
    assert!((a - b).abs() > 0.1, "{a} vs {b}");
    // Weights: one per example, or one per element.
    let x = Tensor::zeros([3, 2, 4, 5], (Kind::Float, tch::Device::Cpu));
    assert_eq!(
        objectives::interpolation_weights(&x, GradientPenalty::PerExample).size(),
        [3, 1, 1, 1]
    );
    assert_eq!(
        objectives::interpolation_weights(&x, GradientPenalty::PerPixel).size(),
        [3, 2, 4, 5]
    );
}
