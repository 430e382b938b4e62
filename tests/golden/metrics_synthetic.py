"""Deterministic, scale-preserving weights for pytorch-fid's Inception, computed
bit-identically by `meg_metrics::inception::synthetic_value` in Rust.

The real FID weights cannot be downloaded here, and pytorch-fid's default
initialization makes the features nearly constant, so the FID goldens use this rule:

  u(key, i) = splitmix64 output number i+1 of the state fnv1a64(key), top 53 bits / 2^53
              (i = 0, 1, ... over the parameter in row-major order)

  *.conv.weight [o, c, kh, kw], F = c*kh*kw:
        w[o, j] = (u(o*F + j) - u(o*F + (j+1) % F)) * sqrt(CONV_GAIN / F)
        (every filter sums to zero, so post-ReLU means do not pile up as offsets)
  *.bn.weight        0.9 + 0.2 u         *.bn.bias          0.1 (2u - 1)
  *.bn.running_mean  0.1 (2u - 1)        *.bn.running_var   0.9 + 0.2 u
  fc.weight          sqrt(3 / 2048) (2u - 1)
  fc.bias            0.1 (2u - 1)
  num_batches_tracked is left as it is.

Every value is computed in float64 and rounded once to float32.
"""
import numpy as np
import torch

CONV_GAIN = 24.0
MASK = (1 << 64) - 1


def fnv1a64(key: str) -> int:
    h = 0xCBF29CE484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def uniform(key: str, n: int) -> np.ndarray:
    """n float64 values in [0, 1) from splitmix64 seeded with fnv1a64(key)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(key)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def synthetic_tensor(key: str, shape) -> torch.Tensor:
    n = int(np.prod(shape))
    u = uniform(key, n)
    if key.endswith("conv.weight"):
        fan = int(np.prod(shape[1:]))
        u = u.reshape(shape[0], fan)
        v = (u - np.roll(u, -1, axis=1)) * np.sqrt(CONV_GAIN / fan)
    elif key.endswith("bn.weight") or key.endswith("bn.running_var"):
        v = 0.9 + 0.2 * u
    elif key.endswith("bn.bias") or key.endswith("bn.running_mean") or key == "fc.bias":
        v = 0.1 * (2.0 * u - 1.0)
    elif key == "fc.weight":
        v = np.sqrt(3.0 / 2048.0) * (2.0 * u - 1.0)
    else:
        raise KeyError(key)
    return torch.from_numpy(v.reshape(shape).astype(np.float32))


def synthetic_state_dict(template: dict) -> dict:
    """The rule applied to every parameter and buffer of `template` (a state dict)."""
    out = {}
    for k, t in template.items():
        out[k] = t.clone() if k.endswith("num_batches_tracked") else synthetic_tensor(k, tuple(t.shape))
    return out


def patch_pytorch_fid_weights():
    """Makes pytorch-fid's own `fid_inception_v3()` load the synthetic weights instead of
    downloading them: its download hook is replaced by one that takes the layout of the
    network being built (the caller's local `inception`) and returns the synthetic state
    dict for it. Returns a function giving the last state dict handed out."""
    import inspect

    import pytorch_fid.inception as pi

    last = {}

    def load(url, progress=True):
        net = inspect.currentframe().f_back.f_locals["inception"]
        last["sd"] = synthetic_state_dict(net.state_dict())
        return last["sd"]

    pi.load_state_dict_from_url = load
    return lambda: last["sd"]
