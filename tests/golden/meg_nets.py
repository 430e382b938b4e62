"""E, G and T of the toy, MNIST, CIFAR, CelebA and KDD model families in PyTorch, for the
golden scripts (models_nets.py, authors_meg_trajectory.py) and the parity reference
(tests/parity/reference.py).

Written here from the architecture of the paper's models as the authors' code
defines it (github.com/ritheshkumar95/energy_based_generative_models at b4a8d82,
networks/*.py) and as crates/models/src/nets/families.rs documents it layer by layer:
layer types, shapes, order, initialization and state-dict names (`main.3.weight`,
`expand.bias`, `classify.0.weight`) are those of that architecture, so the Rust nets
can be checked against these values name for name. No code of the authors' is part of
this repository; their own code is used only through a checkout given at run time
(`--reference DIR`).

A network is a few named parts, each a single layer or an nn.Sequential built from a
list of layer specs such as ("conv", c_in, c_out, kernel, stride, padding). Parts are
registered, and so their default initialization drawn, in the order given, which
fixes the random stream: the MNIST E registers `expand` before `main`, the others
`main` first.
"""
import torch
import torch.nn as nn

_KINDS = {
    "linear": nn.Linear,
    "conv": nn.Conv2d,
    # (c_in, c_out, kernel, stride, padding, output_padding)
    "convT": nn.ConvTranspose2d,
    "bn": nn.BatchNorm2d,
    "relu": nn.ReLU,
    "lrelu": nn.LeakyReLU,
    "tanh": nn.Tanh,
}


def layer(spec):
    kind, *args = spec
    return _KINDS[kind](*args)


def part(spec):
    """A list of specs becomes an nn.Sequential (names `0`, `1`, ...), a tuple one layer."""
    return nn.Sequential(*map(layer, spec)) if isinstance(spec, list) else layer(spec)


class Parts(nn.Module):
    def __init__(self, **parts):
        super().__init__()
        for name, spec in parts.items():
            self.add_module(name, part(spec))

    def has(self, name):
        return name in self._modules


class Energy(Parts):
    """E(x): `main` on x (flattened after it), then `expand` to one value if present."""

    def forward(self, x):
        h = self.main(x)
        if self.has("expand"):
            h = self.expand(h.flatten(1))
        return h.squeeze(-1)


class Generator(Parts):
    """G(z): `expand` reshaped to `grid` = (channels, height, width) if present, then `main`."""

    def __init__(self, grid=None, **parts):
        super().__init__(**parts)
        self.grid = grid

    def forward(self, z):
        h = self.expand(z).unflatten(1, self.grid) if self.has("expand") else z
        return self.main(h)


class Statistics(Parts):
    """T(x, z): with `classify`, main -> flatten -> expand, concatenated with z, then
    classify; without it, `main` on concat(x, z)."""

    def forward(self, x, z):
        if self.has("classify"):
            h = self.expand(self.main(x).flatten(1))
            return self.classify(torch.cat([h, z], -1)).squeeze(-1)
        return self.main(torch.cat([x, z], -1)).squeeze(-1)


# ---- layer lists --------------------------------------------------------------------
def mlp(dims, act):
    """Linear layers through `dims`, `act` between them (none after the last)."""
    specs = []
    for i, o in zip(dims, dims[1:]):
        specs += [("linear", i, o), act]
    return specs[:-1]


def downsampler(chans, kernels, slope):
    """Conv through `chans`, each followed by LeakyReLU(slope), no BatchNorm;
    `kernels(k)` = (kernel, stride, padding) of the k-th conv."""
    specs = []
    for k, (i, o) in enumerate(zip(chans, chans[1:])):
        specs += [("conv", i, o, *kernels(k)), ("lrelu", slope)]
    return specs


def strided(k):
    """CIFAR/CelebA trunk: 3x3 stride 1 and 4x4 stride 2 in turn, padding 1."""
    return (3, 1, 1) if k % 2 == 0 else (4, 2, 1)


def upsampler(chans):
    """CIFAR/CelebA G body: ConvT 4x4/2 pad 1, BatchNorm, ReLU through `chans`, then
    ConvT 3x3/1 pad 1 to RGB and tanh."""
    specs = []
    for i, o in zip(chans, chans[1:]):
        specs += [("convT", i, o, 4, 2, 1), ("bn", o), ("relu",)]
    return specs + [("convT", chans[-1], 3, 3, 1, 1), ("tanh",)]


def head(z_dim, dim, slope):
    """T's classifier on concat(features -> z_dim, z)."""
    return mlp([2 * z_dim, dim, 1], ("lrelu", slope))


