//! The MNIST / Fashion-MNIST classifier the targets share: loaded from the
//! data cache (`meg train-classifier`) for real data when present, else
//! trained once into it (or, with a profile's own settings, into the
//! target's `runs/classifier/`).

use crate::target::{cached_in, Target};
use anyhow::{bail, Context, Result};
use meg_datasets::MnistKind as Digits;
use meg_datasets::Split;
use meg_metrics::classifier::{Arch, MnistClassifier, TrainConfig, TrainReport};
use meg_models::data::{labels, pixels};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Where a target's classifier comes from, for `results.json` and the
/// report. Fields in name order: the report prints it as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// Epochs it was trained for here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Its file in the data cache, or `trained here`.
    pub source: String,
    /// Its architecture (the authors' when absent).
    #[serde(default, skip_serializing_if = "is_authors")]
    pub arch: Arch,
    /// Its test accuracy (on the dataset's test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

fn is_authors(a: &Arch) -> bool {
    *a == Arch::Authors
}

impl ClassifierReport {
    /// One line for a report: architecture, where it comes from, accuracy.
    pub fn describe(&self) -> String {
        let arch = match self.arch {
            Arch::Authors => "the authors' architecture",
            Arch::SmallCnn => "a small CNN",
        };
        let source = match self.epochs {
            Some(e) => format!("trained here for {e} epochs"),
            None => format!("from {}", self.source),
        };
        let acc = self
            .test_accuracy
            .map(|a| format!(", test accuracy {:.2}%", a * 100.0))
            .unwrap_or_default();
        format!("{arch}, {source}{acc}")
    }
}

/// How a target trains its classifier when it is not in the data cache, and
/// the test accuracy it must reach: a profile's `classifier_epochs`,
/// `classifier_lr` (the architecture's default when absent) and
/// `classifier_min_accuracy` (none when absent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Training {
    pub epochs: usize,
    pub lr: Option<f64>,
    pub min_accuracy: Option<f64>,
}

/// The MNIST / Fashion-MNIST classifier (mode counting in Table 1, the
/// feature space of the Fashion-MNIST stand-in for Table 2): the one `meg train-classifier` saved
/// in the data cache for real data when present, else one trained here
/// with `train`, in the architecture for `dataset` ([`Arch::for_dataset`]):
/// into the data cache when `train` is the architecture's recipe on real
/// data (what `meg train-classifier` makes, so later targets reuse it),
/// else into `runs/classifier/`. Its test accuracy is measured (for a
/// cached one too) and must reach `train.min_accuracy`.
pub(crate) fn classifier(
    t: &Target,
    dataset: Digits,
    synthetic: bool,
    train: Training,
) -> Result<(MnistClassifier, ClassifierReport)> {
    let name = dataset.name();
    let (c, report) = if let Some(path) = cached(synthetic, name)? {
        let c = MnistClassifier::load(&path, t.opts.device)?;
        let test = meg_datasets::config::mnist_split(dataset, Split::Test, synthetic)?;
        let acc = c.accuracy(&unit(&test), &labels(&test));
        let report = ClassifierReport {
            epochs: None,
            source: path.display().to_string(),
            arch: c.arch(),
            test_accuracy: Some(acc),
        };
        (c, report)
    } else {
        let mut cfg = TrainConfig::for_arch(Arch::for_dataset(dataset == Digits::FashionMnist));
        let recipe = cfg.clone();
        cfg.epochs = train.epochs;
        cfg.lr = train.lr.unwrap_or(cfg.lr);
        if !synthetic && cfg.epochs == recipe.epochs && cfg.lr == recipe.lr {
            // What `meg train-classifier` makes: it goes to the data cache,
            // where every later target (and rerun) finds it.
            let path = meg_metrics::classifier::default_path(name)?;
            eprintln!(
                "[classifier] none in the data cache: training it into {}",
                path.display()
            );
            let (c, acc) = train_and_save(dataset, &cfg, &path, t.opts.device, |line| {
                eprintln!("[classifier] {line}")
            })?;
            let report = ClassifierReport {
                epochs: Some(cfg.epochs),
                source: path.display().to_string(),
                arch: cfg.arch,
                test_accuracy: Some(acc),
            };
            (c, report)
        } else {
            own_classifier(t, dataset, name, synthetic, cfg)?
        }
    };
    if let (Some(min), Some(acc)) = (train.min_accuracy, report.test_accuracy) {
        if acc < min {
            bail!(
                "the {name} classifier ({}) has test accuracy {:.2}%, below the {:.2}% that \
                 profile `{}` requires (`classifier_min_accuracy`): its mode counts would measure \
                 its own confusion. Train it longer (`classifier_epochs`) or with \
                 `meg train-classifier --dataset {name}`",
                report.source,
                acc * 100.0,
                min * 100.0,
                t.profile()
            );
        }
    }
    Ok((c, report))
}

