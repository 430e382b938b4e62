//! The networks of every family against the authors' classes run in PyTorch
//! (tests/golden/models_nets.py): E, T, G in train and eval mode, BatchNorm
//! running statistics, the input gradient, the score penalty and its parameter
//! gradients (double backward), parameter counts; then shapes and the
//! initialization rules of freshly built models.

use meg_models::config::ModelConfig;
use meg_models::nets::Model;
use meg_models::objectives;
use meg_nn::golden::Golden;
use meg_nn::tolerance::{assert_close, assert_close_scaled};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// The golden families and sizes (as `GOLDEN_SIZES` in the script) and batch sizes.
fn golden_families() -> [(&'static str, ModelConfig, i64); 4] {
    [
        (
            "mnist",
            ModelConfig::Mnist {
                dim: 16,
                z_dim: 8,
                channels: 3,
            },
            3,
        ),
        ("cifar", ModelConfig::Cifar { dim: 16, z_dim: 8 }, 3),
        ("celeba", ModelConfig::Celeba { dim: 8, z_dim: 8 }, 2),
        (
            "kdd",
            ModelConfig::Kdd {
                z_dim: 32,
                x_dim: 121,
            },
            5,
        ),
    ]
}

/// A toy family of width 8 (2-8-8-8-1 E).
fn small_toy() -> ModelConfig {
    ModelConfig::Toy {
        width: 8,
        z_dim: 2,
        hidden: 3,
    }
}

/// The golden families and [`small_toy`].
fn every_family() -> impl Iterator<Item = ModelConfig> {
    golden_families()
        .map(|(_, c, _)| c)
        .into_iter()
        .chain([small_toy()])
}

/// Honors `MEG_THREADS` (libtorch's thread pool spins badly on a busy machine).
fn threads() {
    meg_nn::set_threads_from_env().unwrap();
}

/// Penalty gradients are stored for parameters of at most this many scalars.
const MAX_GRAD_NUMEL: i64 = 4096;

/// `pattern` of the golden script: ((7919 i + 104729 j) mod 2001) / 1000 - 1
/// over the flat index i, in float64.
fn pattern(shape: &[i64], j: i64) -> Tensor {
    let n: i64 = shape.iter().product();
    let i = Tensor::arange(n, (Kind::Int64, Device::Cpu));
    ((i * 7919 + j * 104729)
        .remainder(2001)
        .to_kind(Kind::Double)
        / 1000.0
        - 1.0)
        .reshape(shape)
}

/// Our float32 result against a float64 reference: relative 1e-4, absolute
/// 1e-5 of the reference's largest magnitude. Batches of images are compared
/// after 4x4 average pooling, as the golden file stores them.
#[track_caller]
fn check(what: &str, got: &Tensor, want: &Tensor) {
    let got = if got.dim() == 4 && want.dim() == 4 && got.size() != want.size() {
        got.avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None)
    } else {
        got.shallow_clone()
    };
    let scale = want.abs().max().double_value(&[]);
    assert_close(what, &got, want, 1e-4, 1e-5 * scale.max(1e-10));
}

/// A model of the family with the golden file's weights.
fn golden_model(g: &Golden, fam: &str, cfg: &ModelConfig) -> Model {
    let m = Model::new(cfg, Device::Cpu);
    let vars = m.named_variables();
    assert_eq!(
        vars.len() as f64,
        g.scalar(&format!("{fam}.n_vars")).unwrap(),
        "{fam}: number of variables"
    );
    tch::no_grad(|| {
        for (j, (name, mut v)) in vars.into_iter().enumerate() {
            let want = if fam == "kdd" {
                // Too many weights to store: both sides fill them from `pattern`.
                let shape = g.get(&format!("kdd.shape.{name}"), Kind::Int64).unwrap();
                assert_eq!(v.size(), Vec::<i64>::try_from(&shape).unwrap(), "{name}");
                let scale = if v.dim() == 2 {
                    (6.0 / v.size()[1] as f64).sqrt()
                } else {
                    0.1
                };
                pattern(&v.size(), j as i64) * scale
            } else {
                g.get(&format!("{fam}.{name}"), Kind::Double).unwrap()
            };
            assert_eq!(v.size(), want.size(), "{fam}: shape of {name}");
            v.copy_(&want);
        }
    });
    m
}

