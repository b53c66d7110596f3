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
from .scope import as_int, as_number, as_symbol


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
    conn, gain_v, gain_span, delay, pool, norm = body
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
    in_shape = source_shape = ctx.shape(sname)
    if pool is not None:  # the weights see the pooled source
        in_shape = _pooled_shape(ctx, pool, d, sname, in_shape)
        if in_shape is False:
            return None
    out_shape = _layer_shape(ctx, conn, d, sname, tname, in_shape, pool)
    if out_shape is False:
        return None
    proj = ir.Projection(name=name, source=sname, target=tname, target_var=target_var, connectivity=conn,
                         gain=1.0, n_in=n_in, n_out=n_out, delay=delay, in_shape=in_shape, out_shape=out_shape,
                         pool=pool, source_shape=source_shape if pool is not None else None, norm=norm,
                         span=d.span)
    init = getattr(conn, "init", None)
    if init is not None and init.dist == "file" and read_file_init(
            ctx, init, proj.weight_shape, f"this projection's weights are {' x '.join(map(str, proj.weight_shape))} "
            + ("(kernel height, width, input channels, output channels)" if conn.kind == "conv2d" else
               "(inputs x outputs)"),
            "save the kernel as (k, k, C_in, C_out)" if conn.kind == "conv2d" else
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
    conn, gain_v, gain_span, learn, delay, init_item, pool, norm = None, None, None, [], None, None, None, None
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
        elif it.key.name == "init":
            init_item = it
        elif it.key.name == "gain":
            gain_v, gain_span = ctx.eval(it.value), it.value.span
            if gain_v is None:
                return None
        elif it.key.name == "delay":
            delay = _delay(ctx, it)
            if delay is None:
                return None
        elif it.key.name == "pool":
            pool = _pool_setting(ctx, it)
            if pool is None:
                return None
        elif it.key.name == "norm":
            norm = _norm_setting(ctx, it)
            if norm is None:
                return None
        else:
            ctx.error("E203", f"unknown projection setting `{it.key.name}`", it.key.span,
                      suggest(it.key.name, ["weights", "init", "gain", "delay", "pool", "norm"]) or
                      "a projection sets `weights`, `init`, `gain`, `delay`, `pool`, `norm`, `learn`")
            return None
    if conn is None:
        ctx.error("E206", f"projection `{d.source.node.name} -> {d.target.node.name}` needs `weights = ...`",
                  d.span, "e.g. `weights = bernoulli(p = 0.5)` or `weights = dense(init = kaiming)`")
        return None
    if init_item is not None:
        if not hasattr(conn, "init"):
            ctx.error("E205", f"{conn.kind} connections have no weights to initialise", init_item.key.span,
                      "drop `init`" if conn.kind == "pool" else "`init` is for dense, sparse and conv2d weights")
            return None
        iv = ctx.eval(init_item.value)
        init = initialiser(ctx, iv, init_item.value.span) if iv is not None else None
        if init is None:
            return None
        conn.init = init
    if pool is not None and conn.kind not in ("dense", "conv2d"):
        what = f"a pooling ({conn.op})" if conn.kind == "pool" else f"{conn.kind} ones"
        ctx.error("E627", f"`pool` comes before dense or conv2d weights, not {what}", pool.span,
                  "write the pooling as the weights (`weights = avg_pool(2)`)" if conn.kind == "pool" else
                  "use `weights = dense(...)` or `weights = conv2d(...)`, or drop `pool`")
        return None
    for ln in learn:
        if conn.kind == "pool":
            ctx.error("E625", f"`{conn.op}` has no weights to learn", ln.target.span,
                      "pooling is fixed; drop `learn w`, or learn the convolution before or after it")
            return None
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
    return conn, gain_v, gain_span, delay, pool, norm


def _norm_setting(ctx: Context, it: ast.Setting) -> ir.Norm | None:
    """`norm = batch`: batch normalisation of the projection's output (the one normalisation there is)."""
    v = ctx.eval(it.value)
    if v is None:
        return None
    if not isinstance(v, Sym) or v.name != "batch":
        name = getattr(v, "name", getattr(v, "func", ""))
        ctx.error("E624", f"`norm` is `batch`{f', not `{name}`' if name else ''}", it.value.span,
                  "write `norm = batch` (per-channel batch normalisation of this projection's output), or drop it")
        return None
    return ir.Norm(span=it.value.span)


def _pool_setting(ctx: Context, it: ast.Setting) -> ir.Pool | None:
    """`pool = avg_pool(2)` | sum_pool(k) | max_pool(k) | global_avg_pool: the source's pooling."""
    v = ctx.eval(it.value)
    if v is None:
        return None
    if isinstance(v, Sym) and v.name == "global_avg_pool":
        return ir.Pool(op="global_avg_pool", size=0, span=it.value.span)
    if not isinstance(v, CallV) or v.func not in POOLS:
        name = getattr(v, "func", getattr(v, "name", ""))
        ctx.error("E627", "`pool` is a pooling: avg_pool(2), sum_pool(2), max_pool(2) or global_avg_pool",
                  it.value.span, suggest(name, POOLS) if name else None)
        return None
    return _layer(ctx, v, it)


def _pooled_shape(ctx: Context, pool: ir.Pool, d: ast.ProjectDecl, sname: str, in_shape):
    """The (C, H, W) a projection's `pool` makes of its source; False when reported."""
    if in_shape is None:
        ctx.error("E622", f"{pool.op}() needs a shaped source; `{sname}` is a flat row of {ctx.size(sname)} values",
                  d.source.node.span, f"give `{sname}` a shape (`population {sname} = Model([C, H, W])`), or drop "
                                      "`pool`")
        return False
    return _pool_out(ctx, pool, sname, in_shape)


def _pool_out(ctx: Context, pool: ir.Pool, sname: str, in_shape):
    """(C, H, W) of a pooling of a (C, H, W) source; False when its window does not fit (E621)."""
    c, h, w = in_shape
    if pool.op == "global_avg_pool":
        return (c, 1, 1)
    k = pool.size
    if k > h or k > w:
        ctx.error("E621", f"a {k} x {k} pooling window does not fit the {h} x {w} image of `{sname}`", pool.span,
                  "use a smaller window")
        return False
    return (c, h // k, w // k)


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


POOLS = ("avg_pool", "sum_pool", "max_pool", "global_avg_pool")


def _args(ctx: Context, v: CallV, allowed: list[str]) -> dict | None:
    """A call's arguments by name (positional ones in the order of `allowed`)."""
    args = dict(zip(allowed, v.args))
    if len(v.args) > len(allowed):
        ctx.error("E305", f"{v.func}() takes {', '.join(allowed) or 'no arguments'}", v.span)
        return None
    for k, val in v.kwargs.items():
        if k not in allowed:
            ctx.error("E203", f"{v.func}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                      suggest(k, allowed) or f"it takes: {', '.join(allowed)}")
            return None
        args[k] = val
    return args


def _positive(ctx: Context, v, what: str, default: int) -> int | None:
    if v is None:
        return default
    n = ctx.rep.run(as_int, v, what)
    if n is not None and n < 1:
        ctx.error("E403", f"{what} must be at least 1, not {n}", v.span)
        return None
    return n


def _layer(ctx: Context, v: CallV, it: ast.Setting):
    """conv2d(kernel, stride = 1, padding = valid | same | n, init = kaiming) or a pooling (size)."""
    if v.func in POOLS:
        args = _args(ctx, v, [] if v.func == "global_avg_pool" else ["size"])
        if args is None:
            return None
        if v.func != "global_avg_pool" and "size" not in args:
            ctx.error("E206", f"{v.func}() needs its window's size", v.span, f"e.g. `{v.func}(2)`")
            return None
        size = _positive(ctx, args.get("size"), "a pooling window's size", 0)
        return None if size is None else ir.Pool(op=v.func, size=size, span=it.value.span)
    args = _args(ctx, v, ["kernel", "stride", "padding", "init"])
    if args is None:
        return None
    if "kernel" not in args:
        ctx.error("E206", "conv2d() needs its kernel size", v.span, "e.g. `conv2d(kernel = 3, padding = same)`")
        return None
    kernel = _positive(ctx, args["kernel"], "a kernel size", 1)
    stride = _positive(ctx, args.get("stride"), "a stride", 1)
    if kernel is None or stride is None:
        return None
    pad = args.get("padding")
    padding: object = "valid"
    if pad is not None:
        if isinstance(pad, Sym):
            padding = ctx.rep.run(as_symbol, pad, "padding", ("same", "valid"))
        else:
            padding = ctx.rep.run(as_int, pad, "padding")
            if padding is not None and padding < 0:
                ctx.error("E403", f"padding is at least 0, not {padding}", pad.span)
                padding = None
        if padding is None:
            return None
    init = initialiser(ctx, args["init"], it.value.span) if "init" in args else ir.Init(dist="kaiming", span=it.value.span)
    if init is None:
        return None
    # the padding in pixels is set once the source's shape is known (_layer_shape)
    return ir.Conv2d(kernel=kernel, stride=stride, padding_rule=padding, init=init, span=it.value.span)


def _padding(request, size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) pixels of padding on one axis: `same` keeps ceil(size / stride) outputs."""
    if request == "valid":
        return (0, 0)
    if request == "same":
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        return (total // 2, total - total // 2)
    return (request, request)


def _layer_shape(ctx: Context, conn, d: ast.ProjectDecl, sname: str, tname: str, in_shape, pool=None):
    """The (C, H, W) a convolution or pooling makes of its source (pooled first by `pool`), checked
    against the target's shape (E621); None for dense, sparse and bernoulli projections; False when
    reported."""
    if conn.kind not in ("conv2d", "pool"):
        return None
    what = "conv2d()" if conn.kind == "conv2d" else f"{conn.op}()"
    if pool is not None:
        what = f"{pool.op}({pool.size or ''}) then {what}"
    if in_shape is None:
        ctx.error("E622", f"{what} needs a shaped source; `{sname}` is a flat row of {ctx.size(sname)} values",
                  d.source.node.span, f"give `{sname}` a shape (`population {sname} = Model([C, H, W])`), or an "
                                      "image task's input, or use `weights = dense(...)`")
        return False
    c, h, w = in_shape
    if conn.kind == "conv2d":
        k, st = conn.kernel, conn.stride
        pads = tuple(_padding(conn.padding_rule, n, k, st) for n in (h, w))
        oh, ow = ((n + p[0] + p[1] - k) // st + 1 for n, p in zip((h, w), pads))
        if oh < 1 or ow < 1:
            ctx.error("E621", f"a {k} x {k} kernel does not fit the {h} x {w} image of `{sname}`", conn.span,
                      "use a smaller kernel, or `padding = same`")
            return False
        conn.padding = pads
        target_shape = ctx.shape(tname)
        cout = target_shape[0] if target_shape is not None else None
        if cout is None:  # a flat target: its size decides the channels, if they divide it
            cout = ctx.size(tname) // (oh * ow) if ctx.size(tname) % (oh * ow) == 0 else 1
        out = (cout, oh, ow)
    else:
        out = _pool_out(ctx, conn, sname, in_shape)
        if out is False:
            return False
    return out if _fits_target(ctx, d, tname, out, what) else False


def _fits_target(ctx: Context, d: ast.ProjectDecl, tname: str, out, what: str) -> bool:
    target_shape = ctx.shape(tname)
    fits = list(target_shape) == list(out) if target_shape is not None else \
        ctx.size(tname) == out[0] * out[1] * out[2]
    if fits:
        return True
    shape = "[" + ", ".join(map(str, out)) + "]"
    have = f"shape [{', '.join(map(str, target_shape))}]" if target_shape is not None else f"{ctx.size(tname)} neurons"
    kind = "output" if tname in ctx.outputs else "population"
    hint = (f"{what} makes {shape} (channels, height, width) of `{d.source.node.name}`: "
            + (f"declare `population {tname} = Model({shape})`" if kind == "population" else
               f"an output of {out[0] * out[1] * out[2]} values fits it"))
    if what == "conv2d()" and target_shape is not None and tuple(target_shape[1:]) != tuple(out[1:]):
        hint += f", or a padding and stride that give {target_shape[1]} x {target_shape[2]} (`padding = same`, stride 1, keeps the size)"
    gives = f"{shape} = {out[0] * out[1] * out[2]} values"
    if what == "conv2d()" and target_shape is None:  # a flat target: its size picks the channels
        shape = f"[C, {out[1]}, {out[2]}]"
        gives = f"C x {out[1]} x {out[2]} values (a multiple of {out[1] * out[2]})"
        hint = (f"{what} makes {shape} (channels, height, width) of `{d.source.node.name}`: "
                + (f"declare `population {tname} = Model({shape})`" if kind == "population" else
                   "project into a shaped population first"))
    ctx.error("E621", f"{what} gives {gives}, but {kind} `{tname}` has {have}", d.target.node.span, hint)
    return False


def _connectivity(ctx: Context, it: ast.Setting):
    v = ctx.eval(it.value)
    if v is None:
        return None
    kinds = ("bernoulli", "dense", "sparse", "conv2d", *POOLS)
    if isinstance(v, Sym) and v.name == "dense":
        return ir.Dense(init=ir.Init(dist="kaiming", span=it.value.span), span=it.value.span)
    if isinstance(v, Sym) and v.name == "global_avg_pool":
        return ir.Pool(op="global_avg_pool", size=0, span=it.value.span)
    if not isinstance(v, CallV) or v.func not in kinds:
        name = getattr(v, "func", getattr(v, "name", ""))
        ctx.error("E404", "weights are bernoulli(p = ...), dense(init = ...), sparse(p = ..., init = ...), "
                          "conv2d(kernel = ...) or a pooling: avg_pool(2), sum_pool(2), max_pool(2), global_avg_pool",
                  it.value.span, suggest(name, kinds) if name else None)
        return None
    if v.func in POOLS or v.func == "conv2d":
        return _layer(ctx, v, it)
    allowed = {"bernoulli": ["p"], "dense": ["init"], "sparse": ["p", "init"]}[v.func]
    args = _args(ctx, v, allowed)
    if args is None:
        return None
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
