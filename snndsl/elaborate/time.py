"""The `time { }` block -> ir.Time: the step dt, substeps per environment step, steps per sample."""

from __future__ import annotations

from .. import ir
from ..syntax import ast
from . import units as U
from .bodies import settings
from .context import Context
from .scope import as_int, as_number

TIME_KEYS = {"dt": "time step", "substeps": "network steps per environment step", "steps": "time steps per sample",
             "precision": "float32 or float64"}
PRECISIONS = ("float32", "float64")


def elaborate_time(ctx: Context, blk: ast.Block | None) -> ir.Time:
    """A bad value is reported and left at its default."""
    if blk is None:
        return ir.Time()
    values = {}
    # `precision = float64` is a bare name, not a value to evaluate
    prec = [it for it in blk.items if isinstance(it, ast.Setting) and it.key.name == "precision"]
    s = settings(ctx, [it for it in blk.items if it not in prec], list(TIME_KEYS), "time")
    if prec:
        s["precision"] = (None, prec[-1])
    if "dt" in s:
        v = ctx.rep.run(as_number, s["dt"][0], "dt", U.TIME)
        if v is not None:
            if v <= 0:
                ctx.error("E402", "dt must be positive", s["dt"][1].value.span)
            else:
                values["dt"] = v
    for k in ("substeps", "steps"):
        if k in s:
            v = ctx.rep.run(as_int, s[k][0], k)
            if v is not None:
                if v < 1:
                    ctx.error("E403", f"{k} must be at least 1", s[k][1].value.span)
                else:
                    values[k] = v
    if "precision" in s:
        e = s["precision"][1].value
        name = e.id if isinstance(e, ir.Name) else e.value if isinstance(e, ir.Str) else None
        if name in PRECISIONS:
            values["precision"] = name
        else:
            ctx.error("E404", "precision is float32 or float64", e.span,
                      "float64 (`precision = float64`) is for validation runs against exact solutions")
    return ir.Time(span=blk.span, **values)
