"""Helpers for the scripts that write golden files for the Rust tests.

Golden files are JSON: {"meta": {...}, "tensors": {name: {"shape": [...], "data": [...]}}},
data flattened in row-major order as float64. Run every script with the provisioned
torch (`.torch-venv/bin/python tests/golden/<script>.py`); each writes next to itself.
"""
import json
import os

import torch


def dump(path, tensors, **meta):
    meta.setdefault("torch", torch.__version__)
    out = {"meta": meta, "tensors": {}}
    for name, t in tensors.items():
        t = torch.as_tensor(t).detach().to(torch.float64).cpu()
        out["tensors"][name] = {"shape": list(t.shape), "data": t.reshape(-1).tolist()}
    full = os.path.join(os.path.dirname(os.path.abspath(__file__)), path)
    tmp = full + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, full)
    print("wrote", full)
