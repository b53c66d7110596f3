"""STOP's requirements on the network: soft resets, shared leaks, linear dynamics, no recurrence
through time."""

from __future__ import annotations

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan
from .registry import check


def _stop_populations(spec: ir.Spec):
    for pop in spec.populations:
        yield pop, spec.neuron(pop.model)


@check("E604", "STOP needs a soft reset")
def stop_soft_reset(spec: ir.Spec, plan: Plan):
    if spec.train is None or spec.train.rule != "stop":
        return
    for pop, model in _stop_populations(spec):
        if model.spiking and not model.soft_reset:
            yield Diagnostic(
                "E604",
                f"STOP needs a soft reset, but `{model.name}` (population `{pop.name}`) resets with "
                f"`{next((r.var for r in model.reset if r.op == '='), model.membrane)} = ...`",
                pop.span,
                "STOP's traces assume the membrane carries over each spike minus a constant "
                "(`v -= v_th`, reset detached); a hard reset cuts every neuron's memory at its own spikes, "
                "so the weight trace would be per synapse (B x N_in x N_out) instead of per input neuron. "
                "Use the stdlib `LIF` (soft reset) or `train surrogate`",
            )


@check("E605", "STOP needs leaks shared per population")
def stop_shared_leaks(spec: ir.Spec, plan: Plan):
    if spec.train is None or spec.train.rule != "stop":
        return
    for pop in spec.populations:
        for ln in pop.learn:
            if ln.role == "time_constant" and ln.sharing in ("neuron", "channel"):
                yield Diagnostic(
                    "E605", f"STOP needs leaks shared per population; `{ln.param}` is learned per {ln.sharing}", ln.span,
                    "with one leak per neuron, the presynaptic trace of every synapse decays at its own rate, "
                    "so it must be stored per synapse (B x N_in x N_out); write `learn "
                    f"{ln.param} per population` (thresholds may be per neuron)",
                )


@check("E606", "STOP needs linear membrane dynamics without refractoriness")
def stop_linear_dynamics(spec: ir.Spec, plan: Plan):
    if spec.train is None or spec.train.rule != "stop":
        return
    for pop, model in _stop_populations(spec):
        if model.integration.method == "step":
            yield Diagnostic("E606", f"STOP derives its traces from linear ODEs; `{model.name}` is written as a "
                                     "`step` block", pop.span,
                             "write the neuron with exactly integrated equations (as stdlib `LIF`: "
                             "`dv/dt = -v / tau_m`, whose step is v <- exp(-dt/tau_m) v + input)")
        bad = [o for o in model.odes if o.method != "exact"]
        if bad:
            yield Diagnostic("E606", f"STOP needs linear dynamics with constant coefficients; `d{bad[0].var}/dt` "
                                     f"of `{model.name}` is integrated by {bad[0].method.replace('_', ' ')}",
                             pop.span, "STOP's traces are the neuron's own linear recurrence run on its inputs; "
                                       "use `train surrogate` for nonlinear neurons")
        if model.refractory > 0:
            yield Diagnostic("E606", f"STOP does not support refractory periods (`{model.name}`)", pop.span,
                             "a refractory clamp makes each neuron's memory depend on its own spikes")
    if spec.time.substeps != 1:
        yield Diagnostic("E606", f"STOP updates its traces every network step; time.substeps is {spec.time.substeps}",
                         spec.time.span, "use time.substeps = 1 and more time.steps per sample")


@check("E605", "STOP needs dynamics shared within each block")
def stop_shared_block_params(spec: ir.Spec, plan: Plan):
    if spec.train is None or spec.train.rule != "stop":
        return
    for block in plan.blocks:
        used = {n.id for o in block.model.odes for n in ir.names_in(o.rhs) if n.ref == "param"}
        for name in sorted(used):
            drawn = next((m.pop for m in block.members if name in m.pop.draws), None)
            if drawn is not None:
                yield Diagnostic("E605", f"STOP needs `{name}` shared by every neuron of population `{drawn.name}`; "
                                         "it is drawn per neuron", drawn.draws[name].span,
                                 "a presynaptic trace decays with its target's dynamics: with one leak per neuron "
                                 "it would be stored per synapse (B x N_in x N_out).  Set one value, or train "
                                 "with `train surrogate`; thresholds may be drawn per neuron")
            elif not isinstance(block.params[name], (int, float)):
                yield Diagnostic("E605", f"STOP needs `{name}` shared by every neuron of group `{block.name}`; its "
                                         "populations set it differently", spec.group(block.name).span if
                                 spec.group(block.name) else block.members[0].pop.span,
                                 "a presynaptic trace decays with its target's dynamics, which must be the same "
                                 "for all neurons it feeds; give the populations equal values or separate targets")


@check("E607", "STOP cannot train through a synaptic delay of more than one step")
def stop_long_delays(spec: ir.Spec, plan: Plan):
    if spec.train is None or spec.train.rule != "stop":
        return
    for pr in plan.projections:
        if pr.steps >= 2:
            yield Diagnostic("E607", f"STOP cannot train `{pr.ir.name}`, whose spikes arrive {pr.steps} steps late",
                             pr.ir.span,
                             "STOP's forward traces assume a spike acts within its step (or the next one, as a "
                             "constant input); a longer delay would need a trace per delay step of every synapse. "
                             "Drop the delay, or train with `train surrogate` (BPTT through the buffer)")


@check("W601", "STOP treats recurrent spikes as inputs")
def stop_recurrence(spec: ir.Spec, plan: Plan):
    if spec.train is None or spec.train.rule != "stop":
        return
    for pr in plan.projections:
        if pr.delayed and pr.steps < 2:  # longer delays are E607
            yield Diagnostic("W601", f"`{pr.ir.name}` feeds back spikes from the previous step; STOP treats them "
                                     "as constant inputs (no gradient through time along this path)", pr.ir.span,
                             severity="warning")
