"""Which Fashion-MNIST class makes a real anomaly-detection stand-in for KDD99 (Table 3)?

For each class c: the models would train on 80% of the other nine classes, and the test set is
the other 20% plus class c, re-mixed to 20% anomalies as KDD99's test half is (the protocol of
`experiments/table3.yaml`'s quick profile; the split here is numpy's, not the Rust ChaCha8 one,
which does not matter for a per-class comparison). Two method-independent baselines score the
test images with scikit-learn, and the top 20% of scores are flagged:

- kNN: mean Euclidean distance to the 5 nearest training images (a 10,000-image subsample);
- PCA: reconstruction error with 50 principal components of the training images.

A class that neither baseline tells apart from the others is a poor stand-in: a detector at
chance there says nothing about the detector. Run with the project's torch venv:

    .torch-venv/bin/python experiments/analysis/anomaly_standin.py [IDX_DIR] > out.md

IDX_DIR defaults to Debian's /usr/share/datasets/fashion-mnist. Prints a markdown table.
"""

import gzip
import sys
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score, f1_score
from sklearn.neighbors import NearestNeighbors

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
ANOMALY_SHARE = 0.2


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(root):
    x = np.concatenate([idx(f"{root}/train-images-idx3-ubyte.gz"),
                        idx(f"{root}/t10k-images-idx3-ubyte.gz")])
    y = np.concatenate([idx(f"{root}/train-labels-idx1-ubyte.gz"),
                        idx(f"{root}/t10k-labels-idx1-ubyte.gz")])
    return x.reshape(len(x), -1).astype(np.float32) / 127.5 - 1.0, y.astype(np.int64)


def split(x, y, c, rng):
    others = rng.permutation(np.flatnonzero(y != c))
    held = rng.permutation(np.flatnonzero(y == c))
    n_train = len(others) * 8 // 10
    normal = others[n_train:]
    want = int(len(normal) * ANOMALY_SHARE / (1 - ANOMALY_SHARE))
    test = np.concatenate([normal, held[:want]])
    labels = np.concatenate([np.zeros(len(normal)), np.ones(want)]).astype(np.int64)
    return x[others[:n_train]], x[test], labels


def flagged_f1(labels, scores):
    flagged = scores > np.percentile(scores, 100 * (1 - ANOMALY_SHARE))
    return f1_score(labels, flagged)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    x, y = load(root)
    print("| anomaly class | kNN F1 | kNN AUPRC | PCA F1 | PCA AUPRC |")
    print("|---|---|---|---|---|")
    t0 = time.time()
    for c in range(10):
        rng = np.random.default_rng(42)
        train, test, labels = split(x, y, c, rng)
        sub = train[rng.choice(len(train), 10_000, replace=False)]
        dist, _ = NearestNeighbors(n_neighbors=5).fit(sub).kneighbors(test)
        knn = dist.mean(axis=1)
        pca = PCA(n_components=50, random_state=0).fit(train)
        recon = pca.inverse_transform(pca.transform(test))
        err = ((test - recon) ** 2).sum(axis=1)
        print(f"| {c} {CLASSES[c]} | {flagged_f1(labels, knn):.3f} | "
              f"{average_precision_score(labels, knn):.3f} | {flagged_f1(labels, err):.3f} | "
              f"{average_precision_score(labels, err):.3f} |", flush=True)
    print(f"\nChance: F1 = AUPRC = {ANOMALY_SHARE} (anomaly share of the test set). "
          f"{time.time() - t0:.0f} s.")


if __name__ == "__main__":
    main()
