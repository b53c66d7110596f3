"""`project source -> target.var { weights = ..., gain = ..., learn ... }` -> ir.Projection:
endpoints, connectivity (bernoulli, dense, sparse) with initial weights, what it learns."""

from __future__ import annotations

from .. import ir
from ..diagnostics import suggest
from ..syntax import ast
from . import units as U
from .bodies import bounds, settings, unique_items
from .context import Context
from .draws import initialiser, read_file_init
from .expr import CallV, Q, Sym
from .gains import set_gain
from .scope import as_number


def elaborate_projection(ctx: Context, d: ast.ProjectDecl) -> ir.Projection | None:
    body = _body(ctx, d)
    s, t = d.source, d.target
    sname, tname = s.node.name, t.node.name
    known = [*ctx.pops, *ctx.groups, *ctx.inputs, *ctx.outputs]
    kinds = {**{k: "population" for k in ctx.pops}, **{k: "group" for k in ctx.groups},
             **{k: "input" for k in ctx.inputs}, **{k: "output" for k in ctx.outputs}}
    ok = True
    for ep in (s, t):
        if ep.node.name in ctx.broken:
            ok = False
        elif ep.node.name not in kinds:
            ctx.error("E201", f"undefined node `{ep.node.name}`", ep.node.span, suggest(ep.node.name, known))
            ok = False
    if not ok or body is None:
        return None
    conn, gain_v, gain_span, delay = body
    sk, tk = kinds[sname], kinds[tname]
    if delay is not None and sk == "input":
        ctx.error("E205", "`delay` applies to spikes; an input's projection is held over the environment step "
                          "or time step", d.span, "drop `delay` here")
        return None
    if delay is not None and delay >= 2 and tk == "output":
        ctx.error("E205", "a delay of more than one step is for projections between populations; an output "
                          "reads its source's readout at every step", d.span, "drop `delay` here")
        return None
    if sk == "output":
        ctx.error("E502", f"`{sname}` is an output; projections start at an input or a population", s.node.span)
        return None
    if tk == "input":
        ctx.error("E502", f"`{tname}` is an input; projections end at a population or an output", t.node.span)
        return None
    if s.var is not None:
        ctx.error("E502", "the source of a projection is a whole node", s.var.span, f"write `project {sname} -> ...`")
        return None
    if sk in ("population", "group") and tk != "output":  # into an output it carries the readout's value
        src_model = ctx.models.get(ctx.pops[ctx.members(sname)[0]].model)
        if src_model is not None and not src_model.spiking:
            ctx.error("E502", f"`{sname}` ({src_model.name}) does not spike, and a projection from a population "
                              "into a population carries its spikes", s.node.span,
                      f"read `{sname}` with an output (`output o = membrane({sname})`), or give "
                      f"`{src_model.name}` a `spike when` condition")
            return None
    target_var = None
    if tk == "output":
        if t.var is not None:
            ctx.error("E502", f"an output has no variables; write `-> {tname}`", t.var.span)
            return None
        out = ctx.outputs[tname]
        if out.source != sname:
            ctx.error("E502", f"output `{tname}` reads `{out.source}`, but this projection comes from `{sname}`",
                      s.node.span, f"project from `{out.source}`, or change the output's readout")
            return None
    else:
        target_var = _target_var(ctx, t, tname)
        if target_var is None:
            return None
    n_in, n_out = ctx.size(sname), ctx.size(tname)
    name = f"{sname}->{tname}" + (f".{target_var}" if target_var else "")
    proj = ir.Projection(name=name, source=sname, target=tname, target_var=target_var, connectivity=conn,
                         gain=1.0, n_in=n_in, n_out=n_out, delay=delay, span=d.span)
    init = getattr(conn, "init", None)
    if init is not None and init.dist == "file" and read_file_init(
            ctx, init, (n_in, n_out), f"this projection's weights are {n_in} x {n_out} (inputs x outputs)",
            "save the matrix with one row per input and one column per output") is None:
        return None
    set_gain(ctx, proj, gain_v, gain_span, sk)
    return proj


def _target_var(ctx: Context, t: ast.Endpoint, tname: str) -> str | None:
    """The state or input of the target's neuron model that the projection drives (None: reported)."""
    model = ctx.models.get(ctx.pops[ctx.members(tname)[0]].model)
    if model is None:
        return None
    targets = [st.name for st in model.states] + [p.name for p in model.ports]
    if t.var is None:
        ctx.error("E502", f"say which variable of `{tname}` the projection drives", t.node.span,
                  f"for example `{tname}.{targets[0]}`; `{model.name}` has: {', '.join(targets)}")
        return None
    if t.var.name not in targets:
        ctx.error("E204", f"`{model.name}` has no state or input `{t.var.name}`", t.var.span,
                  suggest(t.var.name, targets) or f"it has: {', '.join(targets)}")
        return None
    return t.var.name


