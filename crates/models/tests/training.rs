//! The training loop: resume determinism, NaN stops, and that a short run learns.

use meg_models::checkpoint::{self, Checkpoint};
use meg_models::train::{read_run_metrics, train, train_with, TrainOptions};
use meg_models::RunConfig;
use std::sync::Mutex;
use tch::{Device, Kind, Tensor};

/// libtorch's RNG is global to the process: tests that depend on seeded
/// trajectories must not interleave their draws.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    tch::set_num_threads(1);
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(extra: &str) -> RunConfig {
    let base = "
name: test
model: {family: toy, width: 16}
data: {kind: toy, name: 8gaussians}
objective: meg
lambda: 0.1
batch_size: 32
iterations: 20
seed: 11
log_every: 5
checkpoint_every: 5
";
    let mut c = RunConfig::from_yaml(base).unwrap();
    let over: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(extra).unwrap_or(serde_yaml_ng::Value::Null);
    if let serde_yaml_ng::Value::Mapping(m) = over {
        let mut v = serde_yaml_ng::to_value(&c).unwrap();
        for (k, val) in m {
            v.as_mapping_mut().unwrap().insert(k, val);
        }
        c = serde_yaml_ng::from_value(v).unwrap();
    }
    c
}

fn quiet(dir: &std::path::Path) -> TrainOptions {
    let mut o = TrainOptions::new(dir, Device::Cpu);
    o.log_lines = false;
    o
}

fn weights(dir: &std::path::Path) -> Vec<(String, Tensor)> {
    let cfg = RunConfig::from_file(&dir.join("config.yaml")).unwrap();
    let m = meg_models::Model::new(&cfg.model, Device::Cpu);
    Checkpoint::read(&dir.join(checkpoint::FILE))
        .unwrap()
        .restore_model(&m)
        .unwrap();
    m.named_variables()
}

#[test]
fn stopped_and_resumed_run_equals_uninterrupted_run() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    for objective in ["meg", "wgan-gp"] {
        let cfg = config(&format!("objective: {objective}"));
        let (a, b) = (
            tmp.path().join(format!("a-{objective}")),
            tmp.path().join(format!("b-{objective}")),
        );
        let full = train(&cfg, &quiet(&a)).unwrap();
        assert_eq!(full.iterations, 20);

        let mut o = quiet(&b);
        o.stop_at = Some(10);
        assert_eq!(train(&cfg, &o).unwrap().iterations, 10);
        assert_eq!(
            Checkpoint::read(&b.join(checkpoint::FILE))
                .unwrap()
                .iteration()
                .unwrap(),
            10
        );
        // Without --resume an existing checkpoint is refused, not overwritten.
        let err = train(&cfg, &quiet(&b))
            .err()
            .expect("refuses to overwrite")
            .to_string();
        assert!(err.contains("--resume"), "{err}");
        let mut o = quiet(&b);
        o.resume = true;
        let resumed = train(&cfg, &o).unwrap();
        assert_eq!(resumed.iterations, 20);
        assert_eq!(
            Checkpoint::read(&b.join(checkpoint::FILE))
                .unwrap()
                .iteration()
                .unwrap(),
            20
        );

        // Same trajectory: identical weights and the same logged values.
        for ((na, ta), (nb, tb)) in weights(&a).iter().zip(weights(&b).iter()) {
            assert_eq!(na, nb);
            assert!(ta.equal(tb), "{objective}: {na} differs after resume");
        }
        let (ra, rb) = (read_run_metrics(&a).unwrap(), read_run_metrics(&b).unwrap());
        let its: Vec<u64> = rb.iter().map(|r| r.iteration).collect();
        assert_eq!(its, [5, 10, 15, 20]);
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(
                (x.iteration, x.e_real, x.e_fake, x.penalty),
                (y.iteration, y.e_real, y.e_fake, y.penalty)
            );
        }
        assert!(a.join("run.json").exists() && b.join("run.json").exists());
    }
}

#[test]
fn a_changed_config_is_not_resumed() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut o = quiet(tmp.path());
    o.stop_at = Some(5);
    train(&config(""), &o).unwrap();
    o.resume = true;
    o.stop_at = None;
    let err = train(&config("lambda: 0.5"), &o)
        .err()
        .expect("config mismatch")
        .to_string();
    assert!(err.contains("differs"), "{err}");
}

#[test]
fn non_finite_values_stop_training_and_keep_the_last_good_checkpoint() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    // A weight turns NaN after iteration 7 (as a diverging run's would); checkpoints every 5.
    let cfg = config("{checkpoint_every: 5, iterations: 50}");
    let mut poison = |it: u64, m: &meg_models::Model| {
        if it == 7 {
            let (_, w) = &m.parameters("E")[0];
            let _ = tch::no_grad(|| w.get(0).fill_(f64::NAN));
        }
    };
    let err = format!(
        "{:#}",
        train_with(&cfg, &quiet(tmp.path()), &mut poison)
            .err()
            .expect("must stop")
    );
    assert!(err.contains("at iteration 8"), "{err}");
    assert!(err.contains("last good checkpoint (iteration 5)"), "{err}");
    let ck = Checkpoint::read(&tmp.path().join(checkpoint::FILE)).unwrap();
    assert_eq!(ck.iteration().unwrap(), 5);
    for (name, t) in weights(tmp.path()) {
        assert!(
            t.isfinite().all().int64_value(&[]) == 1,
            "checkpointed {name} is not finite"
        );
    }
}

