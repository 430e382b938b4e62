//! What Tables 3 and 4 share: scoring a test set with a trained energy, and
//! evaluating a run at the end of each of its last epochs (the paper averages
//! over the last 10 epochs of a run).

use crate::results::RunResult;
use crate::spec::EvalSettings;
use crate::target::{cached_in, Run, Target};
use anyhow::{bail, Context, Result};
use meg_datasets::holdout::Holdout;
use meg_metrics::anomaly::{anomaly_metrics, precision_recall_curve, AnomalyMetrics};
use meg_models::data::{pixels, to_pm1};
use meg_models::Model;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{Device, Kind, Tensor};

/// The evaluation settings a profile of Table 3 or 4 may give
/// (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    /// Epochs at the end of each run that are evaluated and averaged.
    pub last_epochs: u64,
}

impl Default for Eval {
    fn default() -> Self {
        Eval { last_epochs: 10 }
    }
}

impl EvalSettings for Eval {}

/// Precision, recall and F1 of one score, each averaged over evaluations.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MeanPrf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl MeanPrf {
    /// The means over `evals` of the metrics `score` picks.
    pub fn of(evals: &[EpochEval], score: fn(&EpochEval) -> AnomalyMetrics) -> Self {
        MeanPrf {
            precision: mean_of(evals, |e| score(e).precision),
            recall: mean_of(evals, |e| score(e).recall),
            f1: mean_of(evals, |e| score(e).f1),
        }
    }
}

/// The test set's sizes and the evaluations of a run, in `results.json`.
#[derive(Debug, Serialize)]
pub struct Evaluated {
    pub config: meg_models::RunConfig,
    pub seed: u64,
    pub train_seconds: f64,
    pub train_examples: usize,
    pub test_examples: usize,
    pub test_anomalies: usize,
    pub epochs_evaluated: Vec<EpochEval>,
}

impl Evaluated {
    /// The entry of `run`, trained on `train_examples` and evaluated on
    /// `test` in `evals`.
    pub fn new(
        run: &Run,
        train_seconds: f64,
        train_examples: usize,
        test: &TestSet,
        evals: Vec<EpochEval>,
    ) -> Self {
        Evaluated {
            config: run.cfg.clone(),
            seed: run.cfg.seed,
            train_seconds,
            train_examples,
            test_examples: test.labels.len(),
            test_anomalies: test.labels.iter().filter(|&&l| l).count(),
            epochs_evaluated: evals,
        }
    }
}

impl RunResult for Evaluated {
    fn train_seconds(&self) -> f64 {
        self.train_seconds
    }
}

/// Test examples on the CPU with their anomaly labels.
#[derive(Debug)]
pub struct TestSet {
    /// float `[N, ...]`, on the CPU.
    pub x: Tensor,
    pub labels: Vec<bool>,
}

impl TestSet {
    /// From a float tensor and int64 labels (1 = anomaly).
    pub fn new(x: Tensor, y: &Tensor) -> Result<Self> {
        let labels: Vec<i64> = Vec::try_from(y.to_device(Device::Cpu).to_kind(Kind::Int64))?;
        Ok(TestSet {
            x: x.to_device(Device::Cpu),
            labels: labels.into_iter().map(|v| v == 1).collect(),
        })
    }

    /// The test part of a held-out-class split, images in [-1, 1], flattened
    /// to vectors when `flat`.
    pub fn holdout(split: &Holdout, flat: bool) -> Result<Self> {
        let x = to_pm1(&pixels(&split.test));
        let y = Tensor::from_slice(&split.test_anomaly);
        TestSet::new(if flat { x.flatten(1, -1) } else { x }, &y)
    }

