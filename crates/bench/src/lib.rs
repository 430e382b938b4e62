//! The workloads of `meg-bench`, at the paper's sizes or at tiny ones (smoke
//! runs), each timed on the project's own code paths: the training loop
//! ([`train_with`]), the latent MALA step, Inception feature extraction,
//! StackedMNIST batch assembly, and a large matrix product as the machine's
//! reference rate. `crates/bench/bench.py` runs the same work in eager
//! PyTorch; `cargo xtask bench` interleaves the two and writes the report.
//! The list of workloads is defined here once: `meg-bench --list --json`
//! prints it ([`list_json`]) for `cargo xtask bench` and `bench.py`.

use anyhow::{bail, Result};
use meg_datasets::stacked::paper_stack_count;
use meg_datasets::ImageSet;
use meg_metrics::InceptionFid;
use meg_models::config::ModelConfig;
use meg_models::data::StackedMnist;
use meg_models::mcmc::{MalaConfig, MalaState};
use meg_models::train::{train_with, TrainOptions};
use meg_models::{Model, RunConfig};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// One benchmark workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// One MEG iteration on the 2-D toy MLPs (width 512, batch 256, 1 G + 5 E steps).
    Toy,
    /// One MEG iteration on the KDD99 MLPs (batch 256, 1 G + 1 E step).
    Kdd,
    /// One MEG iteration on 3-stack StackedMNIST (dim 512, batch 64, 1 G + 5 E steps).
    StackedMnist,
    /// One MEG iteration on CIFAR-10 (dim 512, batch 64, 1 G + 5 E steps).
    Cifar,
    /// FID feature extraction (pool3) of 32x32 images, batch 50.
    Inception,
    /// Assembling one StackedMNIST batch of 64 three-digit stacks.
    Batch,
    /// One latent MALA step (batch 64) on the CIFAR model.
    Mala,
    /// A 4096x4096 float32 matrix product.
    Matmul,
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::Toy,
        Workload::Kdd,
        Workload::StackedMnist,
        Workload::Cifar,
        Workload::Inception,
        Workload::Batch,
        Workload::Mala,
        Workload::Matmul,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Toy => "toy",
            Workload::Kdd => "kdd",
            Workload::StackedMnist => "stackedmnist",
            Workload::Cifar => "cifar",
            Workload::Inception => "inception",
            Workload::Batch => "batch",
            Workload::Mala => "mala",
            Workload::Matmul => "matmul",
        }
    }

    pub fn parse(s: &str) -> Result<Workload> {
        match Workload::ALL.into_iter().find(|w| w.name() == s) {
            Some(w) => Ok(w),
            None => bail!(
                "unknown workload `{s}`: expected one of {}",
                Workload::ALL.map(Workload::name).join(", ")
            ),
        }
    }

    /// Unit of the samples: `ms` (per iteration, step or batch; lower is
    /// better), `images/s` or `GFLOP/s` (higher is better).
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Inception => "images/s",
            Workload::Matmul => "GFLOP/s",
            _ => "ms",
        }
    }

    /// What the workload is to `cargo xtask bench` and `bench.py`.
    pub fn info(self) -> WorkloadInfo {
        // (what one timed unit is, warm-up and timed repetitions per process, target)
        let (what, warmup, iters, min_ratio) = match self {
            Workload::Toy => (
                "MEG iteration, toy MLPs width 512, batch 256, 1 G + 5 E steps",
                3,
                20,
                Some(1.05),
            ),
            Workload::Kdd => (
                "MEG iteration, KDD99 MLPs, batch 256, 1 G + 1 E step",
                5,
                50,
                Some(1.4),
            ),
            Workload::StackedMnist => (
                "MEG iteration, 3-stack StackedMNIST nets dim 512, batch 64, 1 G + 5 E steps",
                1,
                3,
                Some(1.2),
            ),
            Workload::Cifar => (
                "MEG iteration, CIFAR-10 nets dim 512, batch 64, 1 G + 5 E steps",
                1,
                2,
                Some(1.2),
            ),
            Workload::Inception => (
                "FID features (pool3) of 32x32 images resized to 299, batch 50",
                1,
                2,
                Some(1.0),
            ),
            Workload::Batch => (
                "assembling one StackedMNIST batch (64 stacks of 3 from 60,000 images, 128,000 stacks)",
                20,
                500,
                None,
            ),
            Workload::Mala => ("latent MALA step, CIFAR nets dim 512, batch 64", 1, 5, None),
            Workload::Matmul => (
                "4096x4096 float32 matrix product (the machine's reference rate)",
                1,
                5,
                None,
            ),
        };
        WorkloadInfo {
            name: self.name(),
            unit: self.unit(),
            what,
            warmup,
            iters,
            min_ratio,
        }
    }
}

