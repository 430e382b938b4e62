//! Table 2: CIFAR-10 sample quality. WGAN-GP and MEG are trained with the
//! same generator; Inception Score (10 splits) and FID against the training
//! set's statistics are measured on generator samples, and for MEG also on
//! samples refined by latent-space MALA.

use crate::classifier::{classifier, ClassifierReport};
use crate::results::{RunResult, TrainedRun};
use crate::samples::{exact_mala, generate, generate_mala, grid, to_unit};
use crate::spec::{EvalSettings, Experiment};
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Result};
use meg_datasets::{ImageSet, Split};
use meg_metrics::classifier::MnistClassifier;
use meg_metrics::fid::{fid, Stats};
use meg_metrics::inception::InceptionFid;
use meg_metrics::inception_score::inception_score;
use meg_models::config::{DataConfig, Objective};
use meg_models::mcmc::MalaConfig;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tch::Tensor;

/// IS and FID of one sample set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quality {
    pub is_mean: f64,
    pub is_std: f64,
    pub fid: f64,
    pub samples: i64,
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

/// The network that measures sample quality (`eval.inception`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weights {
    /// pytorch-fid's Inception weights, on CIFAR-10.
    PytorchFid,
    /// Deterministic untrained Inception weights: a pipeline check.
    Synthetic,
    /// The MNIST / Fashion-MNIST classifier: the stand-in where CIFAR-10 and
    /// the Inception weights are unavailable.
    Classifier,
}

/// The evaluation settings a profile may give (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    pub inception: Weights,
    /// Samples per measured set.
    pub samples: i64,
    /// Splits of the Inception Score.
    pub is_splits: usize,
    /// Generator batch size while sampling.
    pub batch: i64,
    /// Batch size of the feature network.
    pub inception_batch: usize,
    /// Training images behind the real-data statistics; all when absent.
    pub train_stats_images: Option<i64>,
    /// Seed of the evaluation samples.
    pub seed: i64,
    /// The latent MALA sampler of MEG's refined samples.
    pub mala: MalaConfig,
    /// Epochs of the classifier (`inception: classifier`) when trained here.
    pub classifier_epochs: usize,
    /// Its learning rate (the architecture's default when absent).
    pub classifier_lr: Option<f64>,
    /// The test accuracy it must reach (none when absent).
    pub classifier_min_accuracy: Option<f64>,
}

impl Default for Eval {
    fn default() -> Self {
        Eval {
            inception: Weights::PytorchFid,
            samples: 50_000,
            is_splits: 10,
            batch: 250,
            inception_batch: 50,
            train_stats_images: None,
            seed: 1234,
            mala: exact_mala(5, 0.01, 0.2),
            classifier_epochs: 10,
            classifier_lr: None,
            classifier_min_accuracy: None,
        }
    }
}

impl EvalSettings for Eval {
    fn validate(&self) -> Result<()> {
        self.mala.validate()
    }
}

/// A run's sample quality in `results.json` (beside its [`TrainedRun`]
/// fields).
#[derive(Debug, Serialize)]
pub struct RunQuality {
    /// Of generator samples.
    pub generator: Quality,
    /// Of latent MALA samples (MEG only).
    pub latent_mala: Option<Quality>,
    /// Mean acceptance rate of each latent MALA step (MEG only).
    pub mala_acceptance: Vec<f64>,
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// IS of the training images behind the FID statistics.
    pub real_data: Option<Quality>,
    pub mala: &'a MalaConfig,
    pub inception: Weights,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierReport>,
}

/// Trains both runs, measures IS / FID and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let weights = cfg.inception;
    if weights == Weights::PytorchFid {
        meg_datasets::config::require_dataset("inception-fid")?;
    }
    let runs = t.runs()?;
    let (n, splits, batch) = (cfg.samples, cfg.is_splits, cfg.batch);
    let (inception_batch, train_images) = (cfg.inception_batch, cfg.train_stats_images);
    let (eval_seed, mala) = (cfg.seed, &cfg.mala);

    let (net, classifier_report) = match weights {
        Weights::Classifier => {
            let Some(DataConfig::Mnist { dataset, synthetic }) = runs.first().map(|r| &r.cfg.data)
            else {
                bail!(
                    "{}: profiles.{}.eval.inception: classifier: the runs must use mnist data (MNIST or Fashion-MNIST)",
                    exp.path.display(),
                    t.profile()
                );
            };
            let train = crate::classifier::Training {
                epochs: cfg.classifier_epochs,
                lr: cfg.classifier_lr,
                min_accuracy: cfg.classifier_min_accuracy,
            };
            let (c, report) = classifier(&t, *dataset, *synthetic, train)?;
            (FeatureNet::Classifier(Box::new(c)), Some(report))
        }
        Weights::Synthetic => (
            FeatureNet::Inception(Box::new(InceptionFid::synthetic(opts.device))),
            None,
        ),
        Weights::PytorchFid => (
            FeatureNet::Inception(Box::new(InceptionFid::load_or_default(None, opts.device)?)),
            None,
        ),
    };
    let mut per_run = BTreeMap::new();
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
            let m = train_images
                .unwrap_or(real.len() as i64)
                .min(real.len() as i64);
            let x = meg_models::data::to_pm1(&meg_models::data::pixels(&real).narrow(0, 0, m));
            let (feats, logits) = net.features_and_logits(&to_unit(&x), inception_batch)?;
            let stats = match (&net, &run.cfg.data) {
                (FeatureNet::Inception(n), DataConfig::Cifar10 { synthetic: false })
                    if weights == Weights::PytorchFid && m == real.len() as i64 =>
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
                let (xm, acc) = generate_mala(model, mala, n, batch)?;
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
            let (xm, _) = generate_mala(model, mala, 100, 100)?;
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
        let quality = RunQuality {
            generator: gen_q,
            latent_mala: mala_q,
            mala_acceptance: accept,
        };
        per_run.insert(run.id.clone(), TrainedRun::new(run, &trained).with(quality));
    }
    let real = train_stats.map(|(_, q)| q);
    let run_refs: Vec<_> = runs.iter().collect();
    let features = match weights {
        Weights::Synthetic => "Inception weights SYNTHETIC (deterministic, untrained: a pipeline check, not comparable to the paper)".to_string(),
        Weights::Classifier => format!(
            "features and logits of the {} classifier (its {}-unit penultimate layer and 10 logits), NOT Inception: \
             a stand-in where CIFAR-10 and the Inception weights are unavailable, not comparable to the paper's numbers; classifier: {}",
            runs[0].cfg.data.describe(),
            classifier_report.as_ref().map_or(0, |c| c.arch.features()),
            classifier_report.as_ref().map(|c| c.describe()).unwrap_or_default()
        ),
        Weights::PytorchFid => "Inception weights pytorch-fid's pt_inception-2015-12-05".to_string(),
    };
    let mut text = format!(
        "Data: {}. IS over {splits} splits and FID against the training-set statistics, from {n} samples each; {features}.\n\n",
        runs[0].cfg.data.describe()
    );
    text += &t.loss_plot(&run_refs)?;
    text += "\n## Samples\n\n";
    text += &body;
    let summary = Summary {
        real_data: real,
        mala,
        inception: weights,
        classifier: classifier_report,
    };
    t.finish(&per_run, &summary, &rows, &text)
}
