"""Checks on when spikes arrive: a projection's `delay` against the update order of its blocks."""

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
