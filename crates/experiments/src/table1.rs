//! Table 1: StackedMNIST mode counting. MEG and the WGAN-GP baseline are
//! trained on 3- and 4-digit stacks; `26·10^k` generated samples (fewer in
//! reduced profiles) are classified channel by channel by the MNIST
//! classifier; the number of distinct digit tuples and KL(model mode
//! frequencies || uniform) are reported.

use crate::classifier::{classifier, ClassifierReport};
use crate::results::{RunResult, TrainedRun};
use crate::samples::{generate, generate_from, grid, to_unit};
use crate::spec::{EvalSettings, Experiment};
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Context, Result};
use meg_datasets::MnistKind;
use meg_metrics::classifier::MnistClassifier;
use meg_metrics::modes::{classify_stacks, mode_frequencies, protocol_samples, ModeCount};
use meg_models::config::{DataConfig, Objective};
use meg_reports::plot::{self, LinePlot, Series};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The evaluation settings a profile may give (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    /// Samples to classify per run; the protocol's `26·10^k` when absent.
    pub samples: Option<usize>,
    /// Generator batch size while sampling.
    pub batch: i64,
    /// Seed of the evaluation samples.
    pub seed: i64,
    /// Epochs of the mode-counting classifier when it is trained here.
    pub classifier_epochs: usize,
    /// Its learning rate (the architecture's default when absent).
    pub classifier_lr: Option<f64>,
    /// The test accuracy it must reach (none when absent).
    pub classifier_min_accuracy: Option<f64>,
    /// Also count modes every this many iterations while training, on
    /// `samples` from one fixed draw of z (a trajectory plot); none when
    /// absent.
    pub modes_every: Option<u64>,
}

impl Default for Eval {
    fn default() -> Self {
        Eval {
            samples: None,
            batch: 500,
            seed: 1234,
            classifier_epochs: 10,
            classifier_lr: None,
            classifier_min_accuracy: None,
            modes_every: None,
        }
    }
}

impl EvalSettings for Eval {}

impl Eval {
    /// How the mode-counting classifier is trained when it is not cached.
    fn training(&self) -> crate::classifier::Training {
        crate::classifier::Training {
            epochs: self.classifier_epochs,
            lr: self.classifier_lr,
            min_accuracy: self.classifier_min_accuracy,
        }
    }
}

/// A run's stack count, digit data set and whether it is synthetic; an
/// error naming the spec for a run that is not on stacked-mnist data.
fn stacked(exp: &Experiment, run: &crate::target::Run) -> Result<(u32, MnistKind, bool)> {
    match run.cfg.data {
        DataConfig::StackedMnist {
            stacks,
            dataset,
            synthetic,
            ..
        } => Ok((stacks, dataset, synthetic)),
        _ => bail!(
            "{}: run `{}` must use stacked-mnist data",
            exp.path.display(),
            run.id
        ),
    }
}

/// A run's mode count in `results.json` (beside its [`TrainedRun`] fields).
#[derive(Debug, Serialize)]
pub struct Modes {
    /// Distinct digit tuples among the samples.
    pub modes: usize,
    /// KL(model mode frequencies || uniform), in nats.
    pub kl: f64,
    pub samples: usize,
    pub stacks: u32,
    /// Mode counts while training (with `modes_every`), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trajectory: Vec<ModePoint>,
}

/// The mode count of the generator at one iteration.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ModePoint {
    pub iteration: u64,
    pub modes: usize,
    pub kl: f64,
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Where the mode-counting classifier comes from.
    pub classifier: ClassifierReport,
}

