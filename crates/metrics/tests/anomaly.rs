//! Anomaly metrics against scikit-learn (tests/golden/metrics_anomaly.py), and
//! the CSV reader's errors.

use meg_metrics::anomaly::{anomaly_metrics, percentile, precision_recall_curve, read_scores_csv};
use meg_nn::golden::Golden;
use std::io::Write;
use tch::Kind;

fn vec(g: &Golden, name: &str) -> Vec<f64> {
    Vec::try_from(g.get(name, Kind::Double).unwrap()).unwrap()
}

fn close(what: &str, a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: {a} vs sklearn {b}"
    );
}

#[test]
fn metrics_equal_scikit_learn_with_ties() {
    let g = Golden::load("metrics_anomaly.json").unwrap();
    for case in ["ties", "continuous", "all_tied", "inverted"] {
        let labels: Vec<bool> = vec(&g, &format!("{case}_labels"))
            .iter()
            .map(|&l| l == 1.0)
            .collect();
        let scores = vec(&g, &format!("{case}_scores"));
        let s = |k: &str| g.scalar(&format!("{case}_{k}")).unwrap();
        assert_eq!(
            percentile(&scores, 80.0),
            s("threshold"),
            "{case}: threshold"
        );
        let (p, r, t) = precision_recall_curve(&labels, &scores);
        assert_eq!(
            p,
            vec(&g, &format!("{case}_curve_precision")),
            "{case}: curve precision"
        );
        assert_eq!(
            r,
            vec(&g, &format!("{case}_curve_recall")),
            "{case}: curve recall"
        );
        assert_eq!(
            t,
            vec(&g, &format!("{case}_curve_thresholds")),
            "{case}: thresholds"
        );
        let m = anomaly_metrics(&labels, &scores).unwrap();
        close(&format!("{case} precision"), m.precision, s("precision"));
        close(&format!("{case} recall"), m.recall, s("recall"));
        close(&format!("{case} f1"), m.f1, s("f1"));
        close(&format!("{case} auprc"), m.auprc, s("auprc"));
        close(
            &format!("{case} average precision"),
            m.average_precision,
            s("average_precision"),
        );
    }
}

#[test]
fn percentile_interpolates_like_numpy() {
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 80.0), 3.4000000000000004);
    assert_eq!(percentile(&[5.0], 80.0), 5.0);
    assert_eq!(percentile(&[3.0, 1.0, 2.0], 100.0), 3.0);
}

#[test]
fn metrics_reject_bad_input() {
    assert!(anomaly_metrics(&[false, false], &[0.1, 0.2]).is_err());
    assert!(anomaly_metrics(&[true, false], &[f64::NAN, 0.2]).is_err());
    assert!(anomaly_metrics(&[true], &[0.1, 0.2]).is_err());
    assert!(anomaly_metrics(&[], &[]).is_err());
}

fn csv_err(text: &str) -> String {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let err = read_scores_csv(f.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&f.path().display().to_string()),
        "no file name in: {msg}"
    );
    msg
}

#[test]
fn csv_errors_name_file_and_line() {
    assert!(csv_err("label\n1\n").contains(":1: missing column `score`"));
    assert!(
        csv_err("label,score\n1,0.5\n0,abc\n").contains(":3: score `abc` is not a finite number")
    );
    assert!(csv_err("label,score\n1,0.5\n0,NaN\n").contains(":3: score `NaN`"));
    assert!(csv_err("label,score\n2,0.5\n").contains(":2: label `2` is not 0 or 1"));
    assert!(csv_err("label,score\n1,0.5\n0\n").contains(":3:"));
    assert!(csv_err("label,score\n1,\n").contains(":2: missing `score` value"));
    assert!(csv_err("label,score\n").contains("no data rows"));
    let missing = std::path::Path::new("/nonexistent/scores.csv");
    assert!(
        format!("{:#}", read_scores_csv(missing).unwrap_err()).contains("/nonexistent/scores.csv")
    );
}

#[test]
fn csv_reads_columns_by_name() {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    f.write_all(b"score, label\r\n0.5, 1\r\n-2e-3,0\r\n")
        .unwrap();
    let (l, s) = read_scores_csv(f.path()).unwrap();
    assert_eq!(l, vec![true, false]);
    assert_eq!(s, vec![0.5, -0.002]);
}
