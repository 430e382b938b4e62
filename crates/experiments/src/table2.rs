//! Table 2: CIFAR-10 sample quality. WGAN-GP and MEG are trained with the
//! same generator; Inception Score (10 splits) and FID against the training
//! set's statistics are measured on generator samples, and for MEG also on
//! samples refined by latent-space MALA.

use crate::classifier::classifier;
use crate::samples::{generate, generate_mala, grid, mala_setting, to_unit};
use crate::spec::Experiment;
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Result};
use meg_datasets::{ImageSet, Split};
use meg_metrics::classifier::MnistClassifier;
use meg_metrics::fid::{fid, Stats};
use meg_metrics::inception::InceptionFid;
use meg_metrics::inception_score::inception_score;
use meg_models::config::{DataConfig, Objective};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};
use std::path::PathBuf;
use tch::Tensor;

/// IS and FID of one sample set.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Quality {
    is_mean: f64,
    is_std: f64,
    fid: f64,
    samples: i64,
}

/// The network whose features (FID) and logits (IS) measure sample quality.
enum FeatureNet {
    /// pytorch-fid's Inception (or its synthetic stand-in), on CIFAR-10.
    Inception(Box<InceptionFid>),
    /// The Fashion-MNIST / MNIST classifier's penultimate layer and logits:
    /// the stand-in where CIFAR-10 and the Inception weights are unavailable.
    Classifier(Box<MnistClassifier>),
}

impl FeatureNet {
    fn features_and_logits(&self, x_unit: &Tensor, batch: usize) -> Result<(Tensor, Tensor)> {
        match self {
            FeatureNet::Inception(n) => n.features_and_logits(x_unit, batch),
            FeatureNet::Classifier(c) => c.features_and_logits(x_unit, batch),
        }
    }

    /// Identifies the weights in cache keys.
    fn id(&self) -> String {
        match self {
            FeatureNet::Inception(n) => n.weights_id().to_string(),
            FeatureNet::Classifier(_) => "classifier".into(),
        }
    }
}

fn quality(
    net: &FeatureNet,
    x: &Tensor,
    train: &Stats,
    splits: usize,
    batch: usize,
) -> Result<Quality> {
    let (feats, logits) = net.features_and_logits(&to_unit(x), batch)?;
    let (is_mean, is_std) = inception_score(&logits, splits)?;
    Ok(Quality {
        is_mean,
        is_std,
        fid: fid(&Stats::from_features(&feats)?, train)?,
        samples: x.size()[0],
    })
}

/// The training images of a run's data: CIFAR-10, or MNIST / Fashion-MNIST
/// for the classifier-feature stand-in (other data is rejected before).
fn real_images(data: &DataConfig) -> Result<ImageSet> {
    match *data {
        DataConfig::Mnist { dataset, synthetic } => {
            meg_datasets::config::mnist_split(dataset, Split::Train, synthetic)
        }
        DataConfig::Cifar10 { synthetic } => meg_datasets::config::cifar10(Split::Train, synthetic),
        _ => bail!("expected cifar10 or mnist data"),
    }
}

/// The evaluation settings a profile may give.
const EVAL_KEYS: &[&str] = &[
    "inception",
    "samples",
    "is_splits",
    "batch",
    "inception_batch",
    "train_stats_images",
    "seed",
    "mala",
    "classifier_epochs",
    "classifier_lr",
];

