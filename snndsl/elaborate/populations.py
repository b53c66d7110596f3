"""`population name = Model(size) { ... }` -> ir.Population: parameter and initial-state values,
the sign, and the parameters it learns (`learn tau_m per neuron { bounds = [...] }`)."""

from __future__ import annotations

from .. import ir
from ..diagnostics import suggest
from ..syntax import ast
from . import units as U
from .bodies import bounds, param_values, settings, unique_items
from .context import Context
from .draws import DISTRIBUTIONS, initialiser, read_file_init
from .expr import CallV, ListV, is_zero
from .models import Names, init_dims, resolve
from .scope import as_int, as_number
from .visible_models import named_model

TAU_FLOOR = 0.1  # a time constant drawn from normal() is clipped to at least this fraction of its mean


def elaborate_population(ctx: Context, d: ast.Declaration) -> ir.Population | None:
    model = named_model(ctx, d.head, "neuron", f"population `{d.name.name}`")
    if model is None:
        return None
    size = _size(ctx, d, model)
    shape = size if isinstance(size, tuple) else None
    size = shape[0] * shape[1] * shape[2] if shape else size
    size_ok = size is not None
    pop = ir.Population(name=d.name.name, model=model.name, size=size if size_ok else 1,  # 1: keep checking the body
                        shape=shape,
                        params={p.name: p.value for p in model.params},
                        inits={s.name: s.init for s in model.states}, span=d.span)
    names = Names()
    for p in model.params:
        names.add(p.name, "param", p.dims)
    learn_items = []
    values = []
    for it in unique_items(ctx, d.items, f"population `{d.name.name}`"):
        if isinstance(it, ast.LearnDecl):
            learn_items.append(it)
        elif not isinstance(it, ast.Setting):
            ctx.error("E205", "a population body holds settings and `learn`", it.span)
        elif it.key.name == "sign":
            _sign(ctx, it, pop)
        elif model.state(it.key.name) is not None:
            _initial_state(ctx, it, model.state(it.key.name), names, pop)
        elif model.param(it.key.name) is not None:
            v = ctx.eval(it.value)
            if isinstance(v, CallV) and v.func in DISTRIBUTIONS:
                _drawn_param(ctx, v, it, model, pop)
            elif isinstance(v, CallV):
                ctx.error("E305", f"`{v.func}(...)`: a parameter is a number, or drawn per neuron by "
                                  "uniform(low, high), normal(mean, sd) or file(\"values.npz\", \"key\")", v.span,
                          suggest(v.func, list(DISTRIBUTIONS)))
            elif v is not None:
                values.append((it.key.name, v, it.key.span))
        else:
            k = it.key.name
            ctx.error("E204", f"`{model.name}` has no parameter or state `{k}`", it.key.span,
                      suggest(k, [p.name for p in model.params] + [s.name for s in model.states] + ["sign"]))
    param_values(ctx, model, values, pop.params, f"population `{pop.name}`")
    for it in learn_items:
        ln = elaborate_learnable(ctx, it, model, pop)
        if ln is not None:
            pop.learn.append(ln)
    return pop if size_ok else None


def _size(ctx: Context, d: ast.Declaration, model: ir.NeuronModel) -> int | tuple[int, int, int] | None:
    """The size in the head `Model(size)`, or the shape `Model([C, H, W])`; None if it is missing or
    not positive integers (reported)."""
    head = d.head
    size_expr = None
    if isinstance(head, ir.Call):
        size_expr = head.args[0] if head.args else head.kwarg("size")
        extra = head.args[1:] + [k for k in head.kwargs if k.name != "size"]
        if extra:
            ctx.error("E305", "a population head is `Model(size)`", extra[0].span,
                      "set parameters in the body: `{ tau_m = 20 ms }`")
    if size_expr is None:
        ctx.error("E206", f"population `{d.name.name}` needs a size", head.span, f"write `{model.name}(128)`")
        return None
    size_v = ctx.eval(size_expr)
    if isinstance(size_v, ListV):
        return _shape(ctx, size_v)
    size = size_v is not None and ctx.rep.run(as_int, size_v, "a population size", ctx.scope.names())
    is_int = isinstance(size, int) and not isinstance(size, bool)
    if is_int and size < 1:
        ctx.error("E403", f"population size must be positive, not {size}", size_expr.span)
    return size if is_int and size >= 1 else None


def _shape(ctx: Context, v: ListV) -> tuple[int, int, int] | None:
    """`[channels, height, width]`: three positive whole numbers."""
    if len(v.items) != 3:
        ctx.error("E403", f"a population's shape is [channels, height, width], not {len(v.items)} numbers", v.span,
                  "write e.g. `LIF([8, 8, 8])` (8 channels of 8 x 8), or one number for a flat population")
        return None
    dims = [ctx.rep.run(as_int, x, "a shape's size") for x in v.items]
    if any(n is None for n in dims):
        return None
    if any(n < 1 for n in dims):
        ctx.error("E403", f"a population's shape holds positive sizes, not {dims}", v.span)
        return None
    return tuple(dims)


def _sign(ctx: Context, it: ast.Setting, pop: ir.Population) -> None:
    v = ctx.eval(it.value)
    if v is not None:
        x = ctx.rep.run(as_number, v, "sign")
        if x is not None and x not in (1, -1):
            ctx.error("E401", f"sign must be +1 (excitatory) or -1 (inhibitory), not {x:g}", it.value.span)
        elif x is not None:
            pop.sign = int(x)