#[test]
fn a_smoke_run_puts_low_energy_on_data() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        "{iterations: 300, batch_size: 64, lr: 0.001, log_every: 100, checkpoint_every: 300}",
    );
    let done = train(&cfg, &quiet(tmp.path())).unwrap();
    tch::manual_seed(0);
    let data = meg_models::data::matrix(
        &meg_datasets::toy::ToySampler::new(meg_datasets::toy::Toy::Gaussians8, 99).batch(2000),
        tch::Device::Cpu,
    )
    .unwrap();
    let noise = Tensor::rand([2000, 2], (Kind::Float, Device::Cpu)) * 4.0 - 2.0;
    let (ed, en) = tch::no_grad(|| {
        (
            done.model
                .energy(&data, false)
                .mean(Kind::Float)
                .double_value(&[]),
            done.model
                .energy(&noise, false)
                .mean(Kind::Float)
                .double_value(&[]),
        )
    });
    assert!(
        ed < en - 0.1,
        "E(data) {ed} is not below E(uniform noise) {en}"
    );
}

#[test]
fn epochs_need_a_finite_data_set() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config("");
    cfg.iterations = None;
    cfg.epochs = Some(2);
    let err = train(&cfg, &quiet(tmp.path()))
        .err()
        .expect("toy data is endless")
        .to_string();
    assert!(
        err.contains("endless") && err.contains("iterations"),
        "{err}"
    );
}

/// The data region of a safetensors file starts after the 8-byte header
/// length and the JSON header.
fn data_start(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

#[test]
fn a_flipped_bit_or_an_edited_iteration_is_refused() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config("{iterations: 10}");
    let mut o = quiet(tmp.path());
    o.stop_at = Some(5);
    train(&cfg, &o).unwrap();
    let path = tmp.path().join(checkpoint::FILE);
    let good = std::fs::read(&path).unwrap();
    Checkpoint::read(&path).unwrap().check_config(&cfg).unwrap();

    // One exponent bit of one weight, anywhere in the data.
    let mut bad = good.clone();
    let at = data_start(&bad) + (bad.len() - data_start(&bad)) / 3;
    bad[at] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let err = format!("{:#}", Checkpoint::read(&path).err().expect("corrupt"));
    assert!(err.contains("is corrupt"), "{err}");
    let mut resume = quiet(tmp.path());
    resume.resume = true;
    let err = format!("{:#}", train(&cfg, &resume).err().expect("refused"));
    assert!(err.contains("is corrupt"), "{err}");

    // The iteration count rewritten as 5000 with every other tensor kept.
    std::fs::write(&path, &good).unwrap();
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(&path)
        .unwrap()
        .into_iter()
        .map(|(k, t)| {
            let t = if k == "meta.iteration" {
                Tensor::from(5000i64)
            } else {
                t
            };
            (k, t)
        })
        .collect();
    Tensor::write_safetensors(&tensors, &path).unwrap();
    let err = format!("{:#}", train(&cfg, &resume).err().expect("refused"));
    assert!(err.contains("is corrupt"), "{err}");

    // Intact, but made for another config (copied from another run).
    std::fs::write(&path, &good).unwrap();
    let other = config("{iterations: 10, seed: 12}");
    let err = format!(
        "{:#}",
        Checkpoint::read(&path)
            .unwrap()
            .check_config(&other)
            .unwrap_err()
    );
    assert!(err.contains("made for another run config"), "{err}");
    train(&cfg, &resume).unwrap();
}

#[test]
fn divergence_stops_training_and_the_kept_checkpoint_is_finite_throughout() {
    let _guard = serial();
    for lr in [10000.0, 100.0] {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config(&format!(
            "{{iterations: 2000, lr: {lr}, checkpoint_every: 1, log_every: 1}}"
        ));
        let err = format!(
            "{:#}",
            train(&cfg, &quiet(tmp.path())).err().expect("must stop")
        );
        assert!(
            err.contains("diverged") || err.contains("inf") || err.contains("NaN"),
            "lr {lr}: {err}"
        );
        let path = tmp.path().join(checkpoint::FILE);
        if path.exists() {
            for (name, t) in Tensor::read_safetensors(&path).unwrap() {
                if t.is_floating_point() {
                    assert!(
                        t.isfinite().all().int64_value(&[]) == 1,
                        "lr {lr}: kept checkpoint has non-finite `{name}` ({err})"
                    );
                }
            }
        }
    }
}

/// The hook of a checkpoint iteration runs before that checkpoint is written,
/// so a process killed right after a checkpoint has always run the hook (a
/// live evaluation at that iteration is not lost to a resume).
#[test]
fn the_hook_runs_before_its_iterations_checkpoint() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config("{checkpoint_every: 5, iterations: 15}");
    let ck = tmp.path().join(checkpoint::FILE);
    let mut seen = Vec::new();
    let mut hook = |it: u64, _: &meg_models::Model| {
        let at = ck
            .exists()
            .then(|| Checkpoint::read(&ck).unwrap().iteration().unwrap());
        seen.push((it, at));
    };
    train_with(&cfg, &quiet(tmp.path()), &mut hook).unwrap();
    for (it, at) in seen {
        let last = (it - 1) / 5 * 5;
        assert_eq!(at, (last > 0).then_some(last), "hook at iteration {it}");
    }
}
