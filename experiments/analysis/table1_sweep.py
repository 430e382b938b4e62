"""The sweep behind Table 1's quick profile: which CPU-sized configuration, if any, shows the
paper's claim (MEG covering at least as many StackedMNIST modes as WGAN-GP, with a lower KL)?

Each configuration is `experiments/table1.yaml`'s quick profile with some overrides. It runs as
`meg reproduce table1 --profile quick` in a workspace of its own (a copy of experiments/ with
the changed spec, and an empty reports/), so nothing in this checkout's reports/ changes; the
mode-counting classifier is the one in the data cache (`meg train-classifier --dataset
fashion-mnist`, run first when missing), shared by all. Prints a markdown
table: configuration, minutes of training per run, modes and KL per method, MEG's final MI loss.

    .torch-venv/bin/python experiments/analysis/table1_sweep.py [NAME ...] [--root DIR]

With no NAME every configuration runs (in the order below); `--root` (default
/tmp/meg-table1-sweep) holds the workspaces, so a rerun skips finished runs. Uses
target/release/meg (build it with `cargo build --release -p meg-cli`).
"""

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

# name -> (overrides on top of the quick profile's, runs, eval changes)
SWEEP = {
    # The quick profile continued to 5,000 iterations; its counts at 2,500 are the quick
    # profile's own (Adam at a constant rate: the first 2,500 iterations are the same).
    "dim64-5000it": ({"iterations": 5000}, ["meg-3", "wgan-gp-3"], {}),
    "2stacks-dim64-2500it": ({}, ["meg-2", "wgan-gp-2"], {}),
    "lambda0.1x-dim64-2500it": ({"lambda": 0.0012755}, ["meg-3"], {}),
    "lr1e-4-dim64-2500it": ({"lr": 1.0e-4}, ["meg-3"], {}),
    "dim96-2500it": ({"model.dim": 96}, ["meg-3", "wgan-gp-3"], {}),
}

TWO_STACKS = [
    {"id": "meg-2", "config": {"model": {"channels": 2}, "data": {"stacks": 2}}},
    {"id": "wgan-gp-2",
     "config": {"objective": "wgan-gp", "lambda": 10.0,
                "model": {"channels": 2}, "data": {"stacks": 2}}},
]


def workspace(root, name):
    overrides, runs, eval_changes = SWEEP[name]
    ws = root / name
    (ws / "experiments").mkdir(parents=True, exist_ok=True)
    (ws / "reports").mkdir(exist_ok=True)
    (ws / "Cargo.toml").write_text("# a table1 sweep workspace\n")
    spec = yaml.safe_load((REPO / "experiments/table1.yaml").read_text())
    spec["runs"] = spec["runs"] + copy.deepcopy(TWO_STACKS)
    quick = spec["profiles"]["quick"]
    quick["overrides"].update(overrides)
    quick["runs"] = runs
    quick["eval"].update(eval_changes)
    quick["description"] = f"table1 sweep configuration `{name}`: quick + {overrides}"
    (ws / "experiments/table1.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return ws


def run(root, name):
    ws = workspace(root, name)
    env = dict(os.environ, MEG_WORKSPACE=str(ws))
    meg = REPO / "target/release/meg"
    cmd = [str(meg), "reproduce", "table1", "--profile", "quick", "--device", "cpu"]
    print(f"== {name}: {' '.join(cmd)} (MEG_WORKSPACE={ws})", file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True)
    return json.loads((ws / "reports/table1/quick/results.json").read_text())


def classifier():
    """The Fashion-MNIST classifier in the data cache, trained once for every configuration."""
    data = Path(os.environ.get("MEG_DATA_DIR", Path.home() / ".cache/meg/data"))
    if not (data / "classifiers/fashion-mnist.safetensors").exists():
        meg = REPO / "target/release/meg"
        subprocess.run([str(meg), "train-classifier", "--dataset", "fashion-mnist"], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(SWEEP))
    ap.add_argument("--root", default="/tmp/meg-table1-sweep")
    a = ap.parse_args()
    root = Path(a.root)
    classifier()
    print("| configuration | run | minutes | modes | KL | MI loss at the end | modes over iterations |")
    print("|---|---|---|---|---|---|---|")
    for name in a.names:
        res = run(root, name)
        for run_id, r in res["runs"].items():
            traj = ", ".join(f"{p['iteration']}: {p['modes']}" for p in r.get("trajectory", []))
            mi = f"{r['final']['mi_loss']:.3f}" if run_id.startswith("meg") else "-"
            print(f"| {name} | {run_id} | {r['train_seconds'] / 60:.1f} | {r['modes']} | "
                  f"{r['kl']:.3f} | {mi} | {traj} |", flush=True)


if __name__ == "__main__":
    main()