/// One entry of `meg-bench --list --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadInfo {
    pub name: &'static str,
    /// See [`Workload::unit`].
    pub unit: &'static str,
    /// One timed unit at the paper's sizes, in words (the report's description).
    pub what: &'static str,
    /// Untimed repetitions per process in `cargo xtask bench`.
    pub warmup: usize,
    /// Timed repetitions per process in `cargo xtask bench`.
    pub iters: usize,
    /// Least ratio (PyTorch time / ours) asked of the workload, if any.
    pub min_ratio: Option<f64>,
}

/// Every workload's [`WorkloadInfo`], as a JSON array.
pub fn list_json() -> String {
    serde_json::to_string_pretty(&Workload::ALL.map(Workload::info))
        .expect("the workload list serializes")
}

/// The paper's sizes, or tiny ones that run the same code in about a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Paper,
    Smoke,
}

/// The timed repetitions of one workload.
#[derive(Debug)]
pub struct Measurement {
    pub workload: Workload,
    /// One value per timed repetition, in `workload.unit()`.
    pub samples: Vec<f64>,
    /// Trainable scalars of E, G and T (model workloads).
    pub params: Option<(i64, i64, i64)>,
}

/// Waits for the device's queued work (a no-op on the CPU).
fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Milliseconds of each of `iters` calls of `f`, after `warmup` untimed ones.
fn time_ms(device: Device, warmup: usize, iters: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    sync(device);
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            sync(device);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// Image model sizes: `dim` at the paper's scale, 16 for smoke runs.
fn dim(scale: Scale) -> i64 {
    match scale {
        Scale::Paper => 512,
        Scale::Smoke => 16,
    }
}

/// The run config of a training workload: the paper's model, batch, λ and
/// step ratio, on synthetic stand-in data of the real shapes.
pub fn run_config(w: Workload, scale: Scale, iterations: u64) -> Result<RunConfig> {
    let smoke = scale == Scale::Smoke;
    let d = dim(scale);
    // λ of the image runs: the authors' 10 over H·W (see MEG-method.md).
    let (model, data, lambda, batch, k_e) = match w {
        Workload::Toy => (
            format!("{{family: toy, width: {}}}", if smoke { 16 } else { 512 }),
            "{kind: toy, name: 25gaussians}".to_string(),
            0.1,
            256,
            5,
        ),
        Workload::Kdd => (
            "{family: kdd}".into(),
            "{kind: kdd99, synthetic: true}".into(),
            100.0,
            256,
            1,
        ),
        Workload::StackedMnist => (
            format!("{{family: mnist, dim: {d}, channels: 3}}"),
            format!(
                "{{kind: stacked-mnist, stacks: 3, synthetic: true{}}}",
                if smoke { ", count: 100" } else { "" }
            ),
            10.0 / 784.0,
            64,
            5,
        ),
        Workload::Cifar => (
            format!("{{family: cifar, dim: {d}}}"),
            "{kind: cifar10, synthetic: true}".into(),
            10.0 / 1024.0,
            64,
            5,
        ),
        _ => bail!("`{}` is not a training workload", w.name()),
    };
    let batch = if smoke { 4 } else { batch };
    RunConfig::from_yaml(&format!(
        "name: bench-{}\nmodel: {model}\ndata: {data}\nobjective: meg\nlambda: {lambda}\n\
         batch_size: {batch}\nk_e: {k_e}\nk_g: 1\niterations: {iterations}\nseed: 0\n\
         log_every: 1000000000\ncheckpoint_every: 1000000000\n",
        w.name()
    ))
}

/// Milliseconds of each training iteration of `cfg` (run by the training
/// loop itself) after `warmup` ones, dropping the last (it also writes the
/// checkpoint); and the parameter counts.
fn training(
    w: Workload,
    scale: Scale,
    device: Device,
    warmup: usize,
    iters: usize,
) -> Result<Measurement> {
    let cfg = run_config(w, scale, (warmup + iters + 1) as u64)?;
    let dir = tempfile::tempdir()?;
    let mut opts = TrainOptions::new(dir.path(), device);
    opts.log_lines = false;
    let mut ms = Vec::new();
    let mut t = Instant::now();
    // The loop reads each iteration's losses back to check them, so the device is synchronized here.
    let trained = train_with(&cfg, &opts, &mut |_, _| {
        let now = Instant::now();
        ms.push((now - t).as_secs_f64() * 1e3);
        t = now;
    })?;
    ms.truncate(warmup + iters);
    Ok(Measurement {
        workload: w,
        samples: ms.split_off(warmup),
        params: Some(trained.model.parameter_count()),
    })
}

/// Runs workload `w`: `warmup` untimed repetitions, then `iters` timed ones.
pub fn run(
    w: Workload,
    scale: Scale,
    device: Device,
    warmup: usize,
    iters: usize,
) -> Result<Measurement> {
    if iters == 0 {
        bail!("need at least one timed repetition");
    }
    tch::manual_seed(0);
    let smoke = scale == Scale::Smoke;
    let (samples, params) = match w {
        Workload::Toy | Workload::Kdd | Workload::StackedMnist | Workload::Cifar => {
            return training(w, scale, device, warmup, iters)
        }
        Workload::Inception => {
            let n = if smoke { 2 } else { 50 };
            let net = InceptionFid::synthetic(device);
            // Batches come from a loader, on the CPU; pool3 moves them to the device and back.
            let images = Tensor::rand([n, 3, 32, 32], (Kind::Float, Device::Cpu));
            let ms = time_ms(device, warmup, iters, || {
                let _ = net.pool3(&images);
            });
            (ms.iter().map(|m| n as f64 / (m / 1e3)).collect(), None)
        }
        Workload::Batch => {
            let (images, count, batch) = if smoke {
                (100, 50, 4)
            } else {
                (60_000, paper_stack_count(3), 64)
            };
            // Pixel values do not matter to batch assembly: a fixed pattern.
            let train = ImageSet::new(
                ndarray::Array4::from_shape_fn((images, 1, 28, 28), |(i, _, y, x)| {
                    (i * 7 + y * 28 + x) as u8
                }),
                (0..images as i64).map(|i| i % 10).collect(),
            )?;
            let mut set = StackedMnist::new(&train, 3, count, 0, device)?;
            let ms = time_ms(device, warmup, iters, || {
                let _ = set.batch(batch);
            });
            (ms, None)
        }
        Workload::Mala => {
            let n = if smoke { 4 } else { 64 };
            let model = Model::new(
                &ModelConfig::Cifar {
                    dim: dim(scale),
                    z_dim: 128,
                },
                device,
            );
            // The authors' evaluation settings: α 0.01, β 0.2 (exact MALA with the prior).
            let mala = MalaConfig {
                steps: 1,
                alpha: 0.01,
                beta: 0.2,
                prior: None,
                variant: Default::default(),
                clamp: None,
            };
            let target = mala.latent_target(&model);
            let mut s = MalaState::new(&target, &model.sample_z(n));
            let ms = time_ms(device, warmup, iters, || {
                let eps = s.x.randn_like();
                let uniform = Tensor::rand([n], (s.x.kind(), device));
                s = mala.step(&target, &s, &eps, &uniform).next;
            });
            (ms, Some(model.parameter_count()))
        }
        Workload::Matmul => {
            let n = if smoke { 64 } else { 4096 };
            let a = Tensor::randn([n, n], (Kind::Float, device));
            let b = Tensor::randn([n, n], (Kind::Float, device));
            let ms = time_ms(device, warmup, iters, || {
                let _ = a.mm(&b);
            });
            let gflop = 2.0 * (n as f64).powi(3) / 1e9;
            (ms.iter().map(|m| gflop / (m / 1e3)).collect(), None)
        }
    };
    Ok(Measurement {
        workload: w,
        samples,
        params,
    })
}