#[test]
fn every_family_matches_the_authors_nets_in_pytorch() {
    threads();
    let g = Golden::load("models_nets.json").unwrap();
    for (fam, cfg, n) in golden_families() {
        let get = |k: &str| g.get(&format!("{fam}.{k}"), Kind::Double).unwrap();
        let m = golden_model(&g, fam, &cfg);
        let (e, gen, t) = m.parameter_count();
        assert_eq!(
            Tensor::from_slice(&[e, gen, t]).to_kind(Kind::Double),
            get("count"),
            "{fam}: parameter counts (E, G, T)"
        );

        let mut shape = vec![n];
        shape.extend(m.x_shape());
        let x = pattern(&shape, 1000)
            .to_kind(Kind::Float)
            .set_requires_grad(true);
        let z = g.get(&format!("{fam}.z"), Kind::Float).unwrap();

        // E(x), its input gradient, the score penalty and the penalty's gradient.
        let energy = m.energy(&x, true);
        check(&format!("{fam}: E(x)"), &energy, &get("energy"));
        let gx = Tensor::run_backward(&[energy.sum(Kind::Float)], &[&x], true, true).remove(0);
        check(&format!("{fam}: grad_x E"), &gx, &get("grad_x"));
        let penalty = gx
            .square()
            .flatten(1, -1)
            .sum_dim_intlist(1, false, Kind::Float)
            .mean(Kind::Float);
        check(&format!("{fam}: penalty"), &penalty, &get("penalty"));
        let from_objective = objectives::meg_energy(&m, &x, &x.detach(), 1.0).penalty;
        check(
            &format!("{fam}: meg_energy penalty"),
            &from_objective,
            &get("penalty"),
        );
        penalty.backward();
        let mut checked = 0;
        for (name, p) in m.parameters("E") {
            if p.numel() as i64 > MAX_GRAD_NUMEL {
                continue;
            }
            // E's last bias does not reach grad_x: no gradient at all.
            let grad = if p.grad().defined() {
                p.grad()
            } else {
                p.zeros_like()
            };
            check(
                &format!("{fam}: d penalty / d {name}"),
                &grad,
                &get(&format!("penalty_grad.{name}")),
            );
            checked += 1;
        }
        assert!(checked >= 5, "{fam}: only {checked} penalty gradients");

        check(
            &format!("{fam}: T(x, z)"),
            &m.statistics(&x.detach(), &z, true),
            &get("statistics"),
        );

        // G in train mode (batch statistics, updating the running ones), then eval mode.
        check(
            &format!("{fam}: G(z) train"),
            &m.generate(&z, true),
            &get("g_train"),
        );
        for (name, v) in m.named_variables() {
            if name.contains("running_") {
                check(
                    &format!("{fam}: {name} after a train-mode pass"),
                    &v,
                    &get(&format!("after.{name}")),
                );
            }
        }
        check(
            &format!("{fam}: G(z) eval"),
            &m.generate(&z, false),
            &get("g_eval"),
        );
    }
}

#[test]
fn parameter_counts_match_pytorch_at_the_paper_sizes() {
    threads();
    let g = Golden::load("models_nets.json").unwrap();
    let paper = [
        (
            "mnist",
            ModelConfig::Mnist {
                dim: 512,
                z_dim: 128,
                channels: 3,
            },
        ),
        (
            "mnist1",
            ModelConfig::Mnist {
                dim: 512,
                z_dim: 128,
                channels: 1,
            },
        ),
        (
            "cifar",
            ModelConfig::Cifar {
                dim: 512,
                z_dim: 128,
            },
        ),
        (
            "celeba",
            ModelConfig::Celeba {
                dim: 512,
                z_dim: 128,
            },
        ),
        (
            "kdd",
            ModelConfig::Kdd {
                z_dim: 32,
                x_dim: 121,
            },
        ),
    ];
    for (name, cfg) in paper {
        let (e, gen, t) = Model::new(&cfg, Device::Cpu).parameter_count();
        let want = g.get(&format!("paper.{name}.count"), Kind::Int64).unwrap();
        assert_eq!(
            Tensor::from_slice(&[e, gen, t]),
            want,
            "{name}: parameter counts (E, G, T)"
        );
    }
}

