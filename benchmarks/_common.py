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