def _drawn_param(ctx: Context, v: CallV, it: ast.Setting, model: ir.NeuronModel, pop: ir.Population) -> None:
    """`tau_m = uniform(5 ms, 20 ms)` (or normal, or file): one value per neuron, drawn once per run.
    `pop.params` keeps the mean (what summaries and `gain = auto` see)."""
    prm = model.param(it.key.name)
    init = initialiser(ctx, v, it.value.span, prm.dims)
    if init is None:
        return
    tau = prm.name in ir.time_constant_params(model)
    if init.dist == "file":
        values = read_file_init(ctx, init, (pop.size,), f"population `{pop.name}` has {pop.size} neurons",
                                f"save one value of `{prm.name}` per neuron (a 1-d array of {pop.size})")
        if values is None:
            return
        mean, low = float(values.mean()), float(values.min())
    else:
        mean, low = (init.a + init.b) / 2 if init.dist == "uniform" else init.a, init.a
    unit = "" if tuple(prm.dims) == U.DIMENSIONLESS else " " + U.base_unit(prm.dims)
    if tau and (low <= 0 if init.dist != "normal" else mean <= 0):
        ctx.error("E402", f"time constant `{prm.name}` of population `{pop.name}` would be drawn as low as "
                          f"{low:g}{unit}; it must be positive", init.span,
                  "draw it from positive values" + (", e.g. uniform(5 ms, 20 ms)" if init.dist == "uniform" else ""))
        return
    if tau and init.dist == "normal" and mean - 3 * init.b < TAU_FLOOR * mean:
        ctx.warn("W404", f"normal({init.a:g}{unit}, {init.b:g}{unit}) for time constant `{prm.name}` reaches values "
                         f"below {TAU_FLOOR * mean:g}{unit}; they are clipped there", init.span,
                 f"a drawn time constant is clipped to at least {TAU_FLOOR:g} of its mean, so it stays positive; "
                 "use a smaller standard deviation, or uniform(low, high)")
    if tau and init.dist == "normal":
        init.low = TAU_FLOOR * mean
    pop.draws[prm.name] = init
    pop.params[prm.name] = mean


def _initial_state(ctx: Context, it: ast.Setting, st: ir.StateVar, names: Names, pop: ir.Population) -> None:
    init = ctx.rep.run(resolve, it.value, names, ctx.scope, funcs=("uniform", "normal"))
    if init is not None:
        dd = ctx.rep.run(init_dims, init, names)
        if dd is not None and tuple(dd) != tuple(st.dims) and not is_zero(init):
            ctx.error("E301", f"initial `{st.name}` has units of {U.describe(dd)}, the state has "
                              f"{U.describe(st.dims)}", it.value.span)
        else:
            pop.inits[st.name] = init


def elaborate_learnable(ctx: Context, it: ast.LearnDecl, model: ir.NeuronModel,
                        pop: ir.Population) -> ir.Learnable | None:
    name = it.target.name
    p = model.param(name)
    if p is None:
        hint = suggest(name, [q.name for q in model.params])
        if name in ("p", "w"):
            hint = f"`learn {name}` belongs in a `project` body"
        ctx.error("E204", f"`{model.name}` has no parameter `{name}` to learn", it.target.span, hint)
        return None
    sharing = "population"
    if it.per is not None:
        if it.per.name not in ("neuron", "channel", "population"):
            ctx.error("E203", f"`per {it.per.name}`: learn per `neuron`, per `channel` or per `population`",
                      it.per.span, suggest(it.per.name, ["neuron", "channel", "population"]))
            return None
        sharing = it.per.name
    if sharing == "channel" and pop.shape is None:
        ctx.error("E205", f"`per channel` needs a shaped population; `{pop.name}` has {pop.size} neurons in a row",
                  it.per.span, f"give it a shape (`[channels, height, width]`), or learn `{name}` per neuron")
        return None
    role = "other"
    if name == model.threshold:
        role = "threshold"
    elif name in ir.time_constant_params(model):
        role = "time_constant"
    ln = ir.Learnable(param=name, sharing=sharing, role=role, span=it.span)
    if name in pop.draws and sharing == "population":
        ctx.error("E608", f"`{name}` of population `{pop.name}` is drawn per neuron, but learned per population "
                          "(one shared value)", it.span,
                  f"write `learn {name} per neuron` to start each neuron from its drawn value, or set `{name}` "
                  "to one number")
        return None
    s = settings(ctx, it.body, ["bounds"], f"learn {name}")
    if "bounds" in s:
        ln.bounds = bounds(ctx, s["bounds"], p.dims)
    if role == "time_constant" and pop.params[name] <= 0:
        ctx.error("E402", "a learnable time constant must start positive", it.span)
    elif ln.bounds is not None:
        _warn_outside_bounds(ctx, pop, p, ln.bounds, s["bounds"][1].value.span)
    return ln


def _warn_outside_bounds(ctx: Context, pop: ir.Population, p: ir.Param, lohi: tuple[float, float], span) -> None:
    """W401: training clips a learned value into its bounds, so a start outside them is lost at once."""
    value, (lo, hi) = pop.params[p.name], lohi
    if lo <= value <= hi:
        return
    unit = "" if tuple(p.dims) == U.DIMENSIONLESS else " " + U.base_unit(p.dims)
    ctx.warn("W401", f"`{p.name}` of population `{pop.name}` starts at {value:g}{unit}, outside its bounds "
                     f"[{lo:g}, {hi:g}]{unit}", span,
             f"training clips it to {lo if value < lo else hi:g}{unit}; set `{p.name}` inside the bounds "
             "in the population's body, or widen them")