/// Trains every run, counts modes and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let runs = t.runs()?;
    let (batch, eval_seed) = (cfg.batch, cfg.seed);
    let mut per_run = BTreeMap::new();
    let mut rows = Vec::new();
    let mut hist = Vec::new();
    let mut body = String::new();
    let mut clf: Option<(MnistClassifier, ClassifierReport)> = None;
    let mut trajectories = Vec::new();
    for run in &runs {
        let (stacks, dataset, synthetic) = stacked(exp, run)?;
        // The classifier is seeded on its own, so training it before or
        // after a run changes neither.
        if clf.is_none() {
            clf = Some(classifier(&t, dataset, synthetic, cfg.training())?);
        }
        let (c, _) = clf.as_ref().expect("set above");
        let n = cfg.samples.unwrap_or_else(|| protocol_samples(stacks));
        let (trained, trajectory) = match cfg.modes_every {
            None => (t.train(run, &mut |_, _| {})?, Vec::new()),
            Some(every) => train_counting_modes(&t, run, c, &cfg, n, stacks, every)?,
        };
        if !trajectory.is_empty() {
            trajectories.push((run.id.clone(), trajectory.clone()));
        }
        let key = json!({"samples": n, "seed": eval_seed});
        let model = &trained.model;
        let (count, freq): (ModeCount, Vec<i64>) = t.cached(run, "modes", &key, || {
            tch::manual_seed(eval_seed);
            let x = to_unit(&generate(model, n as i64, batch));
            let digits = classify_stacks(c, &x, 1000)?;
            let mut freq = mode_frequencies(&digits)?;
            let count = ModeCount::from_frequencies(&freq, stacks as usize);
            freq.sort_unstable_by(|a, b| b.cmp(a));
            Ok((count, freq))
        })?;
        tch::manual_seed(eval_seed);
        let shown = generate(model, 64, 64);
        body += &format!("### {}\n\n", run.id);
        body += &grid(
            &t.out,
            &format!("samples_{}.png", run.id),
            &format!("{} samples", run.id),
            &shown,
            64,
        )?;
        let method = match run.cfg.objective {
            Objective::Meg => "MEG",
            Objective::WganGp => "WGAN-GP",
        };
        let setting = format!("{method}, {stacks} stacks");
        rows.push(t.row(&setting, "modes", count.modes as f64, None));
        rows.push(t.row(&setting, "KL", count.kl, None));
        let uniform = n as f64 / 10f64.powi(stacks as i32);
        hist.push(LinePlot {
            title: format!("{setting}: samples per mode (sorted)"),
            x_label: "mode rank".into(),
            series: vec![
                Series {
                    name: "model".into(),
                    points: freq
                        .iter()
                        .enumerate()
                        .map(|(i, &f)| (i as f64, f as f64))
                        .collect(),
                },
                Series {
                    name: "uniform".into(),
                    points: vec![(0.0, uniform), (freq.len() as f64 - 1.0, uniform)],
                },
            ],
        });
        let modes = Modes {
            modes: count.modes,
            kl: count.kl,
            samples: count.samples,
            stacks,
            trajectory,
        };
        per_run.insert(run.id.clone(), TrainedRun::new(run, &trained).with(modes));
    }
    plot::lines_png(&t.out.join("mode_frequencies.png"), &hist, 400)?;
    let (_, clf_report) = clf.context("the spec lists no runs")?;
    let run_refs: Vec<_> = runs.iter().collect();
    let mut text = format!("Mode-counting classifier: {}.\n\n", clf_report.describe());
    text += &meg_reports::markdown::image("mode frequencies", "mode_frequencies.png");
    if !trajectories.is_empty() {
        text += &trajectory_plot(&t, &runs, &trajectories)?;
    }
    text += &t.loss_plot(&run_refs)?;
    text +=
        "\n## Samples\n\nEach sample's first three channels are drawn as red, green and blue.\n\n";
    text += &body;
    let summary = Summary {
        classifier: clf_report,
    };
    t.finish(&per_run, &summary, &rows, &text)
}

/// Trains the one run `opts.mode` selects ([`crate::Mode::TrainRun`], a
/// `--jobs` process or a Slurm element), counting its modes along the way
/// when the profile asks (`modes_every`); returns its folder.
pub fn train_run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let runs = t.runs()?;
    let run = runs.first().context("the run was selected")?;
    let Some(every) = cfg.modes_every else {
        t.train(run, &mut |_, _| {})?;
        return Ok(run.dir.clone());
    };
    let (stacks, dataset, synthetic) = stacked(exp, run)?;
    let (c, _) = classifier(&t, dataset, synthetic, cfg.training())?;
    let n = cfg.samples.unwrap_or_else(|| protocol_samples(stacks));
    train_counting_modes(&t, run, &c, &cfg, n, stacks, every)?;
    Ok(run.dir.clone())
}

