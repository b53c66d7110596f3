"""Checks on the network as a whole: sizes against the task and across projections, connectivity."""

from __future__ import annotations

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan
from .registry import check


@check("E501", "sizes agree with the task and across projections")
def sizes_agree(spec: ir.Spec, plan: Plan):
    task = spec.task  # None: a spec to simulate, whose inputs and outputs need not match a task
    if task is not None:
        want = task.action if isinstance(task, ir.BraxTask) else task.classes
        what = "the environment's action size" if isinstance(task, ir.BraxTask) else "the number of classes"
    if task is not None and not spec.outputs:
        yield Diagnostic("E501", "the network has no output", spec.span,
                         "declare one, e.g. `output action = filtered_rate(hidden)`")
    for out in spec.outputs:
        if task is not None and out.size != want:
            yield Diagnostic("E501", f"output `{out.name}` has {out.size} values but {what} is {want}", out.span)
        driven = [p for p in spec.projections if p.target == out.name]
        src = spec.size_of(out.source)
        if not driven and src != out.size:
            yield Diagnostic("E501", f"output `{out.name}` reads `{out.source}` ({src} neurons) directly but has "
                                     f"{out.size} values", out.span,
                             f"add `project {out.source} -> {out.name} {{ weights = ... }}`, or make "
                             f"`{out.source}` {out.size} neurons")
    if task is not None and len(spec.outputs) > 1:  # a simulation may read several
        yield Diagnostic("E501", "a network has one output", spec.outputs[1].span)
    if task is None:
        return
    task_in = task.obs if isinstance(task, ir.BraxTask) else task.features
    for inp in spec.inputs:
        if inp.in_size != task_in:
            yield Diagnostic("E501", f"input `{inp.name}` takes {inp.in_size} values but the task gives {task_in}",
                             inp.span, "drop `size`: the input takes the task's size")
    if not spec.inputs:
        yield Diagnostic("E501", "the network has no input", spec.span, "declare one, e.g. `input obs = current`")


@check("W101", "every population is connected")
def populations_connected(spec: ir.Spec, plan: Plan):
    driven = set()
    for pr in spec.projections:
        for m in ([pr.target] if spec.kind_of(pr.target) != "group" else spec.group(pr.target).members):
            driven.add(m)
    for pop in spec.populations:
        # in a spec to simulate, `snndsl sim --input` can drive a population's input ports
        injectable = not spec.trainable and spec.neuron(pop.model).ports
        if pop.name not in driven and not injectable:
            yield Diagnostic("W101", f"population `{pop.name}` receives no projection", pop.span,
                             severity="warning")
