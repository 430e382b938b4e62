//! Table 3: KDD99 anomaly detection. MEG is trained on the non-"normal."
//! rows of the training half; "normal." is the anomaly class of the re-mixed
//! test set (20% anomalies). The top 20% of scores are flagged; precision,
//! recall and F1 of the anomaly class are averaged over each run's last
//! epochs, then over seeds (mean ± std).

use crate::anomaly::{
    mean_of, pr_curve, pr_plot, train_and_evaluate, EpochEval, Eval, Evaluated, MeanPrf, TestSet,
};
use crate::results::RunResult;
use crate::spec::Experiment;
use crate::target::{mean_std, Run, Target};
use crate::Options;
use anyhow::{bail, Context, Result};
use meg_datasets::config::holdout_of;
use meg_metrics::anomaly::AnomalyMetrics;
use meg_models::config::DataConfig;
use meg_reports::plot::Series;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A run's metrics in `results.json` (beside its [`Evaluated`] fields),
/// each the mean over its evaluated epochs.
#[derive(Debug, Serialize)]
pub struct RunMetrics {
    /// With the score norm `||∇E||²`.
    pub score_norm: MeanPrf,
    /// With the raw energy.
    pub energy: MeanPrf,
}

/// Mean and standard deviation over seeds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

/// Precision, recall and F1 of one score over seeds.
#[derive(Debug, Serialize)]
pub struct ScoreSummary {
    pub precision: MeanStd,
    pub recall: MeanStd,
    pub f1: MeanStd,
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub score_norm: ScoreSummary,
    pub energy: ScoreSummary,
    pub seeds: usize,
    pub last_epochs: u64,
}

/// Trains every seed, evaluates and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let last = cfg.last_epochs;
    let runs = t.runs()?;
    let mut per_run = BTreeMap::new();
    let mut all: Vec<Vec<EpochEval>> = Vec::new();
    let mut curves = Vec::new();
    for run in &runs {
        let (test, n_train) = test_set(exp, run)?;
        let (evals, model, train_seconds) = train_and_evaluate(&t, run, &test, n_train, last)?;
        if curves.is_empty() {
            curves.push(Series {
                name: run.id.clone(),
                points: pr_curve(&model, &test)?,
            });
        }
        let metrics = RunMetrics {
            score_norm: MeanPrf::of(&evals, |e| e.score_norm),
            energy: MeanPrf::of(&evals, |e| e.energy),
        };
        let entry = Evaluated::new(run, train_seconds, n_train, &test, evals.clone());
        per_run.insert(run.id.clone(), entry.with(metrics));
        all.push(evals);
    }

    let mut rows = Vec::new();
    // Each metric's mean and std over seeds, with its table row.
    let mut over_seeds = |setting: &str, score: fn(&EpochEval) -> AnomalyMetrics| {
        let mut metric = |name: &str, pick: fn(&AnomalyMetrics) -> f64| {
            let per_seed: Vec<f64> = all
                .iter()
                .map(|ev| mean_of(ev, |e| pick(&score(e))))
                .collect();
            let (mean, std) = mean_std(&per_seed);
            rows.push(t.row(setting, name, mean, Some(std)));
            MeanStd { mean, std }
        };
        ScoreSummary {
            precision: metric("precision", |m| m.precision),
            recall: metric("recall", |m| m.recall),
            f1: metric("F1", |m| m.f1),
        }
    };
    let summary = Summary {
        score_norm: over_seeds("MEG, score ||∇E||²", |e| e.score_norm),
        energy: over_seeds("MEG, energy E(x)", |e| e.energy),
        seeds: runs.len(),
        last_epochs: last,
    };

    let pr = pr_plot(&t.out, curves)?;
    let run_refs: Vec<_> = runs.iter().collect();
    let data = &runs.first().context("the spec lists no runs")?.cfg.data;
    let mut body = match data {
        DataConfig::MnistHoldout { digit, .. } => format!(
            "Data: {} as a STAND-IN for KDD99 (not comparable to the paper's numbers): the models train on \
             80% of the other classes; class {digit} is the anomaly class of the test set (the other 20% \
             plus class {digit}), re-mixed to 20% anomalies as KDD99's test half is.\n\n",
            data.describe()
        ),
        _ => format!("Data: {}.\n\n", data.describe()),
    };
    body += &format!(
        "{} seed(s); each run's metrics are the mean over its last {last} epochs, then mean ± std over seeds. \
         The flagged set is the top 20% of scores (numpy's 80th percentile); with 20% anomalies in \
         the test set, a score that ignores the input has precision = recall = F1 = 0.2 in expectation.\n\n",
        runs.len()
    );
    body += &pr;
    body += &t.loss_plot(&run_refs)?;
    t.finish(&per_run, &summary, &rows, &body)
}

/// The test set of `run` (KDD99's test half, or the held-out-class stand-in
/// re-mixed to 20% anomalies) and the size of its training set.
fn test_set(exp: &Experiment, run: &Run) -> Result<(TestSet, usize)> {
    Ok(match run.cfg.data {
        DataConfig::Kdd99 {
            scaling,
            split_seed,
            synthetic,
        } => {
            let data = meg_datasets::config::kdd99(scaling, split_seed, synthetic)?;
            let x = meg_models::data::matrix(&data.test_x, tch::Device::Cpu)?;
            let test = TestSet::new(x, &tch::Tensor::from_slice(&data.test_y))?;
            (test, data.train_x.nrows())
        }
        // The stand-in where KDD99 is unavailable: a held-out image class
        // plays "normal.", re-mixed to 20% of the test set as in KDD99.
        DataConfig::MnistHoldout { split_seed, .. } => {
            let (split, flat) = holdout_of(&run.cfg.data).expect("mnist-holdout data")?;
            let test = TestSet::holdout(&split, flat)?.remix(0.2, split_seed)?;
            (test, split.train.len() as usize)
        }
        _ => bail!(
            "{}: run `{}` must use kdd99 data (or mnist-holdout data, the stand-in)",
            exp.path.display(),
            run.id
        ),
    })
}

/// Trains the one run `opts.mode` selects, with its epoch evaluations
/// ([`crate::Mode::TrainRun`]); returns its folder.
pub fn train_run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let runs = t.runs()?;
    let run = runs.first().context("the run was selected")?;
    let (test, n_train) = test_set(exp, run)?;
    train_and_evaluate(&t, run, &test, n_train, cfg.last_epochs)?;
    Ok(run.dir.clone())
}
