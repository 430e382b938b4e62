"""The PyTorch side of the `parity` target: trains one run of MEG (or WGAN-GP) from a JSON
run config and writes what the Rust side writes for its own runs, so that the same Rust
code evaluates both.

    python tests/parity/reference.py CONFIG.json OUT_DIR

Two references, chosen by the config's `reference` field:
- null: the project's own PyTorch code: the networks of tests/golden/meg_nets.py and the
  training step written below from the method (../shared/MEG-method.md): k_g generator
  steps (G and T descend on mean E(G(z)) + BCE of the JSD estimator), then k_e energy steps
  (mean E(x) - mean E(G(z)) + lambda * mean ||grad_x E(x)||^2, the full squared norm), all
  with Adam(lr, betas).
- a directory: a checkout of the authors' repository
  (github.com/ritheshkumar95/energy_based_generative_models), imported at run time: their
  networks (networks/toy.py) and their training step (scripts/train/functions.py:
  train_generator, train_energy_model). Nothing of theirs is copied here. Their step calls
  `.cuda()` on tensors and modules; without CUDA those calls are made no-ops (the only
  shim; the arithmetic is theirs).

Both references see the same data as the Rust runs: the toy densities are sampled here
with the recipe of crates/datasets/src/toy.rs (same density, a different random stream);
StackedMNIST reads the training images and the fixed stacks that the Rust side exported
(`data.file`: safetensors with uint8 `images` [N, 28, 28] and int64 `stacks` [S, k]) and
draws batches of stacks uniformly with replacement, pixels mapped to [-1, 1], as
crates/models/src/data does (same set, a different random stream).

Penalty weights with the authors' code: their MEG penalty is the squared norm of grad_x E
over channels, averaged over pixels, i.e. the full squared norm / (H·W); it gets lambda·H·W
so that the effective weight is ours. Their WGAN-GP penalty (one interpolation weight per
element, the norm over channels per pixel, (norm - 1)^2 averaged over pixels) is the
config's `gradient_penalty: per-pixel`; it is the only one their code has, so a run with
`per-example` (Gulrajani et al., our default) is compared against it as it is and the
difference is theirs to show. The project's own step computes either, by the config.
metrics.csv holds the penalty as their code logs it; the Rust side multiplies their MEG
image penalty by H·W to put it on our scale.

Writes into OUT_DIR: metrics.csv (iteration,e_real,e_fake,penalty,mi_loss,seconds: the
last generator and energy step of every `log_every`-th iteration, as the Rust loop logs),
samples/<iteration>.safetensors (tensor `samples`: `eval_samples` generator samples in
eval mode from latents seeded with `eval_seed`, every `eval_every` iterations and at
the end; images as uint8, round(255·(x + 1)/2)), and run.json last (config, reference, commit, torch version, seconds): a run
without run.json is unfinished.
"""
import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from meg_nets import constructors  # noqa: E402


# ---- data ---------------------------------------------------------------------------
def toy_sampler(name, seed):
    """A function n -> float32 [n, 2] batch of the toy density `name` (25gaussians:
    5x5 grid at {-4..4 step 2}^2, std 0.05, / 2.828; 8gaussians: radius 2, std 0.02,
    / 1.414; swissroll: sklearn's recipe, noise 0.25, (x, z) / 7.5)."""
    rng = np.random.RandomState(seed)
    if name in ("25gaussians", "8gaussians"):
        if name == "25gaussians":
            s = 2.828
            centres = np.array([[2.0 * i, 2.0 * j] for i in range(-2, 3) for j in range(-2, 3)]) / s
            std = 0.05 / s
        else:
            s = 1.414
            a = np.arange(8) * math.pi / 4
            centres = 2.0 * np.stack([np.cos(a), np.sin(a)], 1) / s
            std = 0.02 / s

        def batch(n):
            c = centres[rng.randint(0, len(centres), n)]
            return torch.from_numpy((c + std * rng.randn(n, 2)).astype(np.float32))

        return batch
    if name == "swissroll":

        def batch(n):
            t = 1.5 * math.pi * (1 + 2 * rng.rand(n))
            x = t * np.cos(t) + 0.25 * rng.randn(n)
            z = t * np.sin(t) + 0.25 * rng.randn(n)
            return torch.from_numpy((np.stack([x, z], 1) / 7.5).astype(np.float32))

        return batch
    sys.exit(f"reference.py: data.name `{name}` is not a toy density (25gaussians, 8gaussians, swissroll)")


def stacks_sampler(path, seed):
    """Batches of the exported StackedMNIST set: uniformly drawn stacks, float [n, k, 28, 28]
    in [-1, 1]."""
    from safetensors.torch import load_file

    d = load_file(path)
    images, stacks = d["images"], d["stacks"]
    gen = torch.Generator().manual_seed(seed)

    def batch(n):
        ids = torch.randint(0, stacks.shape[0], (n,), generator=gen)
        x = images[stacks[ids]].float()
        return (x / 255.0 - 0.5) / 0.5

    return batch


