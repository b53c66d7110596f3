"""Checks on values: time constants."""

from __future__ import annotations

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan
from .registry import check


@check("E402", "time constants are positive")
def time_constants_positive(spec: ir.Spec, plan: Plan):
    for pop in spec.populations:
        model = spec.neuron(pop.model)
        for name in ir.time_constant_params(model):
            if pop.params[name] <= 0:
                where = next((ln.span for ln in pop.learn if ln.param == name), None) or pop.span
                yield Diagnostic("E402", f"time constant `{name}` of population `{pop.name}` is "
                                         f"{pop.params[name]:g} ms; it must be positive", where,
                                 f"`{name}` is the decay time of `{ir.time_constant_params(model)[name]}`")
    for out in spec.outputs:
        readout = spec.readout(out.readout)
        for name, var in ir.time_constant_params(readout).items():
            if out.params.get(name, 1.0) <= 0:
                yield Diagnostic("E402", f"time constant `{name}` of output `{out.name}` is {out.params[name]:g} ms; "
                                         "it must be positive", out.span,
                                 f"`{name}` is the decay time of readout `{readout.name}`'s `{var}`")