    /// Keeps every normal example and a random subset (drawn with `seed`) of
    /// the anomalies, `floor(n_normal · f / (1 - f))` of them, so that they
    /// make up the fraction `f` of the result: the re-mixing of KDD99's test
    /// half (Table 3). Fails when there are too few anomalies.
    pub fn remix(self, f: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&f) {
            bail!("anomaly fraction {f} is not in [0, 1)");
        }
        let normal: Vec<i64> = (0..self.labels.len() as i64)
            .filter(|&i| !self.labels[i as usize])
            .collect();
        let mut anomalies: Vec<i64> = (0..self.labels.len() as i64)
            .filter(|&i| self.labels[i as usize])
            .collect();
        let want = (normal.len() as f64 * f / (1.0 - f)).floor() as usize;
        if anomalies.len() < want {
            bail!(
                "re-mixing to {f} anomalies needs {want} of them, the test set has {}",
                anomalies.len()
            );
        }
        anomalies.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut keep = normal;
        keep.extend_from_slice(&anomalies[..want]);
        keep.sort_unstable();
        Ok(TestSet {
            x: self.x.index_select(0, &Tensor::from_slice(&keep)),
            labels: keep.iter().map(|&i| self.labels[i as usize]).collect(),
        })
    }
}

/// The two anomaly scores of every test example: the paper's score norm
/// `||∇_x E(x)||²` and the raw energy `E(x)` (higher = more anomalous).
pub fn scores(model: &Model, x: &Tensor, batch: i64) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut grad, mut energy) = (Vec::new(), Vec::new());
    for chunk in x.split(batch, 0) {
        let xi = chunk.to_device(model.device).set_requires_grad(true);
        let e = model.energy(&xi, false);
        let g = Tensor::run_backward(&[e.sum(Kind::Float)], &[&xi], false, false).remove(0);
        let sq = g
            .square()
            .flatten(1, -1)
            .sum_dim_intlist(1, false, Kind::Double);
        grad.extend(Vec::<f64>::try_from(sq.to_device(Device::Cpu))?);
        energy.extend(Vec::<f64>::try_from(
            e.detach().to_kind(Kind::Double).to_device(Device::Cpu),
        )?);
    }
    Ok((grad, energy))
}

/// Metrics of one evaluation, for both scores.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EpochEval {
    pub epoch: u64,
    pub iteration: u64,
    /// With the score norm `||∇_x E||²`.
    pub score_norm: AnomalyMetrics,
    /// With the raw energy.
    pub energy: AnomalyMetrics,
}

fn evaluate(model: &Model, test: &TestSet, epoch: u64, iteration: u64) -> Result<EpochEval> {
    let (g, e) = scores(model, &test.x, 1024)?;
    Ok(EpochEval {
        epoch,
        iteration,
        score_norm: anomaly_metrics(&test.labels, &g)
            .with_context(|| format!("score norm at epoch {epoch}"))?,
        energy: anomaly_metrics(&test.labels, &e)
            .with_context(|| format!("energy at epoch {epoch}"))?,
    })
}

/// The iteration at which epoch `e` (1-based) of `run` ends.
fn epoch_end(run: &Run, e: u64, data_len: usize) -> u64 {
    let steps = (data_len as u64).div_ceil(run.cfg.batch_size as u64);
    (e * steps).div_ceil(run.cfg.k_e as u64)
}

