"""Diagnostic (writes nothing): the authors' MEG training step on StackedMNIST, run in
PyTorch, to compare its early trajectory with ours at the same sizes.

It uses the MNIST-family nets of meg_nets.py (written here from the authors'
architecture, networks/mnist.py of github.com/ritheshkumar95/energy_based_generative_models
at b4a8d82; no code of theirs is part of this repository, and their own code is used
only through a checkout given at run time, `--reference DIR`), the training step as
their scripts/train/functions.py defines it (Adam(1e-4, (0.5, 0.9)), 5 energy steps
per generator step, lambda = 10 on their score penalty: the squared L2 norm over
channels of grad_x E, averaged over pixels and the batch) and their data recipe
(data/mnist.py: 128·10^k stacks of uniformly drawn training images in [-1, 1], batches
drawn with replacement), on Fashion-MNIST from Debian's dataset-fashion-mnist package.

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
import torch.nn.functional as F

from meg_nets import constructors

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
Z_DIM, BATCH, ENERGY_STEPS, LAMBDA = 128, 64, 5, 10


def pixel_penalty(energy, x):
    """Their penalty: ||grad_x E(x)||^2 over channels, averaged over pixels and batch."""
    x.requires_grad_(True)
    grad, = torch.autograd.grad(energy(x).sum(), x, create_graph=True)
    return grad.norm(2, dim=1).pow(2).mean()


class Stacks:
    """128·10^n_stack fixed stacks of `n_stack` uniformly drawn images; batches drawn
    from them with replacement, pixels in [-1, 1]."""

    def __init__(self, n_stack):
        raw = gzip.open(FASHION).read()[16:]
        self.images = np.frombuffer(raw, np.uint8).reshape(-1, 28, 28)
        self.rng = np.random.RandomState(111)
        self.stacks = self.rng.randint(0, 60000, size=(128 * 10**n_stack, n_stack))

    def batch(self):
        picked = self.stacks[self.rng.randint(0, len(self.stacks), BATCH)]
        return torch.from_numpy(self.images[picked].astype(np.float32) / 255 * 2 - 1)


def generator_step(e, g, t, opt_g, opt_t):
    """G and T on mean E(G(z)) + BCE(T(G(z), z) -> 1, T(G(z), shuffled z) -> 0);
    returns the BCE."""
    g.zero_grad()
    t.zero_grad()
    z = torch.randn(BATCH, Z_DIM)
    fake = g(z)
    e_fake = e(fake).mean()
    logits = t(torch.cat([fake, fake]), torch.cat([z, z[torch.randperm(BATCH)]]))
    target = torch.cat([torch.ones(BATCH), torch.zeros(BATCH)])
    mi = F.binary_cross_entropy_with_logits(logits.squeeze(), target)
    (e_fake + mi).backward()
    opt_g.step()
    opt_t.step()
    return mi


def energy_step(e, g, data, opt_e):
    """E on mean E(real) - mean E(fake) + LAMBDA·penalty(real); returns the three terms."""
    e.zero_grad()
    real = data.batch()
    e_real = e(real).mean()
    e_fake = e(g(torch.randn(BATCH, Z_DIM)).detach()).mean()
    pen = pixel_penalty(e, real)
    (e_real - e_fake + LAMBDA * pen).backward()
    opt_e.step()
    return e_real, e_fake, pen


def main():
    dim, iters = int(sys.argv[1]), int(sys.argv[2])
    n_stack = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.manual_seed(0)
    data = Stacks(n_stack)
    make = constructors("mnist", dim, Z_DIM, n_stack)
    g, e, t = (make[net]() for net in "GET")  # their order, which fixes the init draws
    opt_e, opt_g, opt_t = (torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.5, 0.9))
                           for m in (e, g, t))
    for it in range(1, iters + 1):
        mi = generator_step(e, g, t, opt_g, opt_t)
        for _ in range(ENERGY_STEPS):
            e_real, e_fake, pen = energy_step(e, g, data, opt_e)
        if it % 10 == 0:
            print(
                f"{it} E(real) {e_real.item():.2f} E(fake) {e_fake.item():.2f} "
                f"penalty {pen.item():.3f} (full norm {pen.item() * 784:.1f}) MI {mi.item():.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