def data_source(cfg):
    data = cfg["data"]
    if data["kind"] == "toy":
        return toy_sampler(data["name"], cfg["seed"] + 7919)
    if data["kind"] == "stacked-mnist":
        return stacks_sampler(data["file"], cfg["seed"] + 7919)
    sys.exit(f"reference.py: data.kind `{data['kind']}` is not supported here (toy, stacked-mnist)")


# ---- the project's own training step --------------------------------------------------
def own_generator_step(e, g, t, opt_g, opt_t, cfg):
    """G and T descend on mean E(G(z)) + BCE(T([x; x], [z; z[perm]]), [1; 0]) (MEG) or
    G on mean E(G(z)) (WGAN-GP, critic D = -E). Returns the BCE (0 for WGAN-GP)."""
    n = cfg["batch_size"]
    opt_g.zero_grad()
    z = torch.randn(n, cfg["z_dim"])
    x = g(z)
    e_fake = e(x).mean()
    if cfg["objective"] == "wgan-gp":
        e_fake.backward()
        opt_g.step()
        return 0.0
    opt_t.zero_grad()
    logits = t(torch.cat([x, x]), torch.cat([z, z[torch.randperm(n)]]))
    target = torch.cat([torch.ones(n), torch.zeros(n)])
    mi = F.binary_cross_entropy_with_logits(logits, target)
    (e_fake + mi).backward()
    opt_g.step()
    opt_t.step()
    return mi.item()


def grad_sq_norm(e, x):
    """Per-example ||grad_x E(x)||^2 over all non-batch axes, keeping the graph."""
    (grad,) = torch.autograd.grad(e(x).sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(1)


def own_energy_step(e, g, opt_e, real, cfg):
    """MEG: mean E(x) - mean E(G(z)) + lambda * mean ||grad_x E(x)||^2; WGAN-GP with
    D = -E: the same first terms + lambda * mean (||grad D(x^)|| - 1)^2 on random
    interpolates (per example, or per pixel over channels with `gradient_penalty:
    per-pixel`). Returns (E(real), E(fake), penalty)."""
    n = cfg["batch_size"]
    opt_e.zero_grad()
    with torch.no_grad():
        fake = g(torch.randn(n, cfg["z_dim"]))
    real = real.clone().requires_grad_(True)
    e_real, e_fake = e(real).mean(), e(fake).mean()
    if cfg["objective"] == "wgan-gp" and cfg["gradient_penalty"] == "per-pixel":
        # One weight per element; the norm over axis 1 (channels) at each pixel.
        alpha = torch.rand_like(real)
        x_hat = (fake + alpha * (real.detach() - fake)).requires_grad_(True)
        (grad,) = torch.autograd.grad(e(x_hat).sum(), x_hat, create_graph=True)
        penalty = (grad.square().sum(1).sqrt() - 1).square().mean()
    elif cfg["objective"] == "wgan-gp":
        alpha = torch.rand([n] + [1] * (real.dim() - 1))
        x_hat = (fake + alpha * (real.detach() - fake)).requires_grad_(True)
        penalty = (grad_sq_norm(e, x_hat).sqrt() - 1).square().mean()
    else:
        penalty = grad_sq_norm(e, real).mean()
    (e_real - e_fake + cfg["lambda"] * penalty).backward()
    opt_e.step()
    return e_real.item(), e_fake.item(), penalty.item()


def own_reference(cfg):
    if cfg["family"] == "toy":
        make = constructors("toy", cfg["width"], cfg["z_dim"], hidden=cfg["hidden"])
    else:
        make = constructors(cfg["family"], cfg["dim"], cfg["z_dim"], channels=cfg["channels"])
    e, g, t = (make[k]() for k in "EGT")
    opt = lambda m: torch.optim.Adam(m.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]))
    opt_e, opt_g, opt_t = opt(e), opt(g), opt(t)
    steps = types.SimpleNamespace(
        generator=lambda: own_generator_step(e, g, t, opt_g, opt_t, cfg),
        energy=lambda real: own_energy_step(e, g, opt_e, real, cfg),
    )
    info = {"kind": "own", "what": "the project's own PyTorch code (tests/golden/meg_nets.py, tests/parity/reference.py)"}
    return g, steps, info


