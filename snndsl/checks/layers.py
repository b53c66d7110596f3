"""Shaped layers (convolution and pooling projections) against the learning rules."""

from __future__ import annotations

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan
from .registry import check


@check("E623", "evolution rules do not train through convolution or pooling projections")
def evolution_without_layers(spec: ir.Spec, plan: Plan):
    if not spec.trainable or spec.train.rule not in ("ec", "es"):
        return
    for pr in spec.projections:
        if pr.connectivity.kind in ("conv2d", "pool"):
            what = "a convolution" if pr.connectivity.kind == "conv2d" else f"a pooling ({pr.connectivity.op})"
            yield Diagnostic(
                "E623", f"`{spec.train.rule}` cannot run `{pr.name}`, {what}", pr.span,
                "EC evolves a connection probability per synapse and evaluates its population with bit-packed "
                "(inputs x outputs) masks, and ES perturbs such matrices; a convolution shares one kernel over "
                "every position, so it has neither.  Train conv nets with `train stop` or `train surrogate`, "
                "or use dense projections here")
