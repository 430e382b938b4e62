//! Table 1: StackedMNIST mode counting. MEG and the WGAN-GP baseline are
//! trained on 3- and 4-digit stacks; `26·10^k` generated samples (fewer in
//! reduced profiles) are classified channel by channel by the MNIST
//! classifier; the number of distinct digit tuples and KL(model mode
//! frequencies || uniform) are reported.

use crate::samples::{generate, grid, to_unit};
use crate::spec::Experiment;
use crate::target::{cached_in, Target};
use crate::Options;
use anyhow::{bail, Context, Result};
use meg_datasets::stacked::mode_index;
use meg_datasets::Split;
use meg_metrics::classifier::{MnistClassifier, TrainConfig};
use meg_metrics::modes::{classify_stacks, count_modes, protocol_samples};
use meg_models::config::{DataConfig, Digits, Objective};
use meg_reports::plot::{self, LinePlot, Series};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use tch::{Kind, Tensor};

/// The classifier for mode counting: the one `meg train-classifier` saved
/// in the data cache for real data when present, else one trained here
/// (and kept in `runs/classifier/`).
fn classifier(t: &Target, dataset: Digits, synthetic: bool) -> Result<(MnistClassifier, Value)> {
    let name = match dataset {
        Digits::Mnist => "mnist",
        Digits::FashionMnist => "fashion-mnist",
    };
    if !synthetic {
        let path = meg_metrics::classifier::default_path(name)?;
        if path.exists() {
            let c = MnistClassifier::load(&path, t.opts.device)?;
            return Ok((c, json!({"source": path.display().to_string()})));
        }
    }
    let cfg = TrainConfig {
        epochs: t.eval("classifier_epochs", 10)?,
        lr: t.eval("classifier_lr", TrainConfig::default().lr)?,
        ..TrainConfig::default()
    };
    let dir = t.out.join("runs").join("classifier");
    let file = dir.join("classifier.safetensors");
    let key = json!({"dataset": name, "synthetic": synthetic, "train": cfg});
    let load = |x: &meg_datasets::ImageSet| x.images.to_kind(Kind::Float) / 255.0;
    let mut fitted = None;
    let report: Value = cached_in(&dir, "classifier", &key, || {
        let train = meg_models::data::mnist_split(dataset, Split::Train, synthetic)?;
        let test = meg_models::data::mnist_split(dataset, Split::Test, synthetic)?;
        let (c, r) = MnistClassifier::fit(
            t.opts.device,
            (&load(&train), &train.labels),
            (&load(&test), &test.labels),
            &cfg,
            |line| eprintln!("[classifier] {line}"),
        )?;
        c.save(&file)?;
        fitted = Some(c);
        Ok(
            json!({"source": "trained here", "test_accuracy": r.final_test_accuracy, "epochs": cfg.epochs}),
        )
    })?;
    let c = match fitted {
        Some(c) => c,
        None => MnistClassifier::load(&file, t.opts.device)
            .with_context(|| format!("loading {}", file.display()))?,
    };
    Ok((c, report))
}

/// The evaluation settings a profile may give.
const EVAL_KEYS: &[&str] = &[
    "samples",
    "batch",
    "seed",
    "classifier_epochs",
    "classifier_lr",
];

/// Trains every run, counts modes and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let t = Target::new(exp, opts, EVAL_KEYS)?;
    let runs = t.runs()?;
    let samples_eval: Option<usize> = t.eval("samples", None)?;
    let batch: i64 = t.eval("batch", 500)?;
    let eval_seed: i64 = t.eval("seed", 1234)?;
    let mut per_run = Map::new();
    let mut rows = Vec::new();
    let mut hist = Vec::new();
    let mut body = String::new();
    let mut clf: Option<(MnistClassifier, Value)> = None;
    for run in &runs {
        let DataConfig::StackedMnist {
            stacks,
            dataset,
            synthetic,
            ..
        } = run.cfg.data
        else {
            bail!(
                "{}: run `{}` must use stacked-mnist data",
                exp.path.display(),
                run.id
            );
        };
        let trained = t.train(run, &mut |_, _| {})?;
        if clf.is_none() {
            clf = Some(classifier(&t, dataset, synthetic)?);
        }
        let (c, _) = clf.as_ref().expect("set above");
        let n = samples_eval.unwrap_or_else(|| protocol_samples(stacks));
        let key = json!({"samples": n, "seed": eval_seed});
        let model = &trained.model;
        let (count, freq): (meg_metrics::modes::ModeCount, Vec<i64>) =
            t.cached(run, "modes", &key, || {
                tch::manual_seed(eval_seed);
                let x = to_unit(&generate(model, n as i64, batch));
                let digits = classify_stacks(c, &x, 1000)?;
                let counts = mode_index(&digits).bincount::<Tensor>(None, 10i64.pow(stacks));
                let mut freq = Vec::<i64>::try_from(counts)?;
                freq.sort_unstable_by(|a, b| b.cmp(a));
                Ok((count_modes(&digits)?, freq))
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
        per_run.insert(
            run.id.clone(),
            json!({
                "config": run.cfg,
                "seed": run.cfg.seed,
                "iterations": trained.iterations,
                "train_seconds": trained.seconds,
                "modes": count.modes,
                "kl": count.kl,
                "samples": count.samples,
                "stacks": stacks,
                "final": trained.last,
            }),
        );
    }
    plot::lines_png(&t.out.join("mode_frequencies.png"), &hist, 400)?;
    let (_, clf_report) = clf.context("the spec lists no runs")?;
    let run_refs: Vec<_> = runs.iter().collect();
    let mut text = format!(
        "Mode counting classifier: {}.\n\n",
        serde_json::to_string(&clf_report)?
    );
    text += &meg_reports::markdown::image("mode frequencies", "mode_frequencies.png");
    text += &t.loss_plot(&run_refs)?;
    text +=
        "\n## Samples\n\nEach sample's first three channels are drawn as red, green and blue.\n\n";
    text += &body;
    let summary = json!({"classifier": clf_report});
    t.finish(per_run.into(), summary, &rows, &text)
}
