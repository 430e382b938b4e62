"""Golden values for crates/metrics/tests/inception.rs and crates/cli/tests/metrics_inception.rs:
pytorch-fid 0.3.0's own network and FID code on two small image folders, with the
deterministic synthetic weights of metrics_synthetic.py (the real weights cannot be
downloaded here).

Writes metrics_fid/a/ (12 RGB PNGs, 32x32), metrics_fid/b/ (14 images of mixed sizes and
kinds: RGB, grey, RGBA, palette and 16-bit colour/grey PNGs; baseline 4:2:0, grey and
progressive 4:2:2 JPEGs), and metrics_fid.json with
  fid              pytorch-fid's FID between the folders (batch size 1: the sizes in b differ)
  is_a_mean_3, is_a_std_3   torch-fidelity's Inception Score (3 splits) of folder a, from
                   pytorch-fid's pool3 and the head's weight (logits_unbiased)
  head_<key>       the first 40 synthetic values of a few parameters
  pool3_<name>, logits_unbiased_<name>, logits_<name>   for a few images (logits_unbiased =
                   pool3 @ fc.weight.T, the layer torch-fidelity's Inception Score uses)
  meta.keys        the state-dict keys and shapes of fid_inception_v3
"""
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import torch
import torchvision.transforms as TF
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dump  # noqa: E402
from metrics_numerics import isc_features_to_metric  # noqa: E402
from metrics_synthetic import CONV_GAIN, patch_pytorch_fid_weights  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "metrics_fid")
torch.set_num_threads(2)


def scalar(x):
    return torch.tensor(float(x), dtype=torch.float64)


def smooth_image(rng, h, w, coarse, bias):
    """A smooth random colour field (coarse noise upsampled bicubically) plus pixel noise."""
    low = (rng.rand(coarse, coarse, 3) * 255).astype(np.uint8)
    img = np.asarray(Image.fromarray(low).resize((w, h), Image.BICUBIC), dtype=np.float64)
    img = img * 0.8 + bias + rng.randn(h, w, 3) * 12
    return np.clip(img, 0, 255).astype(np.uint8)


def write_png16(path, arr):
    """A 16-bit PNG (PIL cannot write 16-bit colour): grey [h, w] or RGB [h, w, 3]."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if arr.ndim == 3 else 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def write_folders():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(os.path.join(ROOT, "a"))
    os.makedirs(os.path.join(ROOT, "b"))
    rng = np.random.RandomState(20190122)
    for i in range(12):
        img = smooth_image(rng, 32, 32, 4, np.array([20.0, 10.0, 0.0]))
        Image.fromarray(img).save(os.path.join(ROOT, "a", f"{i:03d}.png"))
    sizes = [(40, 48), (28, 28), (50, 64), (17, 33), (32, 32), (45, 30), (64, 64), (24, 36),
             (30, 30), (33, 41)]
    for i, (h, w) in enumerate(sizes):
        img = Image.fromarray(smooth_image(rng, h, w, 8, np.array([0.0, 30.0, 40.0])))
        name = os.path.join(ROOT, "b", f"{i:03d}")
        if i == 1:
            img.convert("L").save(name + "_gray.png")
        elif i == 2:
            alpha = Image.fromarray((rng.rand(h, w) * 255).astype(np.uint8))
            rgba = img.copy()
            rgba.putalpha(alpha)
            rgba.save(name + "_rgba.png")
        elif i == 3:
            img.convert("P", palette=Image.ADAPTIVE, colors=64).save(name + "_palette.png")
        elif i == 4:
            img.save(name + ".jpg", quality=92)
        else:
            img.save(name + ".png")
    # 16-bit PNGs: PIL keeps the high byte of colour, clips grey ("I;16") at 255.
    wide = smooth_image(rng, 36, 30, 8, np.array([0.0, 30.0, 40.0])).astype(np.uint16) * 257
    write_png16(os.path.join(ROOT, "b", "010_rgb16.png"), wide + rng.randint(0, 257, wide.shape))
    write_png16(os.path.join(ROOT, "b", "011_gray16.png"), wide[:, :, 1] // 100)
    img = Image.fromarray(smooth_image(rng, 27, 44, 8, np.array([0.0, 30.0, 40.0])))
    img.convert("L").save(os.path.join(ROOT, "b", "012_gray.jpg"), quality=90)
    img = Image.fromarray(smooth_image(rng, 40, 40, 8, np.array([0.0, 30.0, 40.0])))
    img.save(os.path.join(ROOT, "b", "013_progressive.jpg"), quality=80, progressive=True,
             subsampling=1)


def main():
    write_folders()
    last_sd = patch_pytorch_fid_weights()

    from pytorch_fid import fid_score
    from pytorch_fid.inception import InceptionV3, fid_inception_v3

    a, b = os.path.join(ROOT, "a"), os.path.join(ROOT, "b")
    fid = fid_score.calculate_fid_given_paths([a, b], batch_size=1, device="cpu", dims=2048,
                                              num_workers=0)
    model = InceptionV3([3]).eval()
    net = fid_inception_v3().eval()
    sd = last_sd()
    tensors = {"fid": scalar(fid)}

    picks = {"a0": os.path.join(a, "000.png"), "gray": os.path.join(b, "001_gray.png"),
             "rgba": os.path.join(b, "002_rgba.png"),
             "palette": os.path.join(b, "003_palette.png"), "jpeg": os.path.join(b, "004.jpg"),
             "rgb16": os.path.join(b, "010_rgb16.png"), "gray16": os.path.join(b, "011_gray16.png"),
             "gray_jpeg": os.path.join(b, "012_gray.jpg"),
             "progressive": os.path.join(b, "013_progressive.jpg")}
    for name, path in picks.items():
        x = TF.ToTensor()(Image.open(path).convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            pool3 = model(x)[0].flatten(1)
            unbiased = pool3 @ net.fc.weight.T
            logits = net.fc(pool3)
        tensors[f"pool3_{name}"] = pool3[0]
        tensors[f"logits_unbiased_{name}"] = unbiased[0]
        tensors[f"logits_{name}"] = logits[0]
    for key in ["Conv2d_1a_3x3.conv.weight", "Mixed_6b.branch7x7_2.conv.weight",
                "Mixed_7c.branch_pool.bn.running_var", "Mixed_5b.branch1x1.bn.bias", "fc.weight",
                "fc.bias"]:
        tensors[f"head_{key}"] = sd[key].reshape(-1)[:40]
    files = sorted(os.listdir(a))
    xs = torch.cat([TF.ToTensor()(Image.open(os.path.join(a, f)).convert("RGB")).unsqueeze(0)
                    for f in files])
    with torch.no_grad():
        unbiased = model(xs)[0].flatten(1) @ net.fc.weight.T
    m, s = isc_features_to_metric(unbiased, splits=3)
    tensors["is_a_mean_3"], tensors["is_a_std_3"] = scalar(m), scalar(s)
    keys = [[k, list(v.shape)] for k, v in sd.items()]
    dump("metrics_fid.json", tensors, keys=keys, conv_gain=CONV_GAIN,
         note="pytorch-fid 0.3.0 FID between metrics_fid/a and metrics_fid/b, synthetic weights")
    print("FID", fid)


if __name__ == "__main__":
    main()