def dcgan_init(net):
    """N(0, 0.02) conv and transposed-conv weights, N(1, 0.02) BatchNorm weights and
    zero BatchNorm biases, in registration order (MNIST and CIFAR nets, applied as
    each net is built; Linear layers and CelebA keep PyTorch's defaults)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.02)
                m.bias.zero_()
    return net


# ---- families -----------------------------------------------------------------------
# Each family gives constructors of E, G and T; building a net draws its initialization,
# so the order of the calls fixes the random stream.
def mnist(dim, z_dim, channels):
    """28x28 with `channels` stacks: 5x5 stride-2 convs, 2x2 features."""
    trunk = downsampler([channels, dim // 8, dim // 4, dim // 2, dim], lambda k: (5, 2, 2), 0.2)
    body = [("bn", dim), ("relu",)]
    for i, o, op in [(dim, dim // 2, 1), (dim // 2, dim // 4, 0), (dim // 4, dim // 8, 1)]:
        body += [("convT", i, o, 5, 2, 2, op), ("bn", o), ("relu",)]
    body += [("convT", dim // 8, channels, 5, 2, 2, 1), ("tanh",)]
    features = 2 * 2 * dim
    return {
        "E": lambda: dcgan_init(Energy(expand=("linear", features, 1), main=trunk)),
        "G": lambda: dcgan_init(Generator((dim, 2, 2), expand=("linear", z_dim, features),
                                          main=body)),
        "T": lambda: dcgan_init(Statistics(main=trunk, expand=("linear", features, z_dim),
                                           classify=head(z_dim, dim, 0.2))),
    }


def cifar_like(dim, z_dim, trunk_chans, g_chans, init):
    features = 4 * 4 * dim
    trunk = downsampler(trunk_chans, strided, 0.1)
    return {
        "E": lambda: init(Energy(main=trunk, expand=("linear", features, 1))),
        "G": lambda: init(Generator((g_chans[0], 4, 4), expand=("linear", z_dim, 16 * g_chans[0]),
                                    main=upsampler(g_chans))),
        "T": lambda: init(Statistics(main=trunk, expand=("linear", features, z_dim),
                                     classify=head(z_dim, dim, 0.1))),
    }


def cifar(dim, z_dim):
    """32x32 RGB: 7 convs to 4x4, G 4 -> 32."""
    d = dim
    return cifar_like(d, z_dim, [3, d // 8, d // 8, d // 4, d // 4, d // 2, d // 2, d],
                      [d, d // 2, d // 4, d // 8], dcgan_init)


def celeba(dim, z_dim):
    """64x64 RGB: CIFAR with one more stage each way, PyTorch's default init."""
    d = dim
    return cifar_like(d, z_dim, [3, d // 8, d // 8, d // 4, d // 4, d // 2, d // 2, d, d, d],
                      [d, d, d // 2, d // 4, d // 8], lambda net: net)


class NumberedMlp(nn.Module):
    """Linear layers named `0`, `1`, `2`, ... (the toy family's state-dict names in
    crates/models/src/nets/families.rs), `act` between them, none after the last;
    `squeeze`: drop the last axis of a one-value output."""

    def __init__(self, dims, act, squeeze):
        super().__init__()
        for k, (i, o) in enumerate(zip(dims, dims[1:])):
            self.add_module(str(k), nn.Linear(i, o))
        self.act = layer(act)
        self.squeeze = squeeze

    def forward(self, *inputs):
        h = torch.cat(inputs, -1) if len(inputs) > 1 else inputs[0]
        linears = [m for m in self.children() if isinstance(m, nn.Linear)]
        for k, lin in enumerate(linears):
            h = lin(h) if k == 0 else lin(self.act(h))
        return h.squeeze(-1) if self.squeeze else h


def toy(width, z_dim, hidden=3):
    """2-D data: E 2 -> width (x hidden) -> 1 and T (2 + z) -> ... -> 1 on concat(x, z)
    with LeakyReLU(0.2); G z -> width (x hidden) -> 2 with ReLU. PyTorch init."""
    dims = lambda i, o: [i] + [width] * hidden + [o]
    lrelu = ("lrelu", 0.2)
    return {
        "E": lambda: NumberedMlp(dims(2, 1), lrelu, True),
        "G": lambda: NumberedMlp(dims(z_dim, 2), ("relu",), False),
        "T": lambda: NumberedMlp(dims(2 + z_dim, 1), lrelu, True),
    }


def kdd(z_dim, x_dim):
    """MLPs on feature vectors; the authors fix x_dim = 121."""
    lrelu = ("lrelu", 0.2)
    return {
        "E": lambda: Energy(main=mlp([x_dim, 256, 128, 128, 1], lrelu)),
        "G": lambda: Generator(main=mlp([z_dim, 64, 128, x_dim], ("relu",))),
        "T": lambda: Statistics(main=mlp([x_dim + z_dim, 256, 128, 128, 1], lrelu)),
    }


def constructors(family, dim, z_dim, channels=3, x_dim=121, hidden=3):
    """{"E", "G", "T"} -> a function building that net of `family` (`dim`: the toy
    family's width)."""
    if family == "toy":
        return toy(dim, z_dim, hidden)
    if family == "mnist":
        return mnist(dim, z_dim, channels)
    if family == "cifar":
        return cifar(dim, z_dim)
    if family == "celeba":
        return celeba(dim, z_dim)
    return kdd(z_dim, x_dim)


def build(family, dim, z_dim, channels=3, x_dim=121):
    """(E, G, T) of `family`, built (and their initialization drawn) in that order."""
    make = constructors(family, dim, z_dim, channels, x_dim)
    return tuple(make[net]() for net in "EGT")