def _body(ctx: Context, d: ast.ProjectDecl):
    """weights, gain and learn of a projection: (connectivity, gain value, gain span) or None."""
    conn, gain_v, gain_span, learn, delay = None, None, None, [], None
    for it in unique_items(ctx, d.items, f"projection `{d.source.node.name} -> {d.target.node.name}`"):
        if isinstance(it, ast.LearnDecl):
            learn.append(it)
            continue
        if not isinstance(it, ast.Setting):
            ctx.error("E205", "a projection body holds `weights`, `gain` and `learn`", it.span)
            continue
        if it.key.name == "weights":
            conn = _connectivity(ctx, it)
            if conn is None:
                return None
        elif it.key.name == "gain":
            gain_v, gain_span = ctx.eval(it.value), it.value.span
            if gain_v is None:
                return None
        elif it.key.name == "delay":
            delay = _delay(ctx, it)
            if delay is None:
                return None
        else:
            ctx.error("E203", f"unknown projection setting `{it.key.name}`", it.key.span,
                      suggest(it.key.name, ["weights", "gain", "delay"]) or
                      "a projection sets `weights`, `gain`, `delay`, `learn`")
            return None
    if conn is None:
        ctx.error("E206", f"projection `{d.source.node.name} -> {d.target.node.name}` needs `weights = ...`",
                  d.span, "e.g. `weights = bernoulli(p = 0.5)` or `weights = dense(init = kaiming)`")
        return None
    for ln in learn:
        want = "p" if conn.kind == "bernoulli" else "w"
        if ln.target.name != want:
            ctx.error("E204", f"{conn.kind} connections learn `{want}`, not `{ln.target.name}`", ln.target.span,
                      f"write `learn {want}`")
            return None
        if ln.per is not None:
            ctx.error("E205", "connection parameters are learned per synapse; drop `per`", ln.per.span)
            return None
        conn.learn = True
        s_ = settings(ctx, ln.body, ["bounds"] if want == "w" else [], f"learn {want}")
        if "bounds" in s_:
            conn.bounds = bounds(ctx, s_["bounds"], U.DIMENSIONLESS)
    return conn, gain_v, gain_span, delay


def _delay(ctx: Context, it: ast.Setting) -> int | None:
    """`delay = 3` (network steps) or a time, rounded to whole steps (W403; a positive time is at
    least one step).  0: this step's spikes, 1: the previous step's, d: those of d steps back."""
    v = ctx.eval(it.value)
    if v is None:
        return None
    dims = v.dims if isinstance(v, Q) else None
    if dims == U.TIME:
        exact = v.value / ctx.dt
        steps = max(round(exact), 1) if v.value > 0 else round(exact)
        if abs(exact - round(exact)) > 1e-6 and v.value >= 0:
            ctx.warn("W403", f"a delay of {v.value:g} ms is {exact:g} steps of {ctx.dt:g} ms; it is rounded to "
                             f"{steps} ({steps * ctx.dt:g} ms)", it.value.span,
                     "spikes arrive at whole steps; choose a delay that is a multiple of dt, or a dt that divides it")
    elif isinstance(v, Q) and dims == U.DIMENSIONLESS:
        steps = v.value
        if steps != int(steps):
            ctx.error("E403", f"a delay in network steps is a whole number, not {steps:g}", it.value.span,
                      f"write `delay = {round(steps)}`, or a time: `delay = {steps * ctx.dt:g} ms`")
            return None
    else:
        ctx.error("E404", "a delay is a number of network steps (`delay = 2`) or a time (`delay = 2 ms`)",
                  it.value.span)
        return None
    if not 0 <= steps <= ir.MAX_DELAY_STEPS:
        ctx.error("E401", f"a delay is 0 to {ir.MAX_DELAY_STEPS} network steps, not {steps:g}", it.value.span,
                  "0: a feed-forward projection delivers this step's spikes; 1: the previous step's "
                  "(what every recurrent loop does); d: the spikes of d steps back")
        return None
    return int(steps)


def _connectivity(ctx: Context, it: ast.Setting):
    v = ctx.eval(it.value)
    if v is None:
        return None
    kinds = ("bernoulli", "dense", "sparse")
    if isinstance(v, Sym) and v.name == "dense":
        return ir.Dense(init=ir.Init(dist="kaiming", span=it.value.span), span=it.value.span)
    if not isinstance(v, CallV) or v.func not in kinds:
        name = getattr(v, "func", getattr(v, "name", ""))
        ctx.error("E404", "weights are bernoulli(p = ...), dense(init = ...) or sparse(p = ..., init = ...)",
                  it.value.span, suggest(name, kinds) if name else None)
        return None
    allowed = {"bernoulli": ["p"], "dense": ["init"], "sparse": ["p", "init"]}[v.func]
    args = dict(zip(allowed, v.args))
    if len(v.args) > len(allowed):
        ctx.error("E305", f"{v.func}() takes {', '.join(allowed)}", v.span)
        return None
    for k, val in v.kwargs.items():
        if k not in allowed:
            ctx.error("E203", f"{v.func}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                      suggest(k, allowed) or f"it takes: {', '.join(allowed)}")
            return None
        args[k] = val
    p = None
    if "p" in allowed:
        if "p" not in args:
            ctx.error("E206", f"{v.func}() needs `p`", v.span, f"e.g. `{v.func}(p = 0.5)`")
            return None
        p = ctx.rep.run(as_number, args["p"], "p")
        if p is None:
            return None
        if not 0 <= p <= 1:
            ctx.error("E401", f"a connection probability must be in [0, 1], not {p:g}",
                      getattr(args["p"], "span", None) or v.span)
            return None
    if v.func == "bernoulli":
        return ir.Bernoulli(p=p, span=it.value.span)
    init = initialiser(ctx, args["init"], it.value.span) if "init" in args else ir.Init(dist="kaiming", span=it.value.span)
    if init is None:
        return None
    if v.func == "dense":
        return ir.Dense(init=init, span=it.value.span)
    if init.dist == "file":
        ctx.error("E404", "`init = file(...)` is for dense projections", init.span,
                  "write `weights = dense(init = file(...))`")
        return None
    return ir.Sparse(p=p, init=init, span=it.value.span)
