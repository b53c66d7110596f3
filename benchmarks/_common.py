"""Helpers shared by the benchmarks: build a generated module from spec text, time a function."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def module_from_text(text: str, name: str, sets=()):
    """Write a spec next to the stdlib-importing specs and import its generated module."""
    from snndsl.driver.build import import_module, load_spec, module_text

    folder = Path(tempfile.mkdtemp(prefix="snndsl-bench-"))
    path = folder / f"{name}.snn"
    path.write_text(text)
    spec, _ = load_spec(str(path), list(sets))
    module, _ = import_module(module_text(spec), name)
    return module


MLP_SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time {{ dt = 1 ms; steps = {steps} }}
task mnist {{ }}
input pixels = current
{populations}
output logits = instant(h{last})
{projections}
train {rule} {{ batch_size = {batch}; loss = per_step; surrogate = triangle(width = 1){extra} }}
"""


def mlp_spec(rule: str, steps: int, width: int, layers: int, batch: int, learn: str = "", extra: str = "") -> str:
    """A spec for an MLP 784-layers x width-10 of soft-reset LIF neurons; `learn` goes in each population."""
    pops = "\n".join(f"population h{i} = LIF({width}) {{{learn}}}" for i in range(layers))
    projs = ["project pixels -> h0.v { weights = dense(init = kaiming); learn w }"]
    projs += [f"project h{i - 1} -> h{i}.v {{ weights = dense(init = kaiming); learn w }}" for i in range(1, layers)]
    projs.append(f"project h{layers - 1} -> logits {{ weights = dense(init = lecun); learn w }}")
    return MLP_SPEC.format(steps=steps, populations=pops, last=layers - 1, projections="\n".join(projs), rule=rule,
                           batch=batch, extra=extra)


def median_time(fn, repeats: int = 3) -> float:
    """Median seconds of fn() (which must block until done), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform} ({getattr(d, 'device_kind', '')}), jax {jax.__version__}, {os.cpu_count()} CPU cores"
