#!/usr/bin/env python3
"""Adversarial re-run of issue 17's categories against the release `meg` binary.

Each case runs real `meg` processes in a scratch folder and is classified as
`ok` (handled: the work succeeded or was resumed exactly), `clear` (refused with
a clear error: exit 1 and a message naming the file, field or value), `panic`
(exit 101 or a signal), `hang` (past its time limit), `wrong` (exit 0 but a
wrong or inconsistent result) or `lost` (a previous good result destroyed).
Faults are injected at named points (MEG_FAULT), never after sleeps.

    tests/adversarial/adversarial.py [--meg target/release/meg] [--out /tmp/meg-adv]

Prints one line per case and the counts per category. Needs numpy (the torch
venv has it) for the .npz cases. Not part of `cargo xtask test`: a manual audit.
"""
import argparse, collections, json, os, random, shutil, struct, subprocess, sys, time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--meg", default="target/release/meg")
ap.add_argument("--out", default="/tmp/meg-adv")
args = ap.parse_args()
MEG = str(Path(args.meg).resolve())
ROOT = Path(args.out)
shutil.rmtree(ROOT, ignore_errors=True)
ROOT.mkdir(parents=True)
ENV = dict(os.environ, MEG_THREADS="1", MEG_DATA_DIR=str(ROOT / "data"))
RESULTS = []  # (category, case, verdict, detail)


def meg(*a, env=None, timeout=300):
    e = dict(ENV, **(env or {}))
    try:
        p = subprocess.run([MEG, *map(str, a)], capture_output=True, text=True, env=e, timeout=timeout)
        return p.returncode, p.stderr + p.stdout
    except subprocess.TimeoutExpired:
        return "timeout", ""


def verdict(rc, out, want_error=None):
    """Classifies an outcome: `want_error` is a text the error must contain."""
    if rc == "timeout":
        return "hang"
    if rc == 101 or (isinstance(rc, int) and rc < 0) or "panicked" in out:
        return "panic"
    if want_error is None:
        return "ok" if rc == 0 else "wrong"
    # 1: meg's errors; 2: clap's usage errors.
    if rc in (1, 2) and want_error in out:
        return "clear"
    return "wrong"


def record(cat, case, v, detail=""):
    RESULTS.append((cat, case, v, detail))
    print(f"{v:6} {cat:12} {case}  {detail[:150]!r}", flush=True)


def yaml(name, width=32, toy="8gaussians", its=200, seed=7, log=10, ckpt=20, batch=64, extra=""):
    return (f"name: {name}\nmodel: {{family: toy, width: {width}}}\ndata: {{kind: toy, name: {toy}}}\n"
            f"objective: meg\nlambda: 0.1\nbatch_size: {batch}\niterations: {its}\nseed: {seed}\n"
            f"log_every: {log}\ncheckpoint_every: {ckpt}\n{extra}")


def cfg_file(name, text):
    p = ROOT / f"{name}.yaml"
    p.write_text(text)
    return p


def outcome(d):
    """Checkpoint tensors by name and metrics rows without the wall-time column."""
    d = Path(d)
    ck = d / "checkpoint.safetensors"
    hdr, base = st_tensors(ck)
    b = ck.read_bytes()
    tensors = {k: (v[0], v[1], b[base + v[2]:base + v[3]]) for k, v in hdr.items()}
    rows = [l.rsplit(",", 1)[0] for l in (d / "metrics.csv").read_text().splitlines()]
    return tensors, rows


def st_tensors(path):
    """safetensors header: name -> (dtype, shape, start, end) and the data offset."""
    b = Path(path).read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], *v["data_offsets"]) for k, v in h.items()}, 8 + n


def patch(path, name, fn):
    hdr, base = st_tensors(path)
    dtype, shape, s, e = hdr[name]
    b = bytearray(Path(path).read_bytes())
    b[base + s:base + e] = fn(bytes(b[base + s:base + e]))
    Path(path).write_bytes(bytes(b))


