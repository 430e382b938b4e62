"""The eager-PyTorch twin of `meg-bench`: the same workloads, written as a PyTorch user
would write them (nn.Sequential nets mirroring crates/models/src/nets, torch.optim.Adam,
autograd.grad for the score penalty, pytorch-fid's InceptionV3), at the same sizes.

  .torch-venv/bin/python crates/bench/bench.py --workloads LIST [NAME ...]
        [--device cpu|cuda] [--warmup W] [--iters N] [--smoke] [--flops]

LIST is the file (or `-`, stdin) that `meg-bench --list --json` prints: the workloads'
names and units (`cargo xtask bench` writes it to target/bench-workloads.json).
Threads: MEG_THREADS (torch.set_num_threads), as meg-bench; MEG_CUDNN_BENCHMARK=1 sets
torch.backends.cudnn.benchmark, as it does for meg-bench. Prints one line per workload,
`bench-result {"workload": ..., "unit": ..., "samples": [...], "threads": ...,
"device": ..., "libtorch": ..., "params": [E, G, T]}`, the format `cargo xtask bench`
reads from both programs.

--flops prints instead `bench-flops {"workload": ..., "gflop": G}` with G the GFLOP of one
timed unit (iteration, step, batch; one image for inception), counted from the shapes of
the matrix products and convolutions that unit dispatches (torch.utils.flop_counter's
formulas: 2·M·N·K per mm/addmm/bmm, 2·N·Cout·Hout·Wout·Cin·kh·kw per convolution, and
per requested gradient of convolution_backward). It therefore includes every backward,
the create_graph backward of the score penalty and the backward through it.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(device, warmup, iters, f):
    """Milliseconds of each of `iters` calls of f, after `warmup` untimed ones."""
    for _ in range(warmup):
        f()
    sync(device)
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        f()
        sync(device)
        out.append((time.perf_counter() - t) * 1e3)
    return out


# ---- networks (mirroring crates/models/src/nets/families.rs) ----

def mlp(dims, act):
    layers = [nn.Linear(dims[0], dims[1])]
    for a, b in zip(dims[1:-1], dims[2:]):
        layers += [act(), nn.Linear(a, b)]
    return nn.Sequential(*layers)


def lrelu(slope):
    return lambda: nn.LeakyReLU(slope)


class ConcatT(nn.Module):
    """T(x, z) = MLP(concat(x, z))."""

    def __init__(self, dims, act):
        super().__init__()
        self.main = mlp(dims, act)

    def forward(self, x, z):
        return self.main(torch.cat([x.flatten(1), z], 1))


class Encoder(nn.Module):
    """A conv trunk, flattened, then `expand` Linear(features, out)."""

    def __init__(self, trunk, features, out):
        super().__init__()
        self.main, self.expand = trunk(), nn.Linear(features, out)

    def forward(self, x):
        return self.expand(self.main(x).flatten(1))


class ConvT(nn.Module):
    """T(x, z) = classify(concat(encoder(x), z))."""

    def __init__(self, trunk, features, z_dim, dim, slope):
        super().__init__()
        self.encoder = Encoder(trunk, features, z_dim)
        self.classify = nn.Sequential(nn.Linear(2 * z_dim, dim), nn.LeakyReLU(slope), nn.Linear(dim, 1))

    def forward(self, x, z):
        return self.classify(torch.cat([self.encoder(x), z], 1))


class ConvG(nn.Module):
    def __init__(self, z_dim, seed, main):
        super().__init__()
        self.seed = seed
        self.expand, self.main = nn.Linear(z_dim, math.prod(seed)), main

    def forward(self, z):
        return self.main(self.expand(z).view(-1, *self.seed))


def dcgan_init(m):
    """The authors' weights_init: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02), bias 0."""
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(mod.weight, 0.0, 0.02)
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.normal_(mod.weight, 1.0, 0.02)
            nn.init.zeros_(mod.bias)
    return m


def toy_nets(width, z_dim=2, hidden=3):
    dims = lambda i, o: [i] + [width] * hidden + [o]
    return (mlp(dims(2, 1), lrelu(0.2)), mlp(dims(z_dim, 2), nn.ReLU),
            ConcatT(dims(2 + z_dim, 1), lrelu(0.2)), z_dim)


