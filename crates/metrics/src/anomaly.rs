//! Anomaly-detection metrics of the paper's Tables 3 and 4, equal to
//! scikit-learn's (ties included):
//! - precision, recall and F1 of the anomaly class (label 1) when the scores at
//!   or above their 80th percentile (`numpy.percentile`, linear interpolation)
//!   are flagged (`precision_recall_fscore_support(average="binary")`);
//! - AUPRC: the trapezoidal area (`sklearn.metrics.auc`) under
//!   `precision_recall_curve`;
//! - `average_precision_score`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Percentile of the scores at and above which an example is flagged.
pub const FLAG_PERCENTILE: f64 = 80.0;

/// The metrics of one scored test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnomalyMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub auprc: f64,
    pub average_precision: f64,
}

/// Computes [`AnomalyMetrics`] for labels (true = anomaly) and finite scores
/// (higher = more anomalous). Needs at least one anomaly.
pub fn anomaly_metrics(labels: &[bool], scores: &[f64]) -> Result<AnomalyMetrics> {
    if labels.len() != scores.len() {
        bail!("{} labels but {} scores", labels.len(), scores.len());
    }
    if labels.is_empty() {
        bail!("no examples");
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        bail!("score {} of example {i} is not finite", scores[i]);
    }
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        bail!("no anomalies (label 1): precision, recall and AUPRC are undefined");
    }
    let threshold = percentile(scores, FLAG_PERCENTILE);
    let (mut tp, mut fp) = (0usize, 0usize);
    for (&l, &s) in labels.iter().zip(scores) {
        if s >= threshold {
            if l {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    let fneg = positives - tp;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, positives));
    let f1 = ratio(2 * tp, 2 * tp + fp + fneg);
    let (p, r, _) = precision_recall_curve(labels, scores);
    Ok(AnomalyMetrics {
        precision,
        recall,
        f1,
        auprc: auc(&r, &p)?,
        average_precision: average_precision(&p, &r),
    })
}

/// `numpy.percentile(values, q)` with the default linear method (bit-exact:
/// numpy's virtual index `(n - 1) q / 100` and its two-sided lerp).
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let vi = (n as f64 - 1.0) * (q / 100.0);
    if vi >= (n - 1) as f64 {
        return v[n - 1];
    }
    let lo = vi.floor();
    let t = vi - lo;
    let (a, b) = (v[lo as usize], v[lo as usize + 1]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// scikit-learn's `precision_recall_curve(labels, scores)` (no sample weights,
/// `drop_intermediate=False`): `(precision, recall, thresholds)`, recall
/// decreasing, ending with the point (recall 0, precision 1).
pub fn precision_recall_curve(labels: &[bool], scores: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Stable sort by decreasing score, as sklearn's argsort(stable=True, descending=True).
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let (mut tps, mut fps, mut thresholds) = (vec![], vec![], vec![]);
    let mut tp = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1.0;
        }
        let last_of_tie = rank + 1 == order.len() || scores[order[rank + 1]] != scores[i];
        if last_of_tie {
            tps.push(tp);
            fps.push(1.0 + rank as f64 - tp);
            thresholds.push(scores[i]);
        }
    }
    let total = *tps.last().unwrap_or(&0.0);
    let mut precision: Vec<f64> = tps
        .iter()
        .zip(&fps)
        .map(|(&t, &f)| if t + f != 0.0 { t / (t + f) } else { 0.0 })
        .collect();
    let mut recall: Vec<f64> = tps
        .iter()
        .map(|&t| if total == 0.0 { 1.0 } else { t / total })
        .collect();
    precision.reverse();
    recall.reverse();
    thresholds.reverse();
    precision.push(1.0);
    recall.push(0.0);
    (precision, recall, thresholds)
}

/// `sklearn.metrics.auc(x, y)`: trapezoidal area, for `x` monotonic either way.
pub fn auc(x: &[f64], y: &[f64]) -> Result<f64> {
    if x.len() != y.len() || x.len() < 2 {
        bail!("auc needs two curves of the same length >= 2");
    }
    let dx: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let direction = if dx.iter().any(|&d| d < 0.0) {
        if dx.iter().all(|&d| d <= 0.0) {
            -1.0
        } else {
            bail!("auc: x is neither increasing nor decreasing");
        }
    } else {
        1.0
    };
    let area: f64 = dx
        .iter()
        .zip(y.windows(2))
        .map(|(d, w)| d * (w[1] + w[0]) / 2.0)
        .sum();
    Ok(direction * area)
}

/// scikit-learn's `average_precision_score` from a precision-recall curve:
/// `max(0, -sum(diff(recall) * precision[:-1]))`.
pub fn average_precision(precision: &[f64], recall: &[f64]) -> f64 {
    let s: f64 = recall
        .windows(2)
        .zip(precision)
        .map(|(r, p)| (r[1] - r[0]) * p)
        .sum();
    (-s).max(0.0)
}

/// Reads a CSV with the header `label,score` (columns in any order, others
/// ignored): label 0 or 1 (1 = anomaly), score a finite number. Errors name the
/// file and line.
pub fn read_scores_csv(path: &Path) -> Result<(Vec<bool>, Vec<f64>)> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("{}: cannot open", path.display()))?;
    let headers = rdr
        .headers()
        .with_context(|| format!("{}:1: cannot read the header", path.display()))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{}:1: missing column `{name}` (the header must be `label,score`)",
                path.display()
            )
        })
    };
    let (li, si) = (col("label")?, col("score")?);
    let (mut labels, mut scores) = (vec![], vec![]);
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            anyhow::anyhow!("{}:{line}: {e}", path.display())
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let at = |what: String| format!("{}:{line}: {what}", path.display());
        let field = |i: usize, name: &str| {
            rec.get(i)
                .filter(|s| !s.is_empty())
                .with_context(|| at(format!("missing `{name}` value")))
        };
        let label = match field(li, "label")? {
            "0" => false,
            "1" => true,
            other => bail!(at(format!("label `{other}` is not 0 or 1"))),
        };
        let raw = field(si, "score")?;
        let score: f64 = raw
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| at(format!("score `{raw}` is not a finite number")))?;
        labels.push(label);
        scores.push(score);
    }
    if labels.is_empty() {
        bail!("{}: no data rows", path.display());
    }
    Ok((labels, scores))
}
