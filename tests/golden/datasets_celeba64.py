"""Golden for the CelebA 64x64 pipeline (meg_datasets::celeba::crop_resize).

A 178x218 RGB image given by a formula (no file needed) goes through
torchvision's CenterCrop(178) + Resize(64) on a PIL image, the usual CelebA-64
preprocessing. The Rust test rebuilds the same image and compares.
    channel 0: (7x + 13y) mod 256
    channel 1: (x^2 + 3y) mod 256
    channel 2: 255 * ((x // 8 + y // 8) mod 2)
"""
import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from common import dump

H, W = 218, 178
y, x = np.mgrid[0:H, 0:W]
img = np.stack(
    [(7 * x + 13 * y) % 256, (x * x + 3 * y) % 256, 255 * ((x // 8 + y // 8) % 2)],
    axis=-1,
).astype(np.uint8)
out = transforms.Compose([transforms.CenterCrop(178), transforms.Resize(64)])(Image.fromarray(img))
out = torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1)
assert out.shape == (3, 64, 64)
dump(
    "datasets_celeba64.json",
    {"output": out},
    torchvision=torchvision.__version__,
    pil=Image.__version__,
)
