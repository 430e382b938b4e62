//! Table 4: MNIST held-out digit. For each digit d, MEG trains on 80% of the
//! other digits; the test set is the remaining 20% plus every image of d
//! (the anomalies). The metric is the area under the precision-recall curve,
//! averaged over each run's last epochs.

use crate::anomaly::{mean_of, pr_curve, pr_plot, train_and_evaluate, Eval, Evaluated, TestSet};
use crate::results::RunResult;
use crate::spec::Experiment;
use crate::target::{Run, Target};
use crate::Options;
use anyhow::{bail, Context, Result};
use meg_datasets::config::holdout_of;
use meg_reports::plot::Series;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A run's AUPRC in `results.json` (beside its [`Evaluated`] fields), the
/// mean over its evaluated epochs.
#[derive(Debug, Serialize)]
pub struct RunAuprc {
    /// The held-out digit.
    pub digit: i64,
    /// With the score norm `||∇E||²`.
    pub auprc_score_norm: f64,
    /// With the raw energy.
    pub auprc_energy: f64,
}

/// One digit in the summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct DigitSummary {
    pub auprc_score_norm: f64,
    pub auprc_energy: f64,
    /// The AUPRC of a score that ignores the input: the anomaly share.
    pub chance: f64,
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `digit_<d>` for each held-out digit d.
    #[serde(flatten)]
    pub digits: BTreeMap<String, DigitSummary>,
    pub last_epochs: u64,
}

/// Trains one run per held-out digit, evaluates and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let last = cfg.last_epochs;
    let runs = t.runs()?;
    let mut per_run = BTreeMap::new();
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    let mut digits = BTreeMap::new();
    for run in &runs {
        let (digit, test, n_train) = test_set(exp, run)?;
        let (evals, model, train_seconds) = train_and_evaluate(&t, run, &test, n_train, last)?;
        let anomalies = test.labels.iter().filter(|&&l| l).count();
        // A score that ignores the input has an AUPRC equal to the anomaly share.
        let chance = anomalies as f64 / test.labels.len() as f64;
        let auprc = mean_of(&evals, |e| e.score_norm.auprc);
        let auprc_energy = mean_of(&evals, |e| e.energy.auprc);
        rows.push(t.row(&format!("MEG, digit {digit}"), "AUPRC", auprc, None));
        rows.push(t.row(
            &format!("MEG (energy score), digit {digit}"),
            "AUPRC",
            auprc_energy,
            None,
        ));
        rows.push(t.row(
            &format!("chance (anomaly share), digit {digit}"),
            "AUPRC",
            chance,
            None,
        ));
        curves.push(Series {
            name: format!("digit {digit}"),
            points: pr_curve(&model, &test)?,
        });
        let summary = DigitSummary {
            auprc_score_norm: auprc,
            auprc_energy,
            chance,
        };
        digits.insert(format!("digit_{digit}"), summary);
        let metrics = RunAuprc {
            digit,
            auprc_score_norm: auprc,
            auprc_energy,
        };
        let entry = Evaluated::new(run, train_seconds, n_train, &test, evals);
        per_run.insert(run.id.clone(), entry.with(metrics));
    }
    let summary = Summary {
        digits,
        last_epochs: last,
    };
    let pr = pr_plot(&t.out, curves)?;
    let run_refs: Vec<_> = runs.iter().collect();
    let mut body = format!(
        "AUPRC is the trapezoid area under scikit-learn's precision_recall_curve, with the score norm \
         ||∇E(x)||² (the paper's decision function for KDD) and, as a second row, the raw energy; each \
         run's value is the mean over its last {last} epochs. The chance rows give the AUPRC of a score \
         that ignores the input: the share of anomalies in that digit's test set.\n\n"
    );
    body += &pr;
    body += &t.loss_plot(&run_refs)?;
    t.finish(&per_run, &summary, &rows, &body)
}

/// The held-out digit of `run`, its test set (the other classes' held-out
/// 20% plus every example of the digit) and the size of its training set.
fn test_set(exp: &Experiment, run: &Run) -> Result<(i64, TestSet, usize)> {
    let Some(holdout) = holdout_of(&run.cfg.data) else {
        bail!(
            "{}: run `{}` must use mnist-holdout data",
            exp.path.display(),
            run.id
        );
    };
    let (split, flat) = holdout?;
    let test = TestSet::holdout(&split, flat)?;
    Ok((split.digit, test, split.train.len() as usize))
}

/// Trains the one run `opts.mode` selects, with its epoch evaluations
/// ([`crate::Mode::TrainRun`]); returns its folder.
pub fn train_run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let runs = t.runs()?;
    let run = runs.first().context("the run was selected")?;
    let (_, test, n_train) = test_set(exp, run)?;
    train_and_evaluate(&t, run, &test, n_train, cfg.last_epochs)?;
    Ok(run.dir.clone())
}