/// Trains both runs, measures IS / FID and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let t = Target::new(exp, opts, EVAL_KEYS)?;
    let weights: String = t.eval("inception", "pytorch-fid".to_string())?;
    if !["pytorch-fid", "synthetic", "classifier"].contains(&weights.as_str()) {
        bail!(
            "{}: profiles.{}.eval.inception: expected pytorch-fid, synthetic or classifier, got `{weights}`",
            exp.path.display(),
            t.profile()
        );
    }
    if weights == "pytorch-fid" {
        meg_datasets::config::require_dataset("inception-fid")?;
    }
    let runs = t.runs()?;
    let n: i64 = t.eval("samples", 50_000)?;
    let splits: usize = t.eval("is_splits", 10)?;
    let batch: i64 = t.eval("batch", 250)?;
    let inception_batch: usize = t.eval("inception_batch", 50)?;
    let train_images: Option<i64> = t.eval("train_stats_images", None)?;
    let eval_seed: i64 = t.eval("seed", 1234)?;
    let mala = mala_setting(&t, 5, 0.01, 0.2)?;

    let (net, classifier_report) = match weights.as_str() {
        "classifier" => {
            let Some(DataConfig::Mnist { dataset, synthetic }) = runs.first().map(|r| &r.cfg.data)
            else {
                bail!(
                    "{}: profiles.{}.eval.inception: classifier: the runs must use mnist data (MNIST or Fashion-MNIST)",
                    exp.path.display(),
                    t.profile()
                );
            };
            let (c, report) = classifier(&t, *dataset, *synthetic)?;
            (FeatureNet::Classifier(Box::new(c)), Some(report))
        }
        "synthetic" => (
            FeatureNet::Inception(Box::new(InceptionFid::synthetic(opts.device))),
            None,
        ),
        _ => (
            FeatureNet::Inception(Box::new(InceptionFid::load_or_default(None, opts.device)?)),
            None,
        ),
    };
    let mut per_run = Map::new();
    let mut rows = Vec::new();
    let mut body = String::new();
    let mut train_stats: Option<(Stats, Quality)> = None;
    for run in &runs {
        let classifier_data = match run.cfg.data {
            DataConfig::Mnist { .. } => true,
            DataConfig::Cifar10 { .. } => false,
            _ => bail!(
                "{}: run `{}` must use cifar10 data (or mnist data with `eval.inception: classifier`)",
                exp.path.display(),
                run.id
            ),
        };
        if matches!(net, FeatureNet::Classifier(_)) != classifier_data {
            bail!(
                "{}: run `{}`: `eval.inception: classifier` goes with mnist data, Inception with cifar10 data",
                exp.path.display(),
                run.id
            );
        }
        let trained = t.train(run, &mut |_, _| {})?;
        if train_stats.is_none() {
            let real = real_images(&run.cfg.data)?;
            let m = train_images.unwrap_or(real.len() as i64).min(real.len() as i64);
            let x = meg_models::data::to_pm1(&meg_models::data::pixels(&real).narrow(0, 0, m));
            let (feats, logits) = net.features_and_logits(&to_unit(&x), inception_batch)?;
            let stats = match (&net, &run.cfg.data) {
                (FeatureNet::Inception(n), DataConfig::Cifar10 { synthetic: false })
                    if weights == "pytorch-fid" && m == real.len() as i64 =>
                {
                    meg_metrics::fid::cifar10_train_stats(n, inception_batch)?
                }
                _ => Stats::from_features(&feats)?,
            };
            let (is_mean, is_std) = inception_score(&logits, splits)?;
            let q = Quality {
                is_mean,
                is_std,
                fid: 0.0,
                samples: m,
            };
            rows.push(t.row("real data", "IS", is_mean, Some(is_std)));
            train_stats = Some((stats, q));
        }
        let (stats, _) = train_stats.as_ref().expect("set above");
        let model = &trained.model;
        let key = json!({"samples": n, "seed": eval_seed, "weights": net.id(), "splits": splits, "train_images": train_images, "mala": mala});
        let is_meg = run.cfg.objective == Objective::Meg;
        let (gen_q, mala_q, accept): (Quality, Option<Quality>, Vec<f64>) =
            t.cached(run, "quality", &key, || {
                tch::manual_seed(eval_seed);
                let x = generate(model, n, batch);
                let g = quality(&net, &x, stats, splits, inception_batch)?;
                if !is_meg {
                    return Ok((g, None, vec![]));
                }
                tch::manual_seed(eval_seed);
                let (xm, acc) = generate_mala(model, &mala, n, batch)?;
                Ok((
                    g,
                    Some(quality(&net, &xm, stats, splits, inception_batch)?),
                    acc,
                ))
            })?;
        let method = if is_meg { "MEG (generator)" } else { "WGAN-GP" };
        rows.push(t.row(method, "IS", gen_q.is_mean, Some(gen_q.is_std)));
        rows.push(t.row(method, "FID", gen_q.fid, None));
        if let Some(q) = &mala_q {
            rows.push(t.row("MEG (latent MALA)", "IS", q.is_mean, Some(q.is_std)));
            rows.push(t.row("MEG (latent MALA)", "FID", q.fid, None));
        }
        tch::manual_seed(eval_seed);
        body += &format!("### {}\n\n", run.id);
        body += &grid(
            &t.out,
            &format!("samples_{}.png", run.id),
            &format!("{} generator samples", run.id),
            &generate(model, 100, 100),
            100,
        )?;
        if is_meg {
            tch::manual_seed(eval_seed);
            let (xm, _) = generate_mala(model, &mala, 100, 100)?;
            body += &grid(
                &t.out,
                &format!("samples_{}_mala.png", run.id),
                &format!("{} latent MALA samples", run.id),
                &xm,
                100,
            )?;
            body += &format!(
                "Latent MALA ({} steps, α {}, β {}, prior {}): acceptance per step {:?}.\n\n",
                mala.steps,
                mala.alpha,
                mala.beta,
                mala.prior_on(),
                accept
                    .iter()
                    .map(|a| (a * 1000.0).round() / 1000.0)
                    .collect::<Vec<_>>()
            );
        }
        per_run.insert(
            run.id.clone(),
            json!({
                "config": run.cfg,
                "seed": run.cfg.seed,
                "iterations": trained.iterations,
                "train_seconds": trained.seconds,
                "generator": gen_q,
                "latent_mala": mala_q,
                "mala_acceptance": accept,
                "final": trained.last,
            }),
        );
    }
    let real = train_stats.map(|(_, q)| q);
    let run_refs: Vec<_> = runs.iter().collect();
    let features = match weights.as_str() {
        "synthetic" => "Inception weights SYNTHETIC (deterministic, untrained: a pipeline check, not comparable to the paper)".to_string(),
        "classifier" => format!(
            "features and logits of the {} classifier (its 50-unit penultimate layer and 10 logits), NOT Inception: \
             a stand-in where CIFAR-10 and the Inception weights are unavailable, not comparable to the paper's numbers; classifier {}",
            runs[0].cfg.data.describe(),
            serde_json::to_string(&classifier_report)?
        ),
        _ => "Inception weights pytorch-fid's pt_inception-2015-12-05".to_string(),
    };
    let mut text = format!(
        "Data: {}. IS over {splits} splits and FID against the training-set statistics, from {n} samples each; {features}.\n\n",
        runs[0].cfg.data.describe()
    );
    text += &t.loss_plot(&run_refs)?;
    text += "\n## Samples\n\n";
    text += &body;
    let mut summary = json!({"real_data": real, "mala": mala, "inception": weights});
    if let Some(c) = classifier_report {
        summary["classifier"] = c;
    }
    t.finish(per_run.into(), summary, &rows, &text)
}
