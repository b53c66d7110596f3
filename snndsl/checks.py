"""Semantic checks on a built IR.  One function per rule, each with its error code.

Name, unit and value errors are found while the IR is built (frontend/); the checks here need
the whole network.  Every code has a valid/invalid fixture pair in tests/fixtures/.
"""

from __future__ import annotations

from typing import Callable, Iterator

from . import ir
from .diagnostics import Diagnostic

Check = Callable[[ir.Spec], Iterator[Diagnostic]]
CHECKS: list[tuple[str, str, Check]] = []


def check(code: str, title: str):
    def register(fn: Check) -> Check:
        CHECKS.append((code, title, fn))
        return fn

    return register


def run_checks(spec: ir.Spec) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for _, _, fn in CHECKS:
        out.extend(fn(spec))
    return out


def _learnables(spec: ir.Spec):
    for pr in spec.projections:
        if pr.connectivity.learn:
            yield pr, ("p" if pr.connectivity.kind == "bernoulli" else "w"), pr.span
    for pop in spec.populations:
        for ln in pop.learn:
            yield pop, ln.param, ln.span


# --------------------------------------------------------------------------- values


@check("E402", "time constants are positive")
def time_constants_positive(spec: ir.Spec):
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


# --------------------------------------------------------------------------- sizes


@check("E501", "sizes agree with the task and across projections")
def sizes_agree(spec: ir.Spec):
    task = spec.task
    want = task.action if isinstance(task, ir.BraxTask) else task.classes
    what = "the environment's action size" if isinstance(task, ir.BraxTask) else "the number of classes"
    if not spec.outputs:
        yield Diagnostic("E501", "the network has no output", spec.span,
                         "declare one, e.g. `output action = filtered_rate(hidden)`")
    for out in spec.outputs:
        if out.size != want:
            yield Diagnostic("E501", f"output `{out.name}` has {out.size} values but {what} is {want}", out.span)
        driven = [p for p in spec.projections if p.target == out.name]
        src = spec.size_of(out.source)
        if not driven and src != out.size:
            yield Diagnostic("E501", f"output `{out.name}` reads `{out.source}` ({src} neurons) directly but has "
                                     f"{out.size} values", out.span,
                             f"add `project {out.source} -> {out.name} {{ weights = ... }}`, or make "
                             f"`{out.source}` {out.size} neurons")
    if len(spec.outputs) > 1:
        yield Diagnostic("E501", "a network has one output", spec.outputs[1].span)
    task_in = task.obs if isinstance(task, ir.BraxTask) else task.features
    for inp in spec.inputs:
        if inp.in_size != task_in:
            yield Diagnostic("E501", f"input `{inp.name}` takes {inp.in_size} values but the task gives {task_in}",
                             inp.span, "drop `size`: the input takes the task's size")
    if not spec.inputs:
        yield Diagnostic("E501", "the network has no input", spec.span, "declare one, e.g. `input obs = current`")


@check("W101", "every population is connected")
def populations_connected(spec: ir.Spec):
    driven = set()
    for pr in spec.projections:
        for m in ([pr.target] if spec.kind_of(pr.target) != "group" else spec.group(pr.target).members):
            driven.add(m)
    for pop in spec.populations:
        if pop.name not in driven:
            yield Diagnostic("W101", f"population `{pop.name}` receives no projection", pop.span,
                             severity="warning")


# --------------------------------------------------------------------------- learning rules


@check("E601", "the learning rule suits the task")
def rule_suits_task(spec: ir.Spec):
    rule, task = spec.train.rule, spec.task
    if rule in ("ec", "es") and not isinstance(task, ir.BraxTask):
        yield Diagnostic("E601", f"`{rule}` trains on a Brax task, not on a dataset", spec.train.span,
                         "use `train stop` or `train surrogate` for classification")
    if rule == "stop" and not isinstance(task, ir.DatasetTask):
        yield Diagnostic("E601", "`stop` trains on a classification dataset, not on a Brax task", spec.train.span,
                         "use `train ec`, `train es` or `train surrogate` (PPO) on Brax")


