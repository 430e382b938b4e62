//! The MNIST / Fashion-MNIST classifier the targets share: loaded from the
//! data cache (`meg train-classifier`) for real data when present, else
//! trained once per target and kept in `runs/classifier/`.

use crate::target::{cached_in, Target};
use anyhow::{Context, Result};
use meg_datasets::MnistKind as Digits;
use meg_datasets::Split;
use meg_metrics::classifier::{MnistClassifier, TrainConfig};
use meg_models::data::{labels, pixels};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::Kind;

/// Where a target's classifier comes from, for `results.json` and the
/// report. Fields in name order: the report prints it as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// Epochs it was trained for here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Its file in the data cache, or `trained here`.
    pub source: String,
    /// Its test accuracy, when trained here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

/// The MNIST / Fashion-MNIST classifier (mode counting in Table 1, the
/// feature space of the Fashion-MNIST stand-in for Table 2): the one `meg train-classifier` saved
/// in the data cache for real data when present, else one trained here
/// (and kept in `runs/classifier/`) for `train` = (epochs, learning rate).
pub(crate) fn classifier(
    t: &Target,
    dataset: Digits,
    synthetic: bool,
    train: (usize, f64),
) -> Result<(MnistClassifier, ClassifierReport)> {
    let name = match dataset {
        Digits::Mnist => "mnist",
        Digits::FashionMnist => "fashion-mnist",
    };
    if !synthetic {
        let path = meg_metrics::classifier::default_path(name)?;
        if path.exists() {
            let c = MnistClassifier::load(&path, t.opts.device)?;
            let report = ClassifierReport {
                epochs: None,
                source: path.display().to_string(),
                test_accuracy: None,
            };
            return Ok((c, report));
        }
    }
    let (epochs, lr) = train;
    let cfg = TrainConfig {
        epochs,
        lr,
        ..TrainConfig::default()
    };
    let dir = t.out.join("runs").join("classifier");
    let file = dir.join("classifier.safetensors");
    let key = json!({"dataset": name, "synthetic": synthetic, "train": cfg});
    let load = |x: &meg_datasets::ImageSet| pixels(x).to_kind(Kind::Float) / 255.0;
    let mut fitted = None;
    let report: ClassifierReport = cached_in(&dir, "classifier", &key, || {
        let train = meg_datasets::config::mnist_split(dataset, Split::Train, synthetic)?;
        let test = meg_datasets::config::mnist_split(dataset, Split::Test, synthetic)?;
        let (c, r) = MnistClassifier::fit(
            t.opts.device,
            (&load(&train), &labels(&train)),
            (&load(&test), &labels(&test)),
            &cfg,
            |line| eprintln!("[classifier] {line}"),
        )?;
        c.save(&file)?;
        fitted = Some(c);
        Ok(ClassifierReport {
            epochs: Some(cfg.epochs),
            source: "trained here".into(),
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
