"""Golden values for crates/metrics/tests/anomaly.rs and crates/cli/tests/metrics_eval.rs:
scikit-learn's metrics for the anomaly protocol on score sets with ties.

For each case: labels, scores, the 80th-percentile threshold (np.percentile), precision,
recall and F1 of label 1 with `score >= threshold` flagged, AUPRC = auc(recall, precision)
over precision_recall_curve, and average_precision_score. Case `ties` is also written as
metrics_anomaly/ties.csv for the CLI test.
"""
import os
import sys

import numpy as np
import torch
from sklearn.metrics import (auc, average_precision_score, precision_recall_curve,
                             precision_recall_fscore_support)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dump  # noqa: E402


def scalar(x):
    return torch.tensor(float(x), dtype=torch.float64)


HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(99)


def metrics(y, s):
    thr = np.percentile(s, 80)
    pred = (s >= thr).astype(int)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    pc, rc, _ = precision_recall_curve(y, s)
    return thr, p, r, f, auc(rc, pc), average_precision_score(y, s)


cases = {}
# Many ties: scores on a coarse grid, anomalies scored higher on average.
y = (rng.rand(200) < 0.2).astype(int)
cases["ties"] = (y, np.round(rng.rand(200) * 4 + y * 1.5) / 2.0)
# Continuous scores, 20% anomalies.
y = np.r_[np.ones(60), np.zeros(240)].astype(int)
cases["continuous"] = (y, rng.randn(300) + 1.2 * y)
# Everything tied: the threshold equals the common score, every example is flagged.
cases["all_tied"] = (np.array([0, 1, 0, 0, 1, 0, 0]), np.full(7, 0.25))
# Threshold between two values (linear interpolation), and no true positives flagged.
cases["inverted"] = (np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                     np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.7]))
tensors = {}
for name, (y, s) in cases.items():
    thr, p, r, f, ap_auc, ap = metrics(y, s)
    tensors[f"{name}_labels"] = torch.from_numpy(y.astype(np.float64))
    tensors[f"{name}_scores"] = torch.from_numpy(s.astype(np.float64))
    for key, v in [("threshold", thr), ("precision", p), ("recall", r), ("f1", f),
                   ("auprc", ap_auc), ("average_precision", ap)]:
        tensors[f"{name}_{key}"] = scalar(v)
    pc, rc, th = precision_recall_curve(y, s)
    tensors[f"{name}_curve_precision"] = torch.from_numpy(pc)
    tensors[f"{name}_curve_recall"] = torch.from_numpy(rc)
    tensors[f"{name}_curve_thresholds"] = torch.from_numpy(th.astype(np.float64))

os.makedirs(os.path.join(HERE, "metrics_anomaly"), exist_ok=True)
y, s = cases["ties"]
with open(os.path.join(HERE, "metrics_anomaly", "ties.csv"), "w") as f:
    f.write("label,score\n")
    for a, b in zip(y, s):
        f.write(f"{int(a)},{float(b)!r}\n")

dump("metrics_anomaly.json", tensors, sklearn=__import__("sklearn").__version__,
     cases=list(cases))