/// Trains `run`, counting the modes of `n` samples from one fixed draw of z
/// every `every` iterations; each count is cached in the run's folder as it
/// is made (`modes-<iteration>.json`), so an interrupted run keeps them.
fn train_counting_modes(
    t: &Target,
    run: &crate::target::Run,
    c: &MnistClassifier,
    cfg: &Eval,
    n: usize,
    stacks: u32,
    every: u64,
) -> Result<(meg_models::train::Trained, Vec<ModePoint>)> {
    if every == 0 {
        bail!(
            "{}: eval.modes_every must be at least 1",
            t.exp.path.display()
        );
    }
    // Drawn before training (which seeds itself) and only read in the hook,
    // so counting modes leaves the training stream as it is.
    tch::manual_seed(cfg.seed);
    let z = tch::Tensor::randn(
        [n as i64, run.cfg.model.z_dim()],
        (tch::Kind::Float, t.opts.device),
    );
    let key = json!({"samples": n, "seed": cfg.seed, "z": "fixed"});
    let count = |model: &meg_models::Model, it: u64| -> Result<ModePoint> {
        let x = to_unit(&generate_from(model, &z, cfg.batch));
        let freq = mode_frequencies(&classify_stacks(c, &x, 1000)?)?;
        let m = ModeCount::from_frequencies(&freq, stacks as usize);
        Ok(ModePoint {
            iteration: it,
            modes: m.modes,
            kl: m.kl,
        })
    };
    let mut error = None;
    let trained = t.train(run, &mut |it, model| {
        if error.is_none() && it % every == 0 {
            if let Err(e) = t.cached(run, &format!("modes-{it}"), &key, || count(model, it)) {
                error = Some(e);
            }
        }
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    let mut points = Vec::new();
    for it in (every..=trained.iterations).step_by(every as usize) {
        points.push(t.cached(run, &format!("modes-{it}"), &key, || {
            if it == trained.iterations {
                count(&trained.model, it)
            } else {
                bail!(
                    "run `{}`: the mode count at iteration {it} is missing from {} (the run finished without it): delete that folder to retrain",
                    run.id,
                    run.dir.display()
                )
            }
        })?);
    }
    Ok((trained, points))
}

/// Modes, KL and the MI loss of every run against the iteration, into
/// `modes_trajectory.png`; returns the markdown that embeds it.
fn trajectory_plot(
    t: &Target,
    runs: &[crate::target::Run],
    trajectories: &[(String, Vec<ModePoint>)],
) -> Result<String> {
    let panel = |title: &str, f: fn(&ModePoint) -> f64| LinePlot {
        title: title.into(),
        x_label: "iteration".into(),
        series: trajectories
            .iter()
            .map(|(id, pts)| Series {
                name: id.clone(),
                points: pts.iter().map(|p| (p.iteration as f64, f(p))).collect(),
            })
            .collect(),
    };
    let mut mi = Vec::new();
    for run in runs {
        let rows = meg_models::train::read_run_metrics(&run.dir)?;
        if rows.iter().any(|r| r.mi_loss != 0.0) {
            mi.push(Series {
                name: run.id.clone(),
                points: rows
                    .iter()
                    .map(|r| (r.iteration as f64, r.mi_loss))
                    .collect(),
            });
        }
    }
    let mut panels = vec![
        panel("modes", |p| p.modes as f64),
        panel("KL(modes ‖ uniform)", |p| p.kl),
    ];
    if !mi.is_empty() {
        panels.push(LinePlot {
            title: "MI loss (BCE; ln 2 = pairs not told apart)".into(),
            x_label: "iteration".into(),
            series: mi,
        });
    }
    plot::lines_png(&t.out.join("modes_trajectory.png"), &panels, 400)?;
    Ok(meg_reports::markdown::image(
        "modes, KL and MI loss against the iteration",
        "modes_trajectory.png",
    ))
}
