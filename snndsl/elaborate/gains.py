"""A projection's `gain`: a number, or `auto` / `auto(k = ...)`, the EC reference's formula
(ec.md §1.4): K * scale * sqrt(c / (p * n)), with K by source kind, the scale from the target
neuron's threshold and decay times, c = 1 into an output and 2 into a population."""

from __future__ import annotations

import math

from .. import ir
from ..diagnostics import suggest
from .context import Context
from .expr import CallV, ExprError, Q, Sym, evaluate
from .scope import as_number

AUTO_K = {"input": 0.1, "population": 1.0, "output": 5.0}


def set_gain(ctx: Context, proj: ir.Projection, v, span, source_kind: str) -> None:
    """Set proj.gain from the folded `gain = ...` value (None: keep 1.0)."""
    if v is None:
        return
    if isinstance(v, Q):
        x = ctx.rep.run(as_number, v, "gain")  # a plain number: a gain with units is E301
        if x is not None:
            proj.gain = x
        return
    is_auto = (isinstance(v, Sym) and v.name == "auto") or (isinstance(v, CallV) and v.func == "auto")
    if not is_auto:
        ctx.error("E404", "gain is a number, `auto` or `auto(k = ...)`", span, suggest(getattr(v, "name", ""), ["auto"]))
        return
    kind = "output" if proj.target_var is None else ("input" if source_kind == "input" else "population")
    k = _auto_k(ctx, v, AUTO_K[kind])
    if k is None:
        return
    conn = proj.connectivity
    p = conn.p if conn.kind in ("bernoulli", "sparse") else 1.0
    if p <= 0:
        ctx.error("E401", "gain = auto needs p > 0", span)
        return
    n = ctx.inputs[proj.source].in_size if source_kind == "input" else proj.n_in
    if proj.pool is not None:  # the weights see the pooled source
        n = proj.in_shape[0] * proj.in_shape[1] * proj.in_shape[2]
    if conn.kind == "conv2d":  # a convolution's fan-in: one kernel's inputs
        n = conn.kernel * conn.kernel * proj.in_shape[0]
    if kind == "output":
        proj.gain, proj.gain_rule = k * math.sqrt(1.0 / (p * n)), "auto"
        return
    scale = _scale(ctx, proj, kind, span)
    if scale is not None:
        proj.gain, proj.gain_rule = k * scale * math.sqrt(2.0 / (p * n)), "auto"


def _auto_k(ctx: Context, v, default: float) -> float | None:
    """K from `auto(k = ...)` or `auto(...)`, else the default for the source kind (None: reported)."""
    if not isinstance(v, CallV):
        return default
    extra = [n for n in v.kwargs if n != "k"]
    if extra:
        ctx.error("E203", f"auto() has no argument `{extra[0]}`", v.kw_spans.get(extra[0], v.span),
                  "its one argument is the factor `k`: `auto(k = 0.5)`")
        return None
    if len(v.args) > 1 or (v.args and v.kwargs):
        ctx.error("E305", "auto() takes one argument, the factor `k`", v.span, "write `auto(k = 0.5)`")
        return None
    kv = v.kwargs.get("k", v.args[0] if v.args else None)
    if kv is None:
        return default
    return ctx.rep.run(as_number, kv, "k")


def _scale(ctx: Context, proj: ir.Projection, kind: str, span) -> float | None:
    """The target's scale: its threshold, times tau_m for a current from an input, times tau_m / tau_syn
    for a synaptic current with its own decay.  None if the neuron has no threshold or leak."""
    pop = ctx.pops[ctx.members(proj.target)[0]]
    model = ctx.models[pop.model]
    theta_name, mem = model.threshold, model.membrane
    taus = decay_times(model, pop.params)
    if theta_name is None or mem is None or mem not in taus:
        if any(pop.params[n] <= 0 for n in ir.time_constant_params(model)):
            return None  # a zero time constant: the checks report E402 at the population
        ctx.error("E206", f"gain = auto needs a neuron with a threshold and a leaky membrane; "
                          f"`{model.name}` has none", span, "give the gain as a number")
        return None
    theta = abs(pop.params[theta_name])
    tau_m = taus[mem]
    if kind == "input" and model.port(proj.target_var) is not None:
        return theta * tau_m  # a current held over the step (ms, as in the reference)
    if proj.target_var != mem and proj.target_var in taus:
        return theta * tau_m / taus[proj.target_var]  # a synaptic current with its own decay
    return theta


def decay_times(model: ir.NeuronModel, params: dict[str, float]) -> dict[str, float]:
    """State -> its decay time constant -d/a in ms, for linear ODEs with parameter coefficients."""
    out = {}
    env = {k: Q(v) for k, v in params.items()}
    for ode in model.odes:
        lf = ode.linear
        if lf is None or ode.method != "exact":
            continue
        try:
            a = evaluate(lf.a, lambda n: env.get(n.id, Q(1.0)))
            d = evaluate(lf.d, lambda n: env.get(n.id, Q(1.0)))
        except ExprError:
            continue
        if a.value < 0 and d.value != 0:
            out[ode.var] = -d.value / a.value
    for tau, state in ir.time_constant_params(model).items():  # `x <- exp(-dt / tau) * x + ...`
        if model.ode(state) is None and tau in params:
            out[state] = params[tau]
    return out
