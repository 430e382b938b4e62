"""Golden values for crates/models/tests/mcmc.rs: MALA steps (latent and visible space)
on the toy family (width 8, z_dim 2, 3 hidden layers) with PyTorch-default-initialized
weights, fixed initial states, fixed proposal noise and fixed acceptance uniforms.
Written as in the method notes (../shared/MEG-method.md, "Latent-space MCMC"): the
standard variant uses the squared norm in log q; the authors' released variant
(their scripts/sampler.py, MALA_corrected_sampler) the unsquared norm."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import dump

torch.manual_seed(20190123)
W, Z, X, N, K = 8, 2, 2, 8, 3


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


E = Mlp([X, W, W, W, 1], lambda h: F.leaky_relu(h, 0.2))
G = Mlp([Z, W, W, W, X], torch.relu)
T = Mlp([X + Z, W, W, W, 1], lambda h: F.leaky_relu(h, 0.2))
with torch.no_grad():
    # Sharper than at initialization, so that E(G(z)) varies and the chains reject.
    for net in (E, G):
        for l in net.layers:
            l.weight.mul_(2.5)
for p in [*E.parameters(), *G.parameters(), *T.parameters()]:
    p.requires_grad_(False)
energy = lambda x: E(x).reshape(-1)

out = {}
for prefix, net in [("E", E), ("G", G), ("T", T)]:
    for i, l in enumerate(net.layers):
        out[f"{prefix}.{i}.weight"] = l.weight
        out[f"{prefix}.{i}.bias"] = l.bias

sq_norm = lambda d: d.flatten(1).pow(2).sum(1)


def latent_target(beta, prior):
    def f(z):
        e = energy(G(z))
        u = e * beta
        return (u + 0.5 * sq_norm(z) if prior else u), e
    return f


def visible_target(beta):
    def f(x):
        e = energy(x)
        return e * beta, e
    return f


def evaluate(target, x):
    x = x.detach().requires_grad_(True)
    u, e = target(x)
    g = torch.autograd.grad(u.sum(), x)[0]
    return x.detach(), u.detach(), e.detach(), g


def log_q(d, alpha, authors):
    n = sq_norm(d)
    return -(n.sqrt() if authors else n) / (4 * alpha)


# (case name, space, alpha, beta, prior, authors' variant, clamp)
cases = [
    ("latent_standard_prior", "latent", 0.6, 5.0, True, False, None),
    ("latent_standard_noprior", "latent", 0.6, 5.0, False, False, None),
    ("latent_authors", "latent", 0.6, 5.0, False, True, None),
    ("latent_authors_prior", "latent", 0.6, 5.0, True, True, None),
    ("visible_standard", "visible", 0.2, 5.0, None, False, None),
    ("visible_authors_clamp", "visible", 0.5, 5.0, None, True, (-0.5, 0.5)),
]
z0 = torch.randn(N, Z) * 1.5
x0 = torch.randn(N, X) * 0.7
out.update(z0=z0, x0=x0)
for name, space, alpha, beta, prior, authors, clamp in cases:
    target = latent_target(beta, prior) if space == "latent" else visible_target(beta)
    x, u, e, g = evaluate(target, z0 if space == "latent" else x0)
    for k in range(K):
        eps = torch.randn_like(x)
        uni = torch.rand(N)
        y = x - alpha * g + math.sqrt(2 * alpha) * eps
        if clamp is not None:
            y = y.clamp(*clamp)
        y, uy, ey, gy = evaluate(target, y)
        log_ratio = u - uy + log_q(x - y + alpha * gy, alpha, authors) \
            - log_q(y - x + alpha * g, alpha, authors)
        prob = log_ratio.clamp(max=0).exp()
        assert (uni - prob).abs().min() > 1e-3, f"{name} step {k}: uniform too close to the threshold"
        acc = uni < prob
        x = torch.where(acc[:, None], y, x)
        u, e = torch.where(acc, uy, u), torch.where(acc, ey, e)
        g = torch.where(acc[:, None], gy, g)
        p = f"{name}.{k}"
        out.update({f"{p}.eps": eps, f"{p}.uniform": uni, f"{p}.proposal": y,
                    f"{p}.log_ratio": log_ratio, f"{p}.accept_prob": prob,
                    f"{p}.accept": acc, f"{p}.next": x, f"{p}.u": u, f"{p}.e": e})
        print(f"{p}: accepted {int(acc.sum())}/{N}, mean prob {prob.mean():.3f}")

dump("models_mcmc.json", out, width=W, z_dim=Z, batch=N, steps=K,
     cases=[dict(zip(["name", "space", "alpha", "beta", "prior", "authors", "clamp"], c))
            for c in cases])