def kdd_nets(z_dim=32, x_dim=121):
    return (mlp([x_dim, 256, 128, 128, 1], lrelu(0.2)), mlp([z_dim, 64, 128, x_dim], nn.ReLU),
            ConcatT([x_dim + z_dim, 256, 128, 128, 1], lrelu(0.2)), z_dim)


def mnist_nets(dim, c, z_dim=128):
    def trunk():
        layers = []
        for a, b in zip([c, dim // 8, dim // 4, dim // 2], [dim // 8, dim // 4, dim // 2, dim]):
            layers += [nn.Conv2d(a, b, 5, 2, 2), nn.LeakyReLU(0.2)]
        return nn.Sequential(*layers)

    layers = [nn.BatchNorm2d(dim), nn.ReLU(True)]
    for a, b, op in [(dim, dim // 2, 1), (dim // 2, dim // 4, 0), (dim // 4, dim // 8, 1)]:
        layers += [nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=op), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(dim // 8, c, 5, 2, 2, output_padding=1), nn.Tanh()]
    g = ConvG(z_dim, (dim, 2, 2), nn.Sequential(*layers))
    e = Encoder(trunk, 4 * dim, 1)
    t = ConvT(trunk, 4 * dim, z_dim, dim, 0.2)
    return dcgan_init(e), dcgan_init(g), dcgan_init(t), z_dim


def cifar_nets(dim, z_dim=128):
    chans = [3, dim // 8, dim // 8, dim // 4, dim // 4, dim // 2, dim // 2, dim]

    def trunk():
        layers = []
        for k, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
            kernel, stride = (3, 1) if k % 2 == 0 else (4, 2)
            layers += [nn.Conv2d(a, b, kernel, stride, 1), nn.LeakyReLU(0.1)]
        return nn.Sequential(*layers)

    up = [dim, dim // 2, dim // 4, dim // 8]
    layers = []
    for a, b in zip(up[:-1], up[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(up[-1], 3, 3, 1, 1), nn.Tanh()]
    g = ConvG(z_dim, (dim, 4, 4), nn.Sequential(*layers))
    e = Encoder(trunk, 16 * dim, 1)
    t = ConvT(trunk, 16 * dim, z_dim, dim, 0.1)
    return dcgan_init(e), dcgan_init(g), dcgan_init(t), z_dim


def count(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# ---- data ----

def toy_source(device):
    """25gaussians: a 5x5 grid at {-4..4}/2.828 with std 0.05/2.828."""
    g = torch.arange(-2, 3, dtype=torch.float32) * 2 / 2.828
    centres = torch.cartesian_prod(g, g).to(device)
    return lambda n: centres[torch.randint(25, (n,), device=device)] + torch.randn(n, 2, device=device) * (0.05 / 2.828)


def epochs_source(x):
    """Seeded permutations of a finite set, batch by batch (drop_last)."""
    state = {"order": None, "pos": 0}

    def next_batch(n):
        if state["order"] is None or state["pos"] + n > len(state["order"]):
            state["order"], state["pos"] = torch.randperm(len(x), device=x.device), 0
        ids = state["order"][state["pos"]:state["pos"] + n]
        state["pos"] += n
        return x.index_select(0, ids)

    return next_batch


class Stacked:
    """StackedMNIST: fixed stacks of k image indices; a batch gathers random stacks."""

    def __init__(self, n_images, k, count, device):
        self.images = torch.randint(256, (n_images, 28, 28), dtype=torch.uint8).to(device).float() / 127.5 - 1
        self.labels = torch.randint(10, (n_images,)).to(device)
        self.stacks = torch.randint(n_images, (count, k)).to(device)
        self.k = k

    def batch(self, n):
        ids = torch.randint(len(self.stacks), (n,), device=self.stacks.device)
        flat = self.stacks.index_select(0, ids).view(-1)
        return (self.images.index_select(0, flat).view(n, self.k, 28, 28),
                self.labels.index_select(0, flat).view(n, self.k))


# ---- MEG training iteration ----

class Meg:
    """k_g generator steps (G and T on BCE + E(G(z))), then k_e energy steps with the
    zero-centred score penalty on real data; Adam(lr 1e-4, betas (0.5, 0.9))."""

    def __init__(self, nets, batch, k_e, lam, next_batch, device):
        self.E, self.G, self.T, self.z_dim = (n.to(device) if isinstance(n, nn.Module) else n for n in nets)
        self.n, self.k_e, self.lam, self.next_batch, self.device = batch, k_e, lam, next_batch, device
        adam = dict(lr=1e-4, betas=(0.5, 0.9))
        self.opt_e = torch.optim.Adam(self.E.parameters(), **adam)
        self.opt_gt = torch.optim.Adam(list(self.G.parameters()) + list(self.T.parameters()), **adam)
        self.target = torch.cat([torch.ones(batch), torch.zeros(batch)]).to(device)

    def params(self):
        return count(self.E), count(self.G), count(self.T)

    def iteration(self):
        E, G, T, n, dev = self.E, self.G, self.T, self.n, self.device
        E.requires_grad_(False)
        self.opt_gt.zero_grad()
        z = torch.randn(n, self.z_dim, device=dev)
        x = G(z)
        e_gen = E(x).mean()
        z_marg = z[torch.randperm(n, device=dev)]
        logits = T(torch.cat([x, x]), torch.cat([z, z_marg])).reshape(-1)
        mi = F.binary_cross_entropy_with_logits(logits, self.target)
        (e_gen + mi).backward()
        self.opt_gt.step()
        E.requires_grad_(True)
        for _ in range(self.k_e):
            self.opt_e.zero_grad()
            xr = self.next_batch(n).requires_grad_(True)
            with torch.no_grad():
                xf = G(torch.randn(n, self.z_dim, device=dev))
            er = E(xr).reshape(-1)
            ef = E(xf).mean()
            g = torch.autograd.grad(er.sum(), xr, create_graph=True)[0]
            penalty = g.square().flatten(1).sum(1).mean()
            er = er.mean()
            (er - ef + self.lam * penalty).backward()
            self.opt_e.step()
        # The training loop reads the losses back to check them for NaN.
        torch.stack([er, ef, penalty, mi]).tolist()


def training(name, smoke, device):
    """The MEG iteration of a training workload, on data of the sizes meg-bench trains on
    (its synthetic stand-ins: 2,000 MNIST and 1,000 CIFAR training images, about 1,400
    KDD99 training rows)."""
    d = 16 if smoke else 512
    batch = 4 if smoke else (256 if name in ("toy", "kdd") else 64)
    if name == "toy":
        return Meg(toy_nets(16 if smoke else 512), batch, 5, 0.1, toy_source(device), device)
    if name == "kdd":
        x = torch.rand(1_400, 121).to(device)
        return Meg(kdd_nets(), batch, 1, 100.0, epochs_source(x), device)
    if name == "stackedmnist":
        s = Stacked(2_000, 3, 100 if smoke else 128_000, device)
        return Meg(mnist_nets(d, 3), batch, 5, 10 / 784, lambda n: s.batch(n)[0], device)
    x = torch.rand(1_000, 3, 32, 32).to(device) * 2 - 1
    return Meg(cifar_nets(d), batch, 5, 10 / 1024, epochs_source(x), device)


# ---- latent MALA step ----

class Mala:
    """Exact MALA in z on U(z) = β E(G(z)) + ||z||²/2, G and E in eval mode (α 0.01, β 0.2)."""

    def __init__(self, smoke, device, alpha=0.01, beta=0.2):
        self.E, self.G, self.T, z_dim = cifar_nets(16 if smoke else 512)
        self.E.to(device).eval()
        self.G.to(device).eval()
        self.alpha, self.beta, self.n = alpha, beta, 4 if smoke else 64
        self.state = self.evaluate(torch.randn(self.n, z_dim, device=device))

    def evaluate(self, z):
        z = z.detach().requires_grad_(True)
        u = self.beta * self.E(self.G(z)).reshape(-1) + 0.5 * z.square().sum(1)
        (grad,) = torch.autograd.grad(u.sum(), z)
        return z.detach(), u.detach(), grad

    def log_q(self, d):
        return -d.square().sum(1) / (4 * self.alpha)

    def step(self):
        a = self.alpha
        z, u, g = self.state
        y = z - a * g + math.sqrt(2 * a) * torch.randn_like(z)
        uniform = torch.rand(self.n, device=z.device)
        y, uy, gy = self.evaluate(y)
        log_ratio = u - uy + self.log_q(z - y + a * gy) - self.log_q(y - z + a * g)
        accept = uniform < log_ratio.clamp(max=0).exp().nan_to_num(0.0)
        m = accept[:, None]
        self.state = (torch.where(m, y, z), torch.where(accept, uy, u), torch.where(m, gy, g))

    def params(self):
        return count(self.E), count(self.G), count(self.T)


# ---- Inception (pytorch-fid on the synthetic weights of tests/golden/metrics_synthetic.py) ----

def inception(device):
    sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
    from metrics_synthetic import patch_pytorch_fid_weights

    patch_pytorch_fid_weights()
    from pytorch_fid.inception import InceptionV3

    return InceptionV3([3]).eval().to(device)


# ---- the workloads ----

def run(name, smoke, device, warmup, iters):
    """(samples in the workload's unit, parameter counts or None)."""
    torch.manual_seed(0)
    if name in ("toy", "kdd", "stackedmnist", "cifar"):
        m = training(name, smoke, device)
        # Timed like meg-bench: from one iteration's end to the next's.
        return time_ms(device, warmup, iters, m.iteration), m.params()
    if name == "mala":
        m = Mala(smoke, device)
        return time_ms(device, warmup, iters, m.step), m.params()
    if name == "inception":
        n = 2 if smoke else 50
        net = inception(device)
        images = torch.rand(n, 3, 32, 32)
        with torch.no_grad():
            ms = time_ms(device, warmup, iters, lambda: net(images.to(device))[0].cpu())
        return [n / (t / 1e3) for t in ms], None
    if name == "batch":
        s = Stacked(100, 3, 50, device) if smoke else Stacked(60_000, 3, 128_000, device)
        n = 4 if smoke else 64
        return time_ms(device, warmup, iters, lambda: s.batch(n)), None
    if name == "matmul":
        n = 64 if smoke else 4096
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        gflop = 2 * n ** 3 / 1e9
        return [gflop / (t / 1e3) for t in time_ms(device, warmup, iters, lambda: a.mm(b))], None
    raise SystemExit(f"workload `{name}` has no PyTorch twin in {__file__}")


def gflop(name, smoke, device):
    """GFLOP of one timed unit of `name` (one image for inception)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            f = flop_registry.get(func.overloadpacket)
            if f is not None:
                Count.total += f(*args, **kwargs, out_val=out)
            return out

    torch.manual_seed(0)
    if name in ("toy", "kdd", "stackedmnist", "cifar", "mala"):
        m = training(name, smoke, device) if name != "mala" else Mala(smoke, device)
        f = m.iteration if name != "mala" else m.step
        with Count():
            f()
        return Count.total / 1e9
    if name == "inception":
        net = inception(device)
        with torch.no_grad(), Count():
            net(torch.rand(1, 3, 32, 32, device=device))
        return Count.total / 1e9
    if name == "matmul":
        return 2 * (64 if smoke else 4096) ** 3 / 1e9
    return 0.0


def read_workloads(path):
    """The workloads of `meg-bench --list --json` (a file, or `-` for stdin), by name."""
    with sys.stdin if path == "-" else open(path) as f:
        return {w["name"]: w for w in json.load(f)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", required=True, metavar="LIST",
                   help="the output of `meg-bench --list --json` (a file, or - for stdin)")
    p.add_argument("names", nargs="*", help="workloads to run (default: all in LIST)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--flops", action="store_true")
    a = p.parse_args()
    workloads = read_workloads(a.workloads)
    if os.environ.get("MEG_THREADS"):
        torch.set_num_threads(int(os.environ["MEG_THREADS"]))
    if os.environ.get("MEG_CUDNN_BENCHMARK", "0") == "1":
        torch.backends.cudnn.benchmark = True
    device = torch.device(a.device)
    warmup, iters = (0, 1) if a.smoke else (a.warmup, a.iters)
    for name in a.names or list(workloads):
        if name not in workloads:
            raise SystemExit(f"unknown workload `{name}`: expected one of {', '.join(workloads)}")
        if a.flops:
            line = {"workload": name, "gflop": gflop(name, a.smoke, device)}
            print("bench-flops " + json.dumps(line), flush=True)
            continue
        samples, params = run(name, a.smoke, device, warmup, iters)
        line = {"workload": name, "unit": workloads[name]["unit"], "samples": samples,
                "threads": torch.get_num_threads(), "device": str(device), "libtorch": torch.__version__}
        if params:
            line["params"] = list(params)
        print("bench-result " + json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
