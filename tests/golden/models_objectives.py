"""Golden values for crates/models/tests/objectives.rs: the MEG energy and generator
losses and the WGAN-GP critic and generator losses, with their parameter gradients, on
the toy family (width 8, z_dim 2, 3 hidden layers) with PyTorch-default-initialized
weights and fixed batches. Written as in the method notes (../shared/MEG-method.md)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import dump

torch.manual_seed(20190122)
W, Z, X, N, LAM = 8, 2, 2, 6, 0.1


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
E = Mlp([X, W, W, W, 1], lrelu)
G = Mlp([Z, W, W, W, X], torch.relu)
T = Mlp([X + Z, W, W, W, 1], lrelu)
energy = lambda x: E(x).reshape(-1)
stat = lambda x, z: T(torch.cat([x, z], 1)).reshape(-1)

x_real = torch.randn(N, X) * 0.7
z = torch.randn(N, Z)
perm = torch.randperm(N)
alpha = torch.rand(N, 1)
with torch.no_grad():
    x_fake = G(z)

out = {}
for prefix, net in [("E", E), ("G", G), ("T", T)]:
    for i, l in enumerate(net.layers):
        out[f"{prefix}.{i}.weight"] = l.weight
        out[f"{prefix}.{i}.bias"] = l.bias
out.update(x_real=x_real, z=z, perm=perm, alpha=alpha, x_fake=x_fake)


def record_grads(tag, prefix, nets, loss):
    """Stores d loss / d parameter as `<tag>.grad.<param name>`."""
    params = [(f"{p}.{i}.{k}", getattr(l, k)) for p, net in zip(prefix, nets)
              for i, l in enumerate(net.layers) for k in ("weight", "bias")]
    gs = torch.autograd.grad(loss, [p for _, p in params])
    out.update({f"{tag}.grad.{name}": g for (name, _), g in zip(params, gs)})


# MEG energy step.
x = x_real.clone().requires_grad_(True)
er = energy(x)
gx = torch.autograd.grad(er.sum(), x, create_graph=True)[0]
pen = gx.pow(2).sum(1).mean()
loss = er.mean() - energy(x_fake).mean() + LAM * pen
tag = "meg_energy"
out.update({f"{tag}.loss": loss, f"{tag}.penalty": pen})
record_grads(tag, "E", [E], loss)

# MEG generator step: G and T descend on mean E(G(z)) + BCE.
xg = G(z)
logits = stat(torch.cat([xg, xg]), torch.cat([z, z[perm]]))
target = torch.cat([torch.ones(N), torch.zeros(N)])
bce = F.binary_cross_entropy_with_logits(logits, target)
loss = energy(xg).mean() + bce
tag = "meg_generator"
out.update({f"{tag}.loss": loss, f"{tag}.mi": bce})
record_grads(tag, "GT", [G, T], loss)

# WGAN-GP critic step with D = -E.
x_hat = (x_fake + alpha * (x_real - x_fake)).requires_grad_(True)
gh = torch.autograd.grad(energy(x_hat).sum(), x_hat, create_graph=True)[0]
gp = (gh.norm(2, dim=1) - 1).pow(2).mean()
loss = energy(x_real).mean() - energy(x_fake).mean() + 10.0 * gp
tag = "wgan_critic"
out.update({f"{tag}.loss": loss, f"{tag}.penalty": gp})
record_grads(tag, "E", [E], loss)

# The two WGAN-GP penalties of an image-shaped input gradient [N, C, H, W] (drawn last,
# so the values above do not move): Gulrajani et al.'s norm of each example's whole
# gradient, and the authors' released code's norm over the channel axis (dim=1) per pixel.
g_img = torch.randn(3, 2, 4, 5) * 0.8
out.update(
    g_img=g_img,
    gp_per_example=(g_img.flatten(1).norm(2, dim=1) - 1).pow(2).mean(),
    gp_per_pixel=(g_img.norm(2, dim=1) - 1).pow(2).mean(),
)

dump("models_objectives.json", out, width=W, z_dim=Z, batch=N, meg_lambda=LAM, wgan_lambda=10.0)
