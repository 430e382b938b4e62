"""Golden values for crates/models/src/adam.rs: torch.optim.Adam(lr=0.1, betas=(0.5, 0.9))
on f(p) = sum((p - c)^2), 3 steps, float64."""
import torch

from common import dump

p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
c = torch.full((3,), 0.3, dtype=torch.float64)
opt = torch.optim.Adam([p], lr=0.1, betas=(0.5, 0.9))
for _ in range(3):
    opt.zero_grad()
    ((p - c) ** 2).sum().backward()
    opt.step()
st = opt.state[p]
dump("models_adam.json", {"p": p, "exp_avg": st["exp_avg"], "exp_avg_sq": st["exp_avg_sq"]})