#[test]
fn shapes_of_every_family() {
    threads();
    tch::manual_seed(0);
    let toy = small_toy();
    for cfg in every_family() {
        let m = Model::new(&cfg, Device::Cpu);
        let z = m.sample_z(4);
        assert_eq!(z.size(), [4, cfg.z_dim()]);
        let mut want = vec![4];
        want.extend(cfg.x_shape());
        assert_eq!(m.x_shape(), cfg.x_shape());
        for train in [true, false] {
            let x = m.generate(&z, train);
            assert_eq!(x.size(), want, "{cfg:?}");
            assert_eq!(m.energy(&x, train).size(), [4]);
            let t = m.statistics(&x, &z, train);
            assert_eq!(t.size(), [4]);
            // G's in-place activations keep the graph valid (autograd would panic);
            // in train mode (the generator step's), gradients reach every layer's
            // weight (biases before a train-mode BatchNorm get none, up to rounding).
            (m.energy(&x, train) + t).sum(Kind::Float).backward();
            if train {
                for (name, p) in m.parameters("G") {
                    if !name.ends_with("weight") {
                        continue;
                    }
                    let norm = p.grad().norm().double_value(&[]);
                    assert!(norm.is_finite() && norm > 0.0, "{cfg:?} {name}: {norm}");
                }
            }
        }
        // tanh output in image families.
        if want.len() == 4 {
            let x = m.generate(&z, true);
            assert!(x.abs().max().double_value(&[]) <= 1.0);
        }
    }
    // 2-8-8-8-1: (2*8+8) + 2*(8*8+8) + (8+1) = 177; G 2-8-8-8-2: 24+144+18 = 186; T 4-...-1: 40+144+9.
    let m = Model::new(&toy, Device::Cpu);
    assert_eq!(m.parameter_count(), (177, 186, 193));
    assert_eq!(m.named_variables().len(), 24);
}