/// A classifier trained with a profile's own settings (synthetic digits, or
/// not the architecture's recipe), kept in the target's `runs/classifier/`.
fn own_classifier(
    t: &Target,
    dataset: Digits,
    name: &str,
    synthetic: bool,
    cfg: TrainConfig,
) -> Result<(MnistClassifier, ClassifierReport)> {
    let dir = t.out.join("runs").join("classifier");
    let file = dir.join("classifier.safetensors");
    let key = json!({"dataset": name, "synthetic": synthetic, "train": cfg});
    let mut fitted = None;
    let report: ClassifierReport = cached_in(&dir, "classifier", &key, || {
        let (c, r, _) = fit(dataset, synthetic, &cfg, t.opts.device, |line| {
            eprintln!("[classifier] {line}")
        })?;
        c.save(&file)?;
        fitted = Some(c);
        Ok(ClassifierReport {
            epochs: Some(cfg.epochs),
            source: "trained here".into(),
            arch: cfg.arch,
            test_accuracy: Some(r.final_test_accuracy),
        })
    })?;
    let c = match fitted {
        Some(c) => c,
        None => MnistClassifier::load(&file, t.opts.device)
            .with_context(|| format!("loading {}", file.display()))?,
    };
    Ok((c, report))
}

/// Trains `dataset`'s classifier with `cfg` on its real training split and
/// saves it to `out` (atomically), with its metadata in `out` with `.json`
/// (settings, accuracy per epoch, seconds, provenance): what `meg
/// train-classifier` does, and a target whose data cache has none. Returns
/// it and its test accuracy.
pub fn train_and_save(
    dataset: Digits,
    cfg: &TrainConfig,
    out: &Path,
    device: Device,
    log: impl FnMut(&str),
) -> Result<(MnistClassifier, f64)> {
    let start = std::time::Instant::now();
    let (clf, report, (train_examples, test_examples)) = fit(dataset, false, cfg, device, log)?;
    clf.save(out)?;
    let meta = json!({
        "dataset": dataset.name(),
        "weights": out.display().to_string(),
        "config": cfg,
        "train_examples": train_examples,
        "test_examples": test_examples,
        "test_accuracy": report.final_test_accuracy,
        "report": report,
        "seconds": start.elapsed().as_secs_f64(),
        "provenance": meg_nn::provenance(device),
    });
    let meta_path = out.with_extension("json");
    meg_plumbing::io::write_atomic(&meta_path, serde_json::to_string_pretty(&meta)?.as_bytes())?;
    Ok((clf, report.final_test_accuracy))
}

/// Trains `dataset`'s classifier with `cfg` on its training split, tested on
/// its test split; also returns the two splits' sizes.
fn fit(
    dataset: Digits,
    synthetic: bool,
    cfg: &TrainConfig,
    device: Device,
    log: impl FnMut(&str),
) -> Result<(MnistClassifier, TrainReport, (usize, usize))> {
    let train = meg_datasets::config::mnist_split(dataset, Split::Train, synthetic)?;
    let test = meg_datasets::config::mnist_split(dataset, Split::Test, synthetic)?;
    let (c, r) = MnistClassifier::fit(
        device,
        (&unit(&train), &labels(&train)),
        (&unit(&test), &labels(&test)),
        cfg,
        log,
    )?;
    Ok((c, r, (train.len(), test.len())))
}

/// Images `[N, 1, 28, 28]` in [0, 1].
fn unit(x: &meg_datasets::ImageSet) -> Tensor {
    pixels(x).to_kind(Kind::Float) / 255.0
}

/// The classifier `meg train-classifier` saved in the data cache for
/// `name`, if any (never for synthetic digits).
fn cached(synthetic: bool, name: &str) -> Result<Option<std::path::PathBuf>> {
    if synthetic {
        return Ok(None);
    }
    let path = meg_metrics::classifier::default_path(name)?;
    Ok(path.exists().then_some(path))
}