# Reference: one uninterrupted run.
ref_cfg = cfg_file("ref", yaml("ref"))
rc, out = meg("train", ref_cfg, "--out", ROOT / "ref", "--device", "cpu")
assert rc == 0, out
REF = outcome(ROOT / "ref")

# 1. Two processes on one run directory (the first holds the lock, stopped there).
for i in range(3):
    d = ROOT / f"lock{i}"
    a = subprocess.Popen([MEG, "train", ref_cfg, "--out", d, "--device", "cpu"],
                         env=dict(ENV, MEG_FAULT="run-locked", MEG_FAULT_ACTION="stop"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not open(f"/proc/{a.pid}/stat").read().rsplit(") ", 1)[1].startswith("T"):
        time.sleep(0.01)
    other = cfg_file(f"lock{i}b", yaml(f"lock{i}b", its=100))
    rc, out = meg("train", other, "--out", d, "--device", "cpu")
    os.kill(a.pid, 18)
    a.wait()
    v = verdict(rc, out, "in use by another meg process")
    if v == "clear" and outcome(d) != REF:
        v = "lost"
    record("lock", f"second train on a locked run dir #{i}", v, out.strip().splitlines()[-1] if out else "")

# 2-3. Checkpoints: edited iteration, another config's checkpoint, flipped bits.
def stopped_run(name, at=80):
    d = ROOT / name
    shutil.rmtree(d, ignore_errors=True)
    rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--stop-at", at)
    assert rc == 0, out
    return d

d = stopped_run("edit-it")
patch(d / "checkpoint.safetensors", "meta.iteration", lambda b: struct.pack("<q", 5000) if len(b) == 8 else b)
rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--resume")
record("checkpoint", "meta.iteration edited to 5000", verdict(rc, out, "checkpoint"), out.strip()[-150:])
d = stopped_run("other-cfg")
rc, out = meg("train", cfg_file("short", yaml("ref", its=100)), "--out", d, "--device", "cpu", "--resume")
record("checkpoint", "resumed by another config", verdict(rc, out, "differs"), out.strip()[-150:])
rng = random.Random(17)
for i in range(8):
    d = stopped_run(f"flip{i}")
    hdr, _ = st_tensors(d / "checkpoint.safetensors")
    name = rng.choice(sorted(k for k in hdr if not k.startswith("meta.")))
    def flip(b, r=rng.random()):
        b = bytearray(b)
        k = int(r * len(b))
        b[k] ^= 0x40
        return bytes(b)
    patch(d / "checkpoint.safetensors", name, flip)
    rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--resume")
    record("checkpoint", f"bit flip in {name}", verdict(rc, out, "digest"), out.strip()[-150:])
    rc, out = meg("sample", d, "-n", 4, "--out", d / "s.csv", "--device", "cpu")
    record("checkpoint", f"sample from flipped {name}", verdict(rc, out, "digest"), out.strip()[-150:])

# 4. Divergence: the kept checkpoint must hold only finite values.
for lr in [10000, 1000, 100, 10, 1]:
    d = ROOT / f"lr{lr}"
    rc, out = meg("train", cfg_file(f"lr{lr}", yaml(f"lr{lr}", its=400, extra=f"lr: {lr}\n")), "--out", d, "--device", "cpu")
    if rc == 0:
        # Finished: its metrics must be finite and within the divergence guard.
        vals = [float(x) for l in (d / "metrics.csv").read_text().splitlines()[1:] for x in l.split(",")]
        v = "ok" if all(abs(x) < 1e8 for x in vals) else "wrong"
    else:
        v = verdict(rc, out, "training stopped")
        if v == "clear" and (d / "checkpoint.safetensors").exists():
            rc2, out2 = meg("sample", d, "-n", 16, "--out", d / "s.csv", "--device", "cpu")
            bad = rc2 != 0 or any(c in (d / "s.csv").read_text() for c in ["nan", "inf", "NaN"])
            v = "wrong" if bad else v
    record("divergence", f"lr {lr}", v, out.strip().splitlines()[-1] if out.strip() else "")

# 5-6. Stops between checkpoints, torn rows, kills at named points: resume must match REF.
for at in [75, 80, 13, 199]:
    d = ROOT / f"stop{at}"
    meg("train", ref_cfg, "--out", d, "--device", "cpu", "--stop-at", at)
    rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--resume")
    record("resume", f"--stop-at {at} then --resume", "ok" if rc == 0 and outcome(d) == REF else verdict(rc, out) if rc else "wrong")
for torn in ["30,-0.17023983597755432,0.0214631", "250,1,2,3,4,5\n", "garbage"]:
    d = stopped_run(f"torn{len(torn)}")
    with open(d / "metrics.csv", "a") as f:
        f.write(torn)
    rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--resume")
    record("resume", f"metrics.csv with appended {torn[:20]!r}", "ok" if rc == 0 and outcome(d) == REF else verdict(rc, out, "metrics.csv"), out.strip()[-120:])
points = ["partial-write:checkpoint.safetensors", "before-rename:checkpoint.safetensors",
          "after-rename:checkpoint.safetensors", "metrics-row-unflushed", "partial-write:run.json",
          "before-rename:config.yaml", "run-locked"]
for i in range(20):
    p = rng.choice(points)
    n = rng.randint(1, 8) if "checkpoint" in p or "metrics" in p else 1
    d = ROOT / f"kill{i}"
    rc, _ = meg("train", ref_cfg, "--out", d, "--device", "cpu", env={"MEG_FAULT": f"{p}@{n}"})
    killed = rc == -9
    rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--resume")
    ok = rc == 0 and outcome(d) == REF
    record("kill", f"SIGKILL at {p}@{n} ({'killed' if killed else 'point not reached'}), resume", "ok" if ok else verdict(rc, out) if rc else "wrong", out.strip()[-120:])

# 8. Allocation.
for field, text, want in [
    ("width 1e9", yaml("w", width=1000000000, batch=8), "model.width"),
    ("width 60000", yaml("w6", width=60000, batch=8), "model.width"),
    ("batch 1e11", yaml("b", batch=100000000000), "batch_size"),
    ("z_dim 1e9", yaml("z", batch=8).replace("width: 32}", "width: 32, z_dim: 1000000000}"), "model"),
    ("hidden 1e7 (width 1000)", yaml("h", width=1000, batch=8).replace("width: 1000}", "width: 1000, hidden: 10000000}"), "model"),
]:
    d = ROOT / f"alloc-{field.replace(' ', '')}"
    rc, out = meg("train", cfg_file("alloc", text), "--out", d, "--device", "cpu", timeout=120)
    v = verdict(rc, out, want)
    if v == "clear" and any((d / f).exists() for f in ["config.yaml", "metrics.csv"]):
        v = "wrong"
    record("allocation", field, v, out.strip().splitlines()[-1] if out.strip() else "")
rc, out = meg("sample", ROOT / "ref", "-n", 1000000000000, "--out", ROOT / "huge.csv", "--device", "cpu", timeout=120)
record("allocation", "sample -n 1e12", verdict(rc, out, "needs at least"), out.strip()[-150:])
t = subprocess.run(["/usr/bin/time", "-f", "%M", MEG, "sample", ROOT / "ref", "-n", "3000000", "--out", ROOT / "big.csv", "--device", "cpu"],
                   capture_output=True, text=True, env=ENV)
rss_mb = int(t.stderr.strip().splitlines()[-1]) / 1024
size_mb = (ROOT / "big.csv").stat().st_size / 2**20
record("allocation", f"sample -n 3e6: {size_mb:.0f} MiB CSV at {rss_mb:.0f} MiB peak RSS", "ok" if t.returncode == 0 and rss_mb < 1024 else "wrong")

# 9. FID statistics.
import numpy as np
good = {"mu": np.zeros(4), "sigma": np.eye(4)}
for case, stats, want in [
    ("NaN in mu", {"mu": np.array([0, np.nan, 0, 0.]), "sigma": np.eye(4)}, "mu"),
    ("sigma = -I", {"mu": np.zeros(4), "sigma": -np.eye(4)}, "sigma"),
    ("non-symmetric sigma", {"mu": np.zeros(4), "sigma": np.eye(4) + np.triu(np.ones((4, 4)), 1)}, "sigma"),
    ("inf in sigma", {"mu": np.zeros(4), "sigma": np.where(np.eye(4) > 0, np.inf, 0)}, "sigma"),
    ("dimension mismatch", {"mu": np.zeros(3), "sigma": np.eye(3)}, "dimension"),
    ("mu missing", {"m": np.zeros(4), "sigma": np.eye(4)}, "mu"),
    ("sigma not square", {"mu": np.zeros(4), "sigma": np.ones((4, 3))}, "sigma"),
]:
    a, b = ROOT / "good.npz", ROOT / "bad.npz"
    np.savez(a, **good)
    np.savez(b, **stats)
    rc, out = meg("fid", a, b, "--device", "cpu")
    record("fid", case, verdict(rc, out, want), out.strip()[-150:])
np.savez(ROOT / "g2.npz", mu=np.ones(4), sigma=2 * np.eye(4))
rc, out = meg("fid", ROOT / "good.npz", ROOT / "g2.npz", "--json", "--device", "cpu")
expect = 4 + 4 * (1 + 2 - 2 * np.sqrt(2))
got = json.loads(out.strip().splitlines()[-1])["fid"] if rc == 0 else None
record("fid", "valid statistics give the closed form", "ok" if got is not None and abs(got - expect) < 1e-9 else "wrong", f"{got} vs {expect}")
(ROOT / "junk.pth").write_bytes(os.urandom(4096))
rc, out = meg("fid", ROOT / "good.npz", ROOT / "img", "--weights", ROOT / "junk.pth", "--device", "cpu")
(ROOT / "img").mkdir(exist_ok=True)
from PIL import Image
for i in range(2):
    Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(ROOT / "img" / f"{i}.png")
rc, out = meg("fid", ROOT / "img", ROOT / "good.npz", "--weights", ROOT / "junk.pth", "--device", "cpu")
record("fid", "garbage --weights", verdict(rc, out, "junk.pth"), out.strip()[-150:])

# 10. Smaller ones.
rc, out = meg("reproduce", "fig2", "--profile", "smoke", "--seeds", 0, "--reports-dir", ROOT / "rep")
record("small", "--seeds 0", verdict(rc, out, "seeds"), out.strip()[-120:])
for case, text, want in [
    ("lr .inf", yaml("x", extra="lr: .inf\n"), "lr"),
    ("lr -1", yaml("x", extra="lr: -1\n"), "lr"),
    ("lambda nan", yaml("x").replace("lambda: 0.1", "lambda: .nan"), "lambda"),
    ("betas 1", yaml("x", extra="betas: [0.5, 1.0]\n"), "betas"),
    ("unknown field", yaml("x", extra="lerning_rate: 1\n"), "lerning_rate"),
    ("unknown density", yaml("x", toy="9gaussians"), "9gaussians"),
    ("iterations 0", yaml("x", its=0), "iterations"),
    ("log_every 0", yaml("x", log=0), "log_every"),
    ("width -3", yaml("x", width=-3, batch=8), "width"),
    ("not yaml", "name: [unclosed\n", "run config"),
    ("empty file", "", "run config"),
    ("mnist dim 12", yaml("x").replace("{family: toy, width: 32}", "{family: mnist, dim: 12, channels: 1}"), "dim"),
]:
    d = ROOT / "small-cfg"
    shutil.rmtree(d, ignore_errors=True)
    rc, out = meg("train", cfg_file("small", text), "--out", d, "--device", "cpu")
    record("config", case, verdict(rc, out, want), out.strip()[-120:])
d = ROOT / "stop0"
rc, out = meg("train", ref_cfg, "--out", d, "--device", "cpu", "--stop-at", 0)
record("small", "--stop-at 0", "ok" if rc == 0 and "no checkpoint" in out and not (d / "checkpoint.safetensors").exists() else "wrong", out.strip()[-120:])
for case, body, want in [
    ("header only", "label,score\n", "csv"), ("no header", "1,0.5\n0,0.1\n", "label"),
    ("nan score", "label,score\n1,nan\n0,0.2\n", "score"), ("label 2", "label,score\n2,0.5\n0,0.2\n", "label"),
    ("one class only", "label,score\n0,0.5\n0,0.2\n", "anomal"),
]:
    p = ROOT / "scores.csv"
    p.write_text(body)
    rc, out = meg("eval", "anomaly", p)
    record("eval", case, verdict(rc, out, want), out.strip()[-120:])
rc, out = meg("data", "fetch", "mnist", env={"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}, timeout=120)
record("network", "data fetch with no network", verdict(rc, out, "http"), out.strip()[-150:])

# A data fetch through a proxy that accepts and never answers: the stall
# timeout (60 s, 2 retries) ends it with an error naming the URL.
import socket, threading
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(16)
held = []
threading.Thread(target=lambda: [held.append(silent.accept()) for _ in range(16)], daemon=True).start()
proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
rc, out = meg("data", "fetch", "mnist", env={"http_proxy": proxy, "https_proxy": proxy}, timeout=400)
record("network", "data fetch through a silent proxy", verdict(rc, out, "http"), out.strip()[-150:])

# Two reproduce runs of one target (the first holds the target lock, stopped there).
rep = ROOT / "rep2"
a = subprocess.Popen([MEG, "reproduce", "fig2", "--profile", "smoke", "--device", "cpu", "--reports-dir", rep],
                     env=dict(ENV, MEG_FAULT="target-locked", MEG_FAULT_ACTION="stop"),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while not open(f"/proc/{a.pid}/stat").read().rsplit(") ", 1)[1].startswith("T"):
    time.sleep(0.01)
rc, out = meg("reproduce", "fig2", "--profile", "smoke", "--device", "cpu", "--reports-dir", rep)
os.kill(a.pid, 18)
a.wait()
v = verdict(rc, out, "in use by another meg process")
record("lock", "second reproduce of one target", v if a.returncode == 0 else "lost", out.strip()[-150:])

# An uncompressed IDX under its .gz name.
import gzip
src = ROOT / "fm"
src.mkdir()
for f in Path("/usr/share/datasets/fashion-mnist").glob("*.gz"):
    shutil.copy(f, src / f.name)
name = "t10k-labels-idx1-ubyte.gz"
(src / name).write_bytes(gzip.decompress((src / name).read_bytes()))
rc, out = meg("data", "import", "fashion-mnist", "--from", src)
record("data", "uncompressed IDX named .gz", verdict(rc, out, "not gzip"), out.strip()[-150:])

# Metrics appends that fail (file-size limit, as a full disk would).
d = ROOT / "fsize"
p = subprocess.run(["bash", "-c", "trap '' XFSZ; ulimit -f 4; exec \"$@\"", "bash", MEG, "train",
                    cfg_file("fsize", yaml("fsize", its=100000, log=1, ckpt=100000)), "--out", d, "--device", "cpu"],
                   capture_output=True, text=True, env=ENV)
record("disk", "metrics append past the file-size limit", verdict(p.returncode, p.stderr, "metrics.csv"), p.stderr.strip()[-150:])

counts = collections.Counter(v for _, _, v, _ in RESULTS)
print("\ncategory counts:", json.dumps({k: counts.get(k, 0) for k in ["ok", "clear", "panic", "hang", "wrong", "lost"]}), "of", len(RESULTS))
by = collections.defaultdict(collections.Counter)
for c, _, v, _ in RESULTS:
    by[c][v] += 1
for c, k in by.items():
    print(f"  {c:12} {dict(k)}")
sys.exit(0 if counts["panic"] + counts["hang"] + counts["wrong"] + counts["lost"] == 0 else 1)
