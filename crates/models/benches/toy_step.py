"""The MEG toy iteration (1 generator step + 5 energy steps) in eager PyTorch, for
comparison with `cargo bench -p meg-models --bench toy_step`.
Usage: .torch-venv/bin/python crates/models/benches/toy_step.py [width] [batch] [iterations]
(threads from MEG_THREADS, default: torch's default)."""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

if os.environ.get("MEG_THREADS"):
    torch.set_num_threads(int(os.environ["MEG_THREADS"]))
W, N, ITERS = (int(a) for a in (sys.argv[1:] + ["512", "256", "30"][len(sys.argv) - 1:])[:3])


class Mlp(nn.Module):
    def __init__(self, dims, act):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = act

    def forward(self, x):
        h = self.layers[0](x)
        for l in self.layers[1:]:
            h = l(self.act(h))
        return h


lrelu = lambda h: F.leaky_relu(h, 0.2)
E, G, T = Mlp([2, W, W, W, 1], lrelu), Mlp([2, W, W, W, 2], torch.relu), Mlp([4, W, W, W, 1], lrelu)
opt_e = torch.optim.Adam(E.parameters(), 1e-4, betas=(0.5, 0.9))
opt_gt = torch.optim.Adam(list(G.parameters()) + list(T.parameters()), 1e-4, betas=(0.5, 0.9))


def iteration():
    for p in E.parameters():
        p.requires_grad_(False)
    opt_gt.zero_grad()
    z = torch.randn(N, 2)
    x = G(z)
    logits = T(torch.cat([torch.cat([x, x]), torch.cat([z, z[torch.randperm(N)]])], 1)).reshape(-1)
    target = torch.cat([torch.ones(N), torch.zeros(N)])
    (E(x).mean() + F.binary_cross_entropy_with_logits(logits, target)).backward()
    opt_gt.step()
    for p in E.parameters():
        p.requires_grad_(True)
    for _ in range(5):
        opt_e.zero_grad()
        xr = (torch.randn(N, 2) * 0.5).requires_grad_(True)
        with torch.no_grad():
            xf = G(torch.randn(N, 2))
        er = E(xr).reshape(-1)
        g = torch.autograd.grad(er.sum(), xr, create_graph=True)[0]
        (er.mean() - E(xf).mean() + 0.1 * g.pow(2).sum(1).mean()).backward()
        opt_e.step()


times = []
for i in range(ITERS):
    t = time.perf_counter()
    iteration()
    times.append((time.perf_counter() - t) * 1e3)
times = sorted(times[5:])
print(f"torch toy step: width {W}, batch {N}, {torch.get_num_threads()} threads: "
      f"median {times[len(times) // 2]:.1f} ms/iteration over {len(times)} iterations")
