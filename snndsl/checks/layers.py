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


@check("E624", "batch norm only on weights into a population")
def batch_norm_on_weights_into_a_population(spec: ir.Spec, plan: Plan):
    for pr in spec.projections:
        if pr.norm is None:
            continue
        kind = pr.connectivity.kind
        if kind in ("pool", "bernoulli"):
            what = f"a pooling ({pr.connectivity.op})" if kind == "pool" else "Bernoulli connections"
            yield Diagnostic(
                "E624", f"`norm = batch` on `{pr.name}`, {what}", pr.norm.span,
                "batch norm normalises what learned weights make of their input (dense, sparse or conv2d); "
                "normalise the projection after the pooling, or drop `norm`")
        elif spec.kind_of(pr.target) == "output":
            yield Diagnostic(
                "E624", f"`norm = batch` on `{pr.name}`, a projection into an output", pr.norm.span,
                "batch norm drives a population's state (drive = gain * BN(weights x input)); an output's "
                "value is its readout through the weights: drop `norm` here")


@check("E628", "batch norm needs a gradient rule on a dataset")
def batch_norm_needs_batches_and_gradients(spec: ir.Spec, plan: Plan):
    normed = [pr for pr in spec.projections if pr.norm is not None]
    if not normed:
        return
    rule = spec.train.rule if spec.train is not None else None
    dataset = isinstance(spec.task, ir.DatasetTask)
    if rule in ("stop", "surrogate") and dataset:
        return
    why = ("there is nothing to train it" if rule is None or spec.task is None else
           f"`{rule}` evolves parameters without gradients" if rule in ("ec", "es") else
           "a Brax task trains on one environment episode at a time (PPO), with no batch of samples")
    yield Diagnostic(
        "E628", f"`norm = batch` on `{normed[0].name}` needs `train stop` or `train surrogate` on a dataset task; "
                f"{why}", normed[0].norm.span,
        "batch norm takes each step's statistics over a batch of samples trained by gradients, and uses the "
        "running ones at evaluation; drop `norm`, or train the network with `stop` or `surrogate` on a dataset")


@check("E629", "batch norm over one value per channel needs batches of two or more")
def batch_norm_needs_two_values_per_channel(spec: ir.Spec, plan: Plan):
    if not spec.trainable or getattr(spec.train, "batch_size", 2) > 1:
        return
    for pr in spec.projections:
        if pr.norm is not None and pr.norm_channels[1] == 1:
            yield Diagnostic(
                "E629", f"`norm = batch` on `{pr.name}` normalises each neuron over the batch, and "
                        "train.batch_size is 1", pr.norm.span,
                "with one sample a neuron's batch variance is 0 and its normalised drive is the shift alone; "
                "use train.batch_size of 2 or more (or normalise a convolution, whose channels span positions)")
