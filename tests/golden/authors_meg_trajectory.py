"""Diagnostic (writes nothing): the authors' MEG training step on StackedMNIST, run in
PyTorch, to compare its early trajectory with ours at the same sizes.

It uses the authors' classes (copied in models_nets.py), their `train_generator` /
`train_energy_model` logic (scripts/train/functions.py at b4a8d82: Adam(1e-4, (0.5, 0.9)),
5 energy steps per generator step, lambda = 10 on their per-pixel-averaged score penalty)
and their data recipe (data/mnist.py: 128·10^k stacks of uniformly drawn training images
in [-1, 1], batches drawn with replacement), on Fashion-MNIST from Debian's
dataset-fashion-mnist package.

    python tests/golden/authors_meg_trajectory.py DIM ITERATIONS [STACKS]

prints E(real), E(fake), the penalty (theirs and as the full squared norm we log) and the
MI estimator's BCE every 10 iterations. Compare with
`meg train` on a run config with the same model (family mnist, dim DIM, z_dim 128), data
(stacked-mnist, fashion-mnist), lambda 10/784, lr 1e-4: the curves are not identical
(different random streams) but should look alike.
"""
import gzip
import sys

import numpy as np
import torch
import torch.nn as nn

from models_nets import MnistEnergyModel, MnistGenerator, MnistStatisticsNetwork

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def score_penalty(net_e, data):
    data.requires_grad_(True)
    e = net_e(data)
    s = torch.autograd.grad(e, data, torch.ones_like(e), create_graph=True)[0]
    return (s.norm(2, dim=1) ** 2).mean()


def main():
    dim, iters = int(sys.argv[1]), int(sys.argv[2])
    n_stack = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    z_dim, bs = 128, 64
    torch.manual_seed(0)
    x = np.frombuffer(gzip.open(FASHION).read()[16:], np.uint8).reshape(60000, 28, 28)
    rng = np.random.RandomState(111)
    ids = rng.randint(0, 60000, size=(128 * 10**n_stack, n_stack))

    def batch():
        b = ids[rng.randint(0, len(ids), bs)]
        return torch.from_numpy(x[b].astype(np.float32) / 255 * 2 - 1)

    g = MnistGenerator(n_stack, z_dim, dim)
    e = MnistEnergyModel(n_stack, dim)
    h = MnistStatisticsNetwork(n_stack, z_dim, dim)
    p = {"lr": 1e-4, "betas": (0.5, 0.9)}
    opt_e, opt_g, opt_h = (torch.optim.Adam(m.parameters(), **p) for m in (e, g, h))
    label = torch.zeros(2 * bs)
    label[:bs] = 1
    for it in range(1, iters + 1):
        g.zero_grad()
        h.zero_grad()
        z = torch.randn(bs, z_dim)
        x_fake = g(z)
        d_fake = e(x_fake).mean()
        logits = h(torch.cat([x_fake, x_fake]), torch.cat([z, z[torch.randperm(bs)]]))
        mi = nn.BCEWithLogitsLoss()(logits.squeeze(), label)
        (d_fake + mi).backward()
        opt_g.step()
        opt_h.step()
        for _ in range(5):
            e.zero_grad()
            x_real = batch()
            d_real = e(x_real).mean()
            d_fake_e = e(g(torch.randn(bs, z_dim)).detach()).mean()
            pen = score_penalty(e, x_real)
            (d_real - d_fake_e + 10 * pen).backward()
            opt_e.step()
        if it % 10 == 0:
            print(
                f"{it} E(real) {d_real.item():.2f} E(fake) {d_fake_e.item():.2f} "
                f"penalty {pen.item():.3f} (full norm {pen.item() * 784:.1f}) MI {mi.item():.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
