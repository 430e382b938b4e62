"""Golden values for crates/models/tests/nets.rs: E, G and T of every model family,
as built by meg_nets.py (the nets written here from the architecture of the paper's
models as the authors define it, github.com/ritheshkumar95/energy_based_generative_models
at b4a8d82, networks/{mnist,cifar,celeba,kdd}.py: layer types, shapes, order, init and
state-dict names; KDD's 121 features are a parameter). No code of the authors' is
part of this repository; their own code is used only from a checkout given at run
time (`--reference DIR`).

For each family at a small size, on a fixed batch: E(x), T(x, z), G(z) in train mode
(batch statistics) then in eval mode (running statistics, after the train-mode pass
updated them), the running statistics after that pass, the input gradient of sum E(x),
the score penalty mean_i ||grad_x E(x_i)||^2 (full norm over C, H, W) and its gradient
with respect to each parameter of E of at most 4096 scalars (a double backward: all of
them but KDD's three large weight matrices). Parameter counts at these sizes and at the
paper's sizes.

Everything is computed in float64. Weights are redrawn so that every input matters:
conv and Linear weights N(0, 2 / fan_in) (He scale; the authors' N(0, 0.02) leaves E
nearly constant in x at these sizes, and the init rules are tested on fresh Rust models
instead), biases and the BatchNorm affine parameters and running statistics perturbed
around their defaults; rounded to 4 decimals and stored under our variable names (the state-dict names,
prefixed E./G./T.; PyTorch's num_batches_tracked is not used at momentum 0.1 and has
no counterpart). KDD's ~200k weights are not stored: both sides fill them from
`pattern` below. Inputs x come from `pattern` too. Outputs are rounded to 8
significant digits, and image-shaped ones (G(z), grad_x) stored after 4x4 average
pooling, which every pixel enters, to keep this file small. The random draws (the
nets' initialization, then the redraws above) follow torch.manual_seed below, so the
nets must be built in the same order, layer for layer, for this file to stay the same.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import dump
from meg_nets import build

torch.manual_seed(20190123)


def pattern(shape, j):
    """Deterministic values in [-1, 1): ((7919 i + 104729 j) mod 2001) / 1000 - 1 over
    the flat index i, exact in float64 (crates/models/tests/nets.rs has the same)."""
    n = 1
    for s in shape:
        n *= s
    i = torch.arange(n, dtype=torch.int64)
    return (((i * 7919 + j * 104729) % 2001).double() / 1000 - 1).reshape(shape)


def sig(t, digits=8):
    """Rounds to `digits` significant digits (shorter JSON; tests compare at 1e-4)."""
    t = t.detach().double()
    vals = [float(f"{v:.{digits}g}") for v in t.reshape(-1).tolist()]
    return torch.tensor(vals, dtype=torch.float64).reshape(t.shape)


def image_sig(t):
    """`sig` of an output, 4x4 average-pooled if it is a batch of images."""
    return sig(F.avg_pool2d(t, 4) if t.dim() == 4 else t)


def variables(nets):
    """Our variable names (sorted within each net, as Model::named_variables) -> tensor."""
    out = {}
    for prefix, net in zip("EGT", nets):
        sd = net.state_dict()
        for k in sorted(sd):
            if not k.endswith("num_batches_tracked"):
                out[f"{prefix}.{k}"] = sd[k]
    return out


def counts(nets):
    return [sum(p.numel() for p in net.parameters()) for net in nets]


MAX_GRAD_NUMEL = 4096

def main():
    out = {}
    N = {"mnist": 3, "cifar": 3, "celeba": 2, "kdd": 5}
    GOLDEN_SIZES = {
        "mnist": dict(dim=16, z_dim=8, channels=3),
        "cifar": dict(dim=16, z_dim=8),
        "celeba": dict(dim=8, z_dim=8),
        "kdd": dict(dim=0, z_dim=32),
    }
    X_SHAPE = {"mnist": [3, 28, 28], "cifar": [3, 32, 32], "celeba": [3, 64, 64], "kdd": [121]}

    for fam, size in GOLDEN_SIZES.items():
        nets = [net.double() for net in build(fam, **size)]
        E, G, T = nets
        with torch.no_grad():
            for net in nets:
                for m in net.modules():
                    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                        m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
                        m.bias.normal_(0.0, 0.1)
                    if isinstance(m, nn.BatchNorm2d):
                        m.weight.add_(0.1 * torch.randn_like(m.weight))
                        m.bias.normal_(0.0, 0.1)
                        m.running_mean.normal_(0.0, 0.1)
                        m.running_var.uniform_(0.5, 1.5)
            names = variables(nets)
            for j, (name, v) in enumerate(names.items()):
                if fam == "kdd":
                    # Weights U(-1, 1)·sqrt(6 / fan_in) (He scale, as above), biases ·0.1.
                    scale = (6 / v.shape[1]) ** 0.5 if v.dim() == 2 else 0.1
                    v.copy_(pattern(list(v.shape), j) * scale)
                    out[f"{fam}.shape.{name}"] = torch.tensor(list(v.shape))
                else:
                    v.copy_(torch.round(v * 1e4) / 1e4)
                    out[f"{fam}.{name}"] = v.clone()
        out[f"{fam}.n_vars"] = torch.tensor(len(names))
        out[f"{fam}.count"] = torch.tensor(counts(nets))

        n, z_dim = N[fam], size["z_dim"]
        z = torch.round(torch.randn(n, z_dim, dtype=torch.float64) * 1e4) / 1e4
        x = pattern([n] + X_SHAPE[fam], 1000).requires_grad_(True)
        energy = E(x)
        gx, = torch.autograd.grad(energy.sum(), x, create_graph=True)
        penalty = gx.pow(2).flatten(1).sum(1).mean()
        e_params = [(k, p) for k, p in E.named_parameters()]
        grads = torch.autograd.grad(penalty, [p for _, p in e_params], allow_unused=True)
        for (k, p), g in zip(e_params, grads):
            if p.numel() <= MAX_GRAD_NUMEL:
                out[f"{fam}.penalty_grad.E.{k}"] = sig(torch.zeros_like(p) if g is None else g)
        G.train()
        g_train = G(z)
        after = variables(nets)
        for name in names:
            if "running_" in name:
                out[f"{fam}.after.{name}"] = sig(after[name])
        G.eval()
        g_eval = G(z)
        out.update({
            f"{fam}.z": z,
            f"{fam}.energy": sig(energy),
            f"{fam}.statistics": sig(T(x.detach(), z)),
            f"{fam}.g_train": image_sig(g_train),
            f"{fam}.g_eval": image_sig(g_eval),
            f"{fam}.grad_x": image_sig(gx),
            f"{fam}.penalty": sig(penalty),
        })

    # Parameter counts (E, G, T) at the paper's sizes.
    PAPER = {
        "mnist": dict(dim=512, z_dim=128, channels=3),
        "mnist1": dict(dim=512, z_dim=128, channels=1),
        "cifar": dict(dim=512, z_dim=128),
        "celeba": dict(dim=512, z_dim=128),
        "kdd": dict(dim=0, z_dim=32),
    }
    for name, size in PAPER.items():
        fam = "mnist" if name == "mnist1" else name
        c = counts(build(fam, **size))
        out[f"paper.{name}.count"] = torch.tensor(c)
        print(name, "E, G, T parameters:", c)

    # `source`: where the architecture comes from (meg_nets.py).
    dump("models_nets.json", out, sizes=GOLDEN_SIZES, batch=N, paper_sizes=PAPER,
         source="ritheshkumar95/energy_based_generative_models@b4a8d82 networks/*.py")


if __name__ == "__main__":
    main()