@check("E602", "EC evolves at least one Bernoulli projection")
def ec_has_bernoulli(spec: ir.Spec):
    if spec.train.rule != "ec":
        return
    if not any(p.connectivity.kind == "bernoulli" and p.connectivity.learn for p in spec.projections):
        yield Diagnostic("E602", "EC evolves connection probabilities, but no projection has `learn p`",
                         spec.train.span,
                         "give a projection `weights = bernoulli(p = 0.5)` and `learn p`")


@check("E603", "the learning rule can learn what is marked learnable")
def rule_can_learn(spec: ir.Spec):
    rule = spec.train.rule
    items = list(_learnables(spec))
    for node, what, span in items:
        if rule == "ec" and what != "p":
            yield Diagnostic("E603", f"EC evolves connection probabilities only; it cannot learn `{what}`", span,
                             "use `train es` to evolve real values, or `stop`/`surrogate` to learn them by gradient")
        if rule != "ec" and what == "p":
            yield Diagnostic("E603", f"`{rule}` cannot learn Bernoulli probabilities (`learn p`)", span,
                             "that is EC's job (`train ec`); for real weights use `weights = dense(...)` and `learn w`")
    if rule != "ec" and not items:
        yield Diagnostic("E603", f"`{rule}` has nothing to learn", spec.train.span,
                         "mark something learnable: `learn w` in a projection, or `learn v_th` in a population")


def _stop_populations(spec: ir.Spec):
    for pop in spec.populations:
        yield pop, spec.neuron(pop.model)


@check("E604", "STOP needs a soft reset")
def stop_soft_reset(spec: ir.Spec):
    if spec.train.rule != "stop":
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
def stop_shared_leaks(spec: ir.Spec):
    if spec.train.rule != "stop":
        return
    for pop in spec.populations:
        for ln in pop.learn:
            if ln.role == "time_constant" and ln.sharing == "neuron":
                yield Diagnostic(
                    "E605", f"STOP needs leaks shared per population; `{ln.param}` is learned per neuron", ln.span,
                    "with one leak per neuron, the presynaptic trace of every synapse decays at its own rate, "
                    "so it must be stored per synapse (B x N_in x N_out); write `learn "
                    f"{ln.param} per population` (thresholds may be per neuron)",
                )


@check("E606", "STOP needs linear membrane dynamics without refractoriness")
def stop_linear_dynamics(spec: ir.Spec):
    if spec.train.rule != "stop":
        return
    for pop, model in _stop_populations(spec):
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
def stop_shared_block_params(spec: ir.Spec):
    if spec.train.rule != "stop":
        return
    from .lower import lower

    for block in lower(spec).blocks:
        used = {n.id for o in block.model.odes for n in _names(o.rhs) if n.ref == "param"}
        for name in sorted(used):
            if not isinstance(block.params[name], (int, float)):
                yield Diagnostic("E605", f"STOP needs `{name}` shared by every neuron of group `{block.name}`; its "
                                         "populations set it differently", spec.group(block.name).span if
                                 spec.group(block.name) else block.members[0].pop.span,
                                 "a presynaptic trace decays with its target's dynamics, which must be the same "
                                 "for all neurons it feeds; give the populations equal values or separate targets")


def _names(e):
    return ir.names_in(e)


@check("W601", "STOP treats recurrent spikes as inputs")
def stop_recurrence(spec: ir.Spec):
    if spec.train.rule != "stop":
        return
    from .lower import lower

    plan = lower(spec)
    for pr in plan.projections:
        if pr.delayed:
            yield Diagnostic("W601", f"`{pr.ir.name}` feeds back spikes from the previous step; STOP treats them "
                                     "as constant inputs (no gradient through time along this path)", pr.ir.span,
                             severity="warning")
