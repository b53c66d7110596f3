"""Checks on timing: a projection's `delay` against the update order of its blocks; refractory
periods against the time step."""

from __future__ import annotations

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan
from .registry import check


@check("E401", "delay = 0 only where the source updates before the target")
def zero_delay_in_a_loop(spec: ir.Spec, plan: Plan):
    for pp in plan.projections:
        if pp.ir.delay == 0 and pp.delayed:
            yield Diagnostic("E401", f"`{pp.ir.name}` closes a loop, so its spikes arrive one step later; "
                                     "`delay = 0` cannot hold", pp.ir.span,
                             "drop `delay` (a loop delivers the previous step's spikes), or break the loop")


@check("W402", "a refractory period is a whole number of steps")
def refractory_on_the_grid(spec: ir.Spec, plan: Plan):
    dt = spec.time.dt
    for m in {b.model.name: b.model for b in plan.blocks}.values():
        n = m.refractory / dt
        if m.refractory > 0 and abs(n - round(n)) > 1e-6:
            held = round(n)
            yield Diagnostic("W402", f"`{m.name}`'s refractory period of {m.refractory:g} ms is {n:g} steps of "
                                     f"{dt:g} ms; it is rounded to {held} ({held * dt:g} ms)",
                             next(p.span for p in spec.populations if p.model == m.name),
                             "choose a refractory period that is a multiple of dt, or a dt that divides it",
                             severity="warning")
