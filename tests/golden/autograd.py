"""Golden values for crates/nn/tests/autograd.rs: forward, backward and the double
backward that the MEG score penalty needs, on a small MLP with fixed weights."""
import torch

from common import dump

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
w1 = torch.randn(4, 3) * 0.7
b1 = torch.randn(4) * 0.1
w2 = torch.randn(1, 4) * 0.7
b2 = torch.randn(1) * 0.1
x = torch.randn(5, 3)
params = [w1, b1, w2, b2]
for p in params:
    p.requires_grad_(True)
x.requires_grad_(True)


def net(x):
    h = torch.nn.functional.leaky_relu(x @ w1.T + b1, 0.2)
    h = torch.tanh(h)
    return (h @ w2.T + b2).squeeze(1)


f = net(x)
gw = torch.autograd.grad(f.sum(), params)
# Score penalty: mean_i ||d f(x_i) / d x_i||^2, differentiated w.r.t. the parameters.
gx = torch.autograd.grad(net(x).sum(), x, create_graph=True)[0]
pen = gx.pow(2).sum(1).mean()
gp = torch.autograd.grad(pen, params, allow_unused=True, materialize_grads=True)

dump(
    "autograd.json",
    {
        "w1": w1, "b1": b1, "w2": w2, "b2": b2, "x": x,
        "f": f,
        "grad_w1": gw[0], "grad_b1": gw[1], "grad_w2": gw[2], "grad_b2": gw[3],
        "grad_x": gx,
        "penalty": pen,
        "pen_grad_w1": gp[0], "pen_grad_b1": gp[1], "pen_grad_w2": gp[2], "pen_grad_b2": gp[3],
    },
    network="leaky_relu(0.2) -> tanh MLP 3-4-1",
)
