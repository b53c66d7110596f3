"""Throughput against the number of devices: generations/s and env-steps/s of an EC run on 1, 2, 4
and 8 devices (those present), and the scaling efficiency (speed-up / devices), in one table.

    python benchmarks/scaling.py [--spec specs/ec_hopper.snn] [--set KEY=VALUE]... [--steps 3]
    XLA_FLAGS=--xla_force_host_platform_device_count=4 python benchmarks/scaling.py --set train.population=256 ...

Each count trains the same job (same seed) for --steps generations after one to compile; the
fitness of every count is printed too, and must be the same.  Fake CPU devices share the host's
cores: there, the table only shows that the sharded program runs, not a speed-up."""

from __future__ import annotations

import argparse
import copy
import json
import time

from _common import ROOT


def measure(model, devices: int, steps: int) -> dict:
    from snndsl_runtime.trainers import trainer_class

    cfg = copy.deepcopy(model.CONFIG)
    cfg["train"]["devices"] = devices
    trainer = trainer_class(model.RULE, model.TASK_KIND)(model, cfg, 0)
    trainer.step(1)  # compiles
    before, t, fitness = trainer.env_steps, time.time(), []
    for g in range(2, steps + 2):
        fitness.append(trainer.step(g)["fitness"])
    wall = time.time() - t
    return {"devices": devices, "wall_s": wall, "generations_per_s": steps / wall,
            "env_steps_per_s": (trainer.env_steps - before) / wall, "fitness": fitness}


def main():
    import jax

    from snndsl.driver.build import import_module, load_spec, module_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "specs" / "ec_hopper.snn"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    ir, _ = load_spec(args.spec, args.set)
    model, _ = import_module(module_text(ir), ir.name)
    present = len(jax.devices())
    rows = [measure(model, d, args.steps) for d in (1, 2, 4, 8) if d <= present]
    base = rows[0]
    print(f"{ir.name} on {present} x {jax.devices()[0].platform}; sets {args.set}")
    print("| devices | generations/s | env-steps/s | speed-up | efficiency |")
    print("|---|---|---|---|---|")
    for r in rows:
        up = r["generations_per_s"] / base["generations_per_s"]
        print(f"| {r['devices']} | {r['generations_per_s']:.3g} | {r['env_steps_per_s']:,.0f} | {up:.2f}x | "
              f"{up / r['devices']:.0%} |")
    same = all(r["fitness"] == base["fitness"] for r in rows)
    print(f"same fitness on every count: {same}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