/// Trains `run` (an `epochs` run) and evaluates it on `test` at the end of
/// each of its last `last` epochs; each evaluation is stored in
/// `runs/<id>/epoch-<e>.json` as it is made, so an interrupted run keeps
/// them. Returns the evaluations, oldest first, the trained model and its
/// training seconds (over all segments of the run).
pub fn train_and_evaluate(
    target: &Target,
    run: &Run,
    test: &TestSet,
    data_len: usize,
    last: u64,
) -> Result<(Vec<EpochEval>, Model, f64)> {
    let Some(epochs) = run.cfg.epochs else {
        bail!(
            "run `{}`: anomaly runs are measured per epoch: give `epochs`, not `iterations`",
            run.cfg.name
        );
    };
    let first = epochs.saturating_sub(last) + 1;
    let ends: Vec<(u64, u64)> = (first..=epochs)
        .map(|e| (e, epoch_end(run, e, data_len)))
        .collect();
    let key = json!({"test_examples": test.labels.len(), "scores": ["score_norm", "energy"]});
    let mut error = None;
    let trained = target.train(run, &mut |it, model| {
        if error.is_some() {
            return;
        }
        if let Some(&(e, _)) = ends.iter().find(|(_, end)| *end == it) {
            let r = cached_in(&run.dir, &format!("epoch-{e}"), &key, || {
                evaluate(model, test, e, it)
            });
            if let Err(err) = r {
                error = Some(err);
            }
        }
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    let mut evals = Vec::new();
    for &(e, end) in &ends {
        let ev: EpochEval = cached_in(&run.dir, &format!("epoch-{e}"), &key, || {
            if end == trained.iterations {
                evaluate(&trained.model, test, e, end)
            } else {
                bail!(
                    "run `{}`: the evaluation of epoch {e} is missing from {} (the run finished without it): delete that folder to retrain",
                    run.cfg.name,
                    run.dir.display()
                )
            }
        })?;
        evals.push(ev);
    }
    Ok((evals, trained.model, trained.seconds))
}

/// Mean of a metric over evaluations.
pub fn mean_of(evals: &[EpochEval], f: impl Fn(&EpochEval) -> f64) -> f64 {
    evals.iter().map(f).sum::<f64>() / evals.len().max(1) as f64
}

/// Precision-recall curve points (recall, precision) of `model` on `test`
/// with the score norm.
pub fn pr_curve(model: &Model, test: &TestSet) -> Result<Vec<(f64, f64)>> {
    let (g, _) = scores(model, &test.x, 1024)?;
    let (p, r, _) = precision_recall_curve(&test.labels, &g);
    Ok(r.into_iter().zip(p).collect())
}

/// Draws precision-recall `curves` into `out/pr_curves.png`; returns the
/// markdown that embeds it.
pub fn pr_plot(out: &std::path::Path, curves: Vec<meg_reports::plot::Series>) -> Result<String> {
    meg_reports::plot::lines_png(
        &out.join("pr_curves.png"),
        &[meg_reports::plot::LinePlot {
            title: "precision-recall (score norm, final epoch)".into(),
            x_label: "recall".into(),
            series: curves,
        }],
        450,
    )?;
    Ok(meg_reports::markdown::image(
        "precision-recall curves",
        "pr_curves.png",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remix_keeps_every_normal_example_and_a_fifth_of_anomalies() {
        // 12 normal, 10 anomalies: 12 · 0.2 / 0.8 = 3 anomalies are kept.
        let y: Vec<i64> = (0..22).map(|i| i64::from(i % 2 == 1 && i < 20)).collect();
        let x = Tensor::arange(22, (Kind::Float, Device::Cpu)).view([22, 1]);
        let t = TestSet::new(x, &Tensor::from_slice(&y)).unwrap();
        let r = t.remix(0.2, 7).unwrap();
        assert_eq!(r.labels.len(), 15);
        assert_eq!(r.labels.iter().filter(|&&l| l).count(), 3);
        // Rows keep their labels.
        let ids: Vec<f32> = Vec::try_from(r.x.view([-1])).unwrap();
        for (&i, &l) in ids.iter().zip(&r.labels) {
            assert_eq!(y[i as usize] == 1, l);
        }
        let again = TestSet::new(
            Tensor::arange(22, (Kind::Float, Device::Cpu)).view([22, 1]),
            &Tensor::from_slice(&y),
        )
        .unwrap()
        .remix(0.2, 7)
        .unwrap();
        assert!(again.x.equal(&r.x), "seeded");
        let few = TestSet::new(
            Tensor::zeros([4, 1], (Kind::Float, Device::Cpu)),
            &Tensor::from_slice(&[0i64, 0, 0, 1]),
        )
        .unwrap();
        let err = few.remix(0.5, 0).unwrap_err().to_string();
        assert!(err.contains("needs 3"), "{err}");
    }
}
