"""Benchmark (not a golden): images/second of pytorch-fid's Inception feature extraction
on the synthetic weights, to compare with the Rust side on the same weights, images and
thread count:

  .torch-venv/bin/python tests/golden/metrics_bench.py [THREADS]
  MEG_THREADS=2 cargo test --release -p meg-metrics --test inception -- --ignored --nocapture

Images: 64 of 299x299, pixel i = synthetic_uniform("bench", i) (float32), batch 16.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_synthetic import patch_pytorch_fid_weights, uniform  # noqa: E402

N, BATCH = 64, 16


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    patch_pytorch_fid_weights()
    from pytorch_fid.inception import InceptionV3

    model = InceptionV3([3]).eval()
    images = torch.from_numpy(uniform("bench", N * 3 * 299 * 299).astype(np.float32))
    images = images.reshape(N, 3, 299, 299)
    with torch.no_grad():
        model(images[:BATCH])
        t = time.time()
        for i in range(0, N, BATCH):
            model(images[i:i + BATCH])
        s = time.time() - t
    print(f"pytorch-fid Inception: {N} images 299x299, batch {BATCH}, {threads} threads: "
          f"{s:.2f} s, {N / s:.2f} images/s")


if __name__ == "__main__":
    main()