# ---- the authors' code, imported from a checkout ---------------------------------------
def authors_reference(cfg, root):
    root = Path(root).resolve()
    if cfg["family"] not in ("toy", "mnist"):
        sys.exit(f"reference.py: the authors' reference is wired for the toy and mnist families, not `{cfg['family']}`")
    nets = f"networks/{cfg['family']}.py"
    for need in (nets, "scripts/train/functions.py", "networks/regularizers.py"):
        if not (root / need).is_file():
            sys.exit(f"reference.py: --reference {root}: no {need} (not a checkout of ritheshkumar95/energy_based_generative_models?)")
    if not torch.cuda.is_available():
        # Their step moves every tensor and module with .cuda(); on a CPU these are no-ops.
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self
    sys.path[:0] = [str(root), str(root / "scripts" / "train")]
    import importlib

    nets_mod = importlib.import_module(f"networks.{cfg['family']}")
    from functions import (train_energy_model, train_generator, train_wgan_discriminator,
                           train_wgan_generator)

    # Their scripts' order of construction.
    lamda = cfg["lambda"]
    if cfg["family"] == "toy":
        if cfg["hidden"] != 3:
            sys.exit(f"reference.py: the authors' toy nets have 3 hidden layers, the config asks for {cfg['hidden']}")
        g = nets_mod.Generator(cfg["z_dim"], cfg["width"])
        e = nets_mod.EnergyModel(cfg["width"])
        t = nets_mod.StatisticsNetwork(cfg["z_dim"], cfg["width"])
    else:
        k, dim, z_dim = cfg["channels"], cfg["dim"], cfg["z_dim"]
        g = nets_mod.Generator(k, z_dim, dim)
        e = nets_mod.EnergyModel(k, dim)
        t = nets_mod.StatisticsNetwork(k, z_dim, dim)
        if cfg["objective"] == "meg":
            lamda = cfg["lambda"] * 28 * 28  # their penalty is ours / (H·W)
    opt = lambda m: torch.optim.Adam(m.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]))
    opt_e, opt_g, opt_t = opt(e), opt(g), opt(t)
    args = types.SimpleNamespace(batch_size=cfg["batch_size"], z_dim=cfg["z_dim"], lamda=lamda)
    g_costs, e_costs = [], []

    def generator():
        if cfg["objective"] == "wgan-gp":
            train_wgan_generator(g, e_as_critic, opt_g, args)
            return 0.0
        train_generator(g, e, t, opt_g, opt_t, args, g_costs)
        return g_costs[-1][1]

    def energy(real):
        if cfg["objective"] == "wgan-gp":
            train_wgan_discriminator(real, g, e_as_critic, opt_e, args, e_costs)
            d_real, d_fake, _, penalty = e_costs[-1]
            return -d_real, -d_fake, penalty
        train_energy_model(real, g, e, opt_e, args, e_costs)
        return tuple(e_costs[-1])

    # Their WGAN-GP critic D is our -E (crates/models/src/objectives.rs).
    e_as_critic = lambda x: -e(x)
    e_as_critic.zero_grad = e.zero_grad
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    info = {
        "kind": "authors",
        "what": f"the authors' code imported from {root} (networks/toy.py or networks/mnist.py by the run, scripts/train/functions.py, networks/regularizers.py)",
        "lamda": lamda,
        "gradient_penalty": "per-pixel (theirs, whatever the config asks)" if cfg["objective"] == "wgan-gp" else None,
        "dir": str(root),
        "commit": commit.stdout.strip() if commit.returncode == 0 else f"unknown (git: {commit.stderr.strip()})",
    }
    return g, types.SimpleNamespace(generator=generator, energy=energy), info


# ---- the loop -----------------------------------------------------------------------
def atomic(path, write):
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: reference.py CONFIG.json OUT_DIR")
    cfg = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    (out / "samples").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    if cfg["reference"]:
        g, steps, info = authors_reference(cfg, cfg["reference"])
    else:
        g, steps, info = own_reference(cfg)
    batch = data_source(cfg)
    eval_z = torch.randn(cfg["eval_samples"], cfg["z_dim"], generator=torch.Generator().manual_seed(cfg["eval_seed"]))
    rows, t0, total = [], time.time(), cfg["iterations"]
    for it in range(1, total + 1):
        for _ in range(cfg["k_g"]):
            mi = steps.generator()
        for _ in range(cfg["k_e"]):
            e_real, e_fake, penalty = steps.energy(batch(cfg["batch_size"]))
        vals = [e_real, e_fake, penalty, mi]
        if not all(math.isfinite(v) and abs(v) <= 1e8 for v in vals):
            sys.exit(f"reference.py: {cfg['name']}: non-finite or diverged terms {vals} at iteration {it}")
        if it % cfg["log_every"] == 0 or it == total:
            rows.append(f"{it},{e_real},{e_fake},{penalty},{mi},{time.time() - t0:.3f}")
        if it % cfg["eval_every"] == 0 or it == total:
            g.eval()
            with torch.no_grad():
                x = g(eval_z).contiguous()
                if x.dim() == 4:
                    x = ((x + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8)
            g.train()
            atomic(out / "samples" / f"{it}.safetensors", lambda p: save_file({"samples": x}, str(p)))
    header = "iteration,e_real,e_fake,penalty,mi_loss,seconds\n"
    atomic(out / "metrics.csv", lambda p: p.write_text(header + "\n".join(rows) + "\n"))
    record = {"config": cfg, "reference": info, "torch": torch.__version__, "seconds": time.time() - t0}
    atomic(out / "run.json", lambda p: p.write_text(json.dumps(record, indent=1)))


if __name__ == "__main__":
    main()
