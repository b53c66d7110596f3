"""Firing per layer of a conv spec at reduced width on random data, at init and after a few training
batches: does any layer go silent?  The data are fake (uniform pixels, or Poisson event counts for
an event task) and the labels random: this measures activity, not learning.

    python benchmarks/bn_activity.py specs/stop_cifar10_vgg11.snn --set W=4 [--batches 4] [--batch 16]

Prints, per spiking population, the mean rate (Hz) and the fraction of neurons silent over the
batch, in training mode (batch statistics) and in evaluation mode (running statistics)."""

import argparse
import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snndsl.driver.build import import_module, load_spec, module_text  # noqa: E402
from snndsl_runtime.activity import activity_metrics, population_slices  # noqa: E402
from snndsl_runtime.layers import BATCH_AXIS  # noqa: E402
from snndsl_runtime.network import network  # noqa: E402
from snndsl_runtime.trainers import gradient, trainer_class  # noqa: E402
from snndsl_runtime.trainers.gradient import run_network  # noqa: E402


def fake_data(mod, n, seed):
    rng = np.random.default_rng(seed)
    temporal = mod.CONFIG["task"]["dataset"] in ("nmnist", "dvs_gesture", "cifar10_dvs")
    shape = (n, mod.STEPS, mod.IN_SIZE) if temporal else (n, mod.IN_SIZE)
    x = rng.poisson(0.3, shape) if temporal else rng.uniform(0, 1, shape)
    return x.astype(np.float32), rng.integers(0, mod.OUT_SIZE, n).astype(np.int32)


def activity(mod, state, x, train):
    net = network(mod, state["theta"], state["fixed"], train=train)
    keys = jax.random.split(jax.random.PRNGKey(1), x.shape[0])
    run = jax.vmap(lambda img, k: run_network(mod, net, img, k, count=True)[1], axis_name=BATCH_AXIS)
    counts = np.asarray(jax.jit(run)(x, keys)).sum(0)
    m = activity_metrics(mod, counts, x.shape[0], mod.STEPS)
    return {p: (m["rate/" + p], m["silent/" + p]) for p in population_slices(mod)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    ir, _ = load_spec(a.spec, a.set)
    mod, _ = import_module(module_text(ir), ir.name)
    n = a.batches * a.batch
    x, y = fake_data(mod, n, 0)
    xt, yt = fake_data(mod, a.batch, 1)
    gradient.load_task = lambda model, task, seed=0: {"train": (x, y), "validation": None, "test": (xt, yt)}
    cfg = json.loads(json.dumps(mod.CONFIG))
    cfg["train"].update(epochs=1, batch_size=a.batch)
    tr = trainer_class(mod.RULE, mod.TASK_KIND)(mod, cfg, 0)
    rows = {"init train": activity(mod, tr.state, xt, True), "init eval": activity(mod, tr.state, xt, False)}
    loss = tr.step(1)["train_loss"]
    rows[f"after {a.batches} batches train"] = activity(mod, tr.state, xt, True)
    rows[f"after {a.batches} batches eval"] = activity(mod, tr.state, xt, False)
    print(f"{a.spec} {' '.join(a.set)}: train loss {loss:.3f} over {a.batches} batches of {a.batch}")
    print(f"{'population':12s}" + "".join(f"{k:>28s}" for k in rows))
    for b in rows["init train"]:
        print(f"{b:12s}" + "".join(f"{r[b][0]:14.1f} Hz {r[b][1]:7.0%} sil" for r in rows.values()))


if __name__ == "__main__":
    main()