/// T on the MI estimator's pairs, `[T(x, z); T(x, z')]`, equals T on the
/// stacked batches (conv nets encode x once), in value and in the gradients
/// of T's parameters and of x.
#[test]
fn statistics_on_pairs_equal_statistics_on_stacked_batches() {
    threads();
    for cfg in every_family() {
        tch::manual_seed(5);
        let m = Model::new(&cfg, Device::Cpu);
        let mut shape = vec![6];
        shape.extend(m.x_shape());
        let x = Tensor::randn(&shape[..], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let (z, z_marg) = (m.sample_z(6), m.sample_z(6));
        let mut inputs: Vec<Tensor> = m.parameters("T").into_iter().map(|(_, p)| p).collect();
        inputs.push(x.shallow_clone());
        let w = Tensor::randn([12], (Kind::Float, Device::Cpu));
        let grads =
            |t: &Tensor| Tensor::run_backward(&[(t * &w).sum(Kind::Float)], &inputs, false, false);
        let pairs = m.statistics_pairs(&x, &z, &z_marg, true);
        let stacked = m.statistics(
            &Tensor::cat(&[&x, &x], 0),
            &Tensor::cat(&[&z, &z_marg], 0),
            true,
        );
        assert_eq!(pairs.size(), [12], "{cfg:?}");
        assert_close(&format!("{cfg:?}: T"), &pairs, &stacked, 1e-5, 1e-6);
        // A gradient sums the 12 rows' contributions; some cancel to round-off
        // in exact arithmetic (a parameter before a BatchNorm), so the bound
        // scales with the sum of the rows' magnitudes (policy:
        // meg_nn::tolerance), computed row by row.
        let mut magnitude: Vec<Tensor> = inputs.iter().map(|t| t.zeros_like()).collect();
        for r in 0..12 {
            let row = Tensor::run_backward(&[(stacked.get(r) * w.get(r))], &inputs, true, false);
            for (m, g) in magnitude.iter_mut().zip(&row) {
                if g.defined() {
                    *m = &*m + g.abs();
                }
            }
        }
        for (i, ((a, b), m)) in grads(&pairs)
            .iter()
            .zip(&grads(&stacked))
            .zip(&magnitude)
            .enumerate()
        {
            let scale = m.abs().max();
            assert!(
                scale.double_value(&[]) > 0.0,
                "{cfg:?}: gradient {i} is zero"
            );
            assert_close_scaled(&format!("{cfg:?}: gradient {i}"), a, b, &scale, 1e-5);
        }
    }
}

/// Mean and standard deviation of all the tensors' entries together.
fn mean_std(ts: &[Tensor]) -> (f64, f64) {
    let all = Tensor::cat(&ts.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(), 0)
        .to_kind(Kind::Double);
    (
        all.mean(Kind::Double).double_value(&[]),
        all.std(true).double_value(&[]),
    )
}

#[test]
fn fresh_weights_follow_the_init_rules() {
    threads();
    tch::manual_seed(1);
    // (family, whether the authors' `weights_init` applies)
    let cases = [
        (
            ModelConfig::Mnist {
                dim: 128,
                z_dim: 16,
                channels: 1,
            },
            true,
        ),
        (
            ModelConfig::Cifar {
                dim: 128,
                z_dim: 16,
            },
            true,
        ),
        (ModelConfig::Celeba { dim: 16, z_dim: 16 }, false),
        (
            ModelConfig::Kdd {
                z_dim: 32,
                x_dim: 121,
            },
            false,
        ),
    ];
    for (cfg, dcgan) in cases {
        let m = Model::new(&cfg, Device::Cpu);
        let vars: BTreeMap<String, Tensor> = m.named_variables().into_iter().collect();
        let (mut conv_w, mut bn_w) = (Vec::new(), Vec::new());
        let all = |t: &Tensor, v: f64| t.eq(v).all().int64_value(&[]) == 1;
        for (name, v) in &vars {
            let (stem, leaf) = name.rsplit_once('.').unwrap();
            let is_bn = vars.contains_key(&format!("{stem}.running_mean"));
            let weight = &vars[&format!("{stem}.weight")];
            match leaf {
                "running_mean" | "bias" if is_bn => assert!(all(v, 0.0), "{name}"),
                "running_var" => assert!(all(v, 1.0), "{name}"),
                "weight" if is_bn && dcgan => bn_w.push(v.shallow_clone()),
                "weight" if is_bn => assert!(all(v, 1.0), "{name}"),
                "weight" if dcgan && v.dim() == 4 => conv_w.push(v.shallow_clone()),
                _ => {
                    // PyTorch's default: U(-b, b), b = 1/sqrt(fan_in), the fan-in of a
                    // (transposed) conv or Linear weight being size(1)·kernel area.
                    let fan_in: i64 = weight.size()[1..].iter().product();
                    let b = 1.0 / (fan_in as f64).sqrt();
                    let max = v.abs().max().double_value(&[]);
                    assert!(max <= b, "{name}: max {max} above the bound {b}");
                    if v.numel() >= 200 {
                        assert!(max > 0.9 * b, "{name}: max {max} far below the bound {b}");
                    }
                }
            }
        }
        if dcgan {
            let (mean, std) = mean_std(&conv_w);
            assert!(
                mean.abs() < 1e-3 && (std - 0.02).abs() < 1e-3,
                "{cfg:?} conv weights: {mean} {std}"
            );
            let (mean, std) = mean_std(&bn_w);
            assert!(
                (mean - 1.0).abs() < 0.01 && (std - 0.02).abs() < 0.004,
                "{cfg:?} BN weights: {mean} {std}"
            );
        }
    }
}
