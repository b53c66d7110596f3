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
        if pr.connectivity.kind in ("conv2d", "pool") or pr.pool is not None:
            what = "a convolution" if pr.connectivity.kind == "conv2d" else \
                f"a pooling ({(pr.pool or pr.connectivity).op})"
            yield Diagnostic(
                "E623", f"`{spec.train.rule}` cannot run `{pr.name}`, {what}", pr.span,
                "EC evolves a connection probability per synapse and evaluates its population with bit-packed "
                "(inputs x outputs) masks, and ES perturbs such matrices; a convolution shares one kernel over "
                "every position, so it has neither.  Train conv nets with `train stop` or `train surrogate`, "
                "or use dense projections here")


@check("E626", "STOP does not pool a presynaptic trace through max_pool")
def stop_without_max_pool_before_weights(spec: ir.Spec, plan: Plan):
    if not spec.trainable or spec.train.rule != "stop":
        return
    for pr in spec.projections:
        if pr.pool is not None and pr.pool.op == "max_pool" and pr.learnable:
            yield Diagnostic(
                "E626", f"`train stop` cannot learn `{pr.name}` through `pool = max_pool(...)`", pr.pool.span,
                "STOP learns the weights at a trace of the raw spikes; an average or sum of traces is the trace of "
                "the pooled spikes, but a maximum of traces is not the trace of the maximum.  Use "
                "`pool = avg_pool(...)`, or pool into a population with `weights = max_pool(...)`, "
                "or train with `train surrogate`")
