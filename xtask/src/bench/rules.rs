//! Pass/fail: the target of each workload and whether a run met it.

use super::stats::Outcome;

/// The workload whose rate is the machine's reference (always measured).
pub const MATMUL: &str = "matmul";
/// The workload whose iteration the batch assembly is held against.
pub const STACKED: &str = "stackedmnist";
/// Assembling one StackedMNIST batch.
pub const BATCH: &str = "batch";
/// The toy MEG iteration, which must also reach a fraction of matmul.
pub const TOY: &str = "toy";

/// Fraction of the matmul rate the toy iteration must reach.
pub const TOY_MIN_FRACTION: f64 = 0.85;
/// Largest share of a StackedMNIST iteration its batch assembly may take.
pub const BATCH_MAX_SHARE: f64 = 0.05;
/// Real batches one StackedMNIST iteration assembles (its k_e).
pub const STACKED_BATCHES_PER_ITERATION: f64 = 5.0;

/// A workload's target in words and whether it was met (None: no target,
/// or not measurable in this run), given the matmul rate and the
/// StackedMNIST iteration time when measured.
pub fn verdict(
    o: &Outcome,
    matmul: Option<f64>,
    stacked_ms: Option<f64>,
) -> (String, Option<bool>) {
    match (o.name(), o.workload.min_ratio) {
        (TOY, Some(r)) => {
            let target = format!("ratio ≥ {r}, ≥ {:.0}% of matmul", TOY_MIN_FRACTION * 100.0);
            let ok = o
                .fraction(matmul)
                .map(|f| o.ratio() >= r && f >= TOY_MIN_FRACTION);
            (target, ok)
        }
        (BATCH, _) => (
            format!(
                "{STACKED_BATCHES_PER_ITERATION}× batch < {:.0}% of a stackedmnist iteration",
                BATCH_MAX_SHARE * 100.0
            ),
            stacked_ms.map(|s| batch_share(o.ours(), s) < BATCH_MAX_SHARE),
        ),
        (_, Some(r)) => (format!("ratio ≥ {r}"), Some(o.ratio() >= r)),
        (_, None) => ("—".into(), None),
    }
}

/// The share of a StackedMNIST iteration spent assembling its real batches.
pub fn batch_share(batch_ms: f64, iteration_ms: f64) -> f64 {
    STACKED_BATCHES_PER_ITERATION * batch_ms / iteration_ms
}

#[cfg(test)]
mod tests {
    use super::super::stats::fixture::{outcome, workload};
    use super::super::stats::Outcome;
    use super::*;

    #[test]
    fn targets() {
        let toy = outcome(
            workload(TOY, "ms", Some(1.05)),
            &[100.0, 90.0, 110.0],
            &[120.0],
            2.0,
        );
        // Ratio 1.2 but 20 of 100 GFLOP/s is below 85% of the matmul rate.
        let (target, met) = verdict(&toy, Some(100.0), None);
        assert_eq!(
            (target.as_str(), met),
            ("ratio ≥ 1.05, ≥ 85% of matmul", Some(false))
        );
        assert_eq!(verdict(&toy, Some(22.0), None).1, Some(true));
        assert_eq!(verdict(&toy, None, None).1, None);
        // Per-run references: a median fraction of 0.909 meets it.
        let with_ref = Outcome {
            reference: vec![40.0, 20.0, 20.0],
            ..toy.clone()
        };
        assert_eq!(verdict(&with_ref, Some(1000.0), None).1, Some(true));
        let slow = outcome(workload(TOY, "ms", Some(1.05)), &[100.0], &[104.0], 2.0);
        assert_eq!(verdict(&slow, Some(20.0), None).1, Some(false));

        let kdd = outcome(workload("kdd", "ms", Some(1.4)), &[10.0], &[13.0], 1.0);
        assert_eq!(
            verdict(&kdd, None, None),
            ("ratio ≥ 1.4".into(), Some(false))
        );
        let mala = outcome(workload("mala", "ms", None), &[10.0], &[13.0], 1.0);
        assert_eq!(verdict(&mala, None, None), ("—".into(), None));

        // 5 × 1 ms of a 100 ms iteration is 5%: not below 5%.
        let batch = outcome(workload(BATCH, "ms", None), &[1.0], &[1.0], 0.0);
        let (target, met) = verdict(&batch, None, Some(100.0));
        assert_eq!(target, "5× batch < 5% of a stackedmnist iteration");
        assert_eq!(met, Some(false));
        assert_eq!(verdict(&batch, None, Some(101.0)).1, Some(true));
        assert_eq!(verdict(&batch, None, None).1, None);
        assert_eq!(batch_share(2.0, 1000.0), 0.01);
    }
}
