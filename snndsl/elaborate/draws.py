"""Values drawn once per run: a projection's initial weights (`init = normal(0, 1)`, `kaiming`,
`file("w.npz", "key")`) and a population's per-neuron parameters (`tau_m = uniform(5 ms, 20 ms)`).
Both become an `ir.Init`, which the runtime's `sample_init` draws from the run's seed (or reads
from the .npz, checked against the SHA-256 recorded here)."""

from __future__ import annotations

import os

from .. import ir
from ..diagnostics import suggest
from . import units as U
from .context import Context
from .expr import CallV, Q, StrV, Sym
from .scope import as_number

DISTRIBUTIONS = ("uniform", "normal", "file")  # what a neuron parameter may be drawn from


def initialiser(ctx: Context, v, span, dims=U.DIMENSIONLESS) -> ir.Init | None:
    """An `Init` from a folded value: normal(mean, std), uniform(low, high), kaiming, lecun, a number
    or file(path, key), with numbers in the units `dims` (None: reported)."""
    if isinstance(v, Q):
        return ir.Init(dist="constant", a=ctx.rep.run(as_number, v, "a constant weight", dims) or 0.0, span=span)
    if isinstance(v, CallV) and v.func == "file":
        if len(v.args) != 2 or v.kwargs or not all(isinstance(x, StrV) for x in v.args):
            ctx.error("E305", "`file` takes two strings: file(\"values.npz\", \"key\")", v.span)
            return None
        return ir.Init(dist="file", path=v.args[0].value, key=v.args[1].value, span=v.span)
    if isinstance(v, Sym) and v.name in ("kaiming", "lecun"):
        return ir.Init(dist=v.name, span=span)
    if isinstance(v, CallV) and v.func in ("normal", "uniform"):
        if len(v.args) != 2 or v.kwargs:
            ctx.error("E305", f"`{v.func}` takes two numbers", v.span)
            return None
        names = ("mean", "standard deviation") if v.func == "normal" else ("low", "high")
        a, b = (ctx.rep.run(as_number, x, f"the {n} of {v.func}()", dims) for x, n in zip(v.args, names))
        if a is None or b is None:
            return None
        if v.func == "normal" and b < 0:
            ctx.error("E401", "a standard deviation cannot be negative", v.span)
            return None
        if v.func == "uniform" and a > b:
            ctx.error("E401", "uniform(low, high) needs low <= high", v.span)
            return None
        return ir.Init(dist=v.func, a=a, b=b, span=span)
    ctx.error("E404", "an initialiser is normal(mean, std), uniform(low, high), kaiming, lecun, a number or "
                      "file(\"weights.npz\", \"key\")",
              getattr(v, "span", span), suggest(getattr(v, "name", getattr(v, "func", "")) or "",
                                                ["normal", "uniform", "kaiming", "lecun"]))
    return None


def read_file_init(ctx: Context, init: ir.Init, shape: tuple[int, ...], what: str, hint: str):
    """Check a `file(path, key)` init: the .npz exists, holds `key`, with `shape` and finite values;
    record its absolute path and the SHA-256 of the array.  The array (None: reported)."""
    import numpy as np

    from snndsl_runtime.network import weights_sha256

    rel = init.path
    base = os.path.dirname(os.path.abspath(init.span.file)) if init.span and init.span.file else os.getcwd()
    path = os.path.normpath(os.path.join(base, rel))
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            w = np.asarray(data[init.key]) if init.key in keys else None
    except (OSError, ValueError) as e:
        ctx.error("E003", f"cannot read the file {rel}: {getattr(e, 'strerror', None) or e}", init.span,
                  "give an .npz written with numpy.savez, relative to the spec's folder")
        return None
    if w is None:
        ctx.error("E203", f"{rel} has no array `{init.key}`", init.span,
                  suggest(init.key, keys) or f"it holds: {', '.join(keys) or 'nothing'}")
        return None
    if w.shape != tuple(shape):
        ctx.error("E501", f"`{init.key}` in {rel} has shape {w.shape}, but {what}", init.span, hint)
        return None
    if not np.issubdtype(w.dtype, np.number) or not np.all(np.isfinite(w)):
        ctx.error("E401", f"`{init.key}` in {rel} is not an array of finite numbers", init.span)
        return None
    init.path, init.sha256 = path, weights_sha256(w)
    return w
