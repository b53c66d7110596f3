"""Elaborate neuron, encoder and readout models from their definitions.

Names in equations are resolved (param, state, port, builtin), module constants are folded in,
units are checked (E301/E302), and each ODE gets its integration method from its linear form.
"""

from __future__ import annotations

from .. import ir
from ..diagnostics import suggest
from ..ir import children, names_in
from ..syntax import ast
from . import units as U
from .expr import ExprError, Q, QuietError, err, infer_dims, is_zero, linear_form, scale_units
from .integration import choose
from .scope import ConstScope, Reporter, as_number

INIT_FUNCS = ("uniform", "normal")
BUILTINS = {"dt": U.TIME}


class Names:
    """The symbols of one model: name -> (ref kind, dims or None)."""

    def __init__(self) -> None:
        self.table: dict[str, tuple[str, tuple | None]] = {}

    def add(self, name: str, ref: str, dims) -> None:
        self.table[name] = (ref, tuple(dims) if dims is not None else None)

    def dims(self, n: ir.Name):
        return self.table.get(n.id, (None, None))[1]


def resolve(e: ir.Expr, names: Names, scope: ConstScope, *, funcs=(), unknown_ref: str | None = None,
            where: str = "") -> ir.Expr:
    """Resolve every name in a symbolic expression; fold constants; scale units."""
    e = scale_units(e)

    def go(x: ir.Expr) -> ir.Expr:
        if isinstance(x, ir.Name):
            if x.id in names.table:
                return x.model_copy(update={"ref": names.table[x.id][0]})
            v = scope.const(x.id, x.span)
            if isinstance(v, Q):
                return ir.Num(value=v.value, dims=v.dims, span=x.span)
            if unknown_ref is not None:
                return x.model_copy(update={"ref": unknown_ref})
            if x.id in scope.broken:
                raise QuietError(x.id)
            raise err("E201", f"undefined name `{x.id}`{where}", x.span,
                      suggest(x.id, [*names.table, *scope.names()]))
        if isinstance(x, ir.Dotted):
            v = scope.lookup(x)
            return ir.Num(value=v.value, dims=v.dims, span=x.span)
        if isinstance(x, ir.Call):
            from .expr import SYMBOLIC_FUNCS

            if x.func not in SYMBOLIC_FUNCS and x.func not in funcs:
                raise err("E305", f"unknown function `{x.func}`", x.span,
                          suggest(x.func, [*SYMBOLIC_FUNCS, *funcs]))
        if isinstance(x, (ir.Str, ir.ListExpr)):
            raise err("E404", "not allowed in an equation", x.span)
        return ir.map_children(x, go)

    return go(e)


def expect_dims(e: ir.Expr, want, names: Names, ports: set[str]) -> None:
    """Infer the units of ports from how they are used: push the expected units down the tree."""
    if want is None:
        return
    if isinstance(e, ir.Name):
        if e.id in ports and names.table[e.id][1] is None:
            names.add(e.id, "port", want)
        return
    if isinstance(e, ir.Neg):
        expect_dims(e.operand, want, names, ports)
    elif isinstance(e, ir.Bin):
        dl = _try_dims(e.left, names)
        dr = _try_dims(e.right, names)
        if e.op in "+-":
            expect_dims(e.left, want, names, ports)
            expect_dims(e.right, want, names, ports)
        elif e.op == "*":
            if dl is not None:
                expect_dims(e.right, U.div(want, dl), names, ports)
            if dr is not None:
                expect_dims(e.left, U.div(want, dr), names, ports)
        elif e.op == "/":
            if dr is not None:
                expect_dims(e.left, U.mul(want, dr), names, ports)


def _try_dims(e, names):
    try:
        return infer_dims(e, names.dims)
    except ExprError:
        return None


def init_dims(init: ir.Expr, names: Names):
    if isinstance(init, ir.Call) and init.func in INIT_FUNCS:
        if len(init.args) != 2 or init.kwargs:
            raise err("E305", f"`{init.func}` takes two arguments", init.span)
        a, b = (infer_dims(x, names.dims) for x in init.args)
        if a is not None and b is not None and a != b and not is_zero(init.args[0]) and not is_zero(init.args[1]):
            raise err("E301", f"the arguments of {init.func}() need the same units", init.span)
        return a if not is_zero(init.args[0]) else b
    return infer_dims(init, names.dims)


def _params(defn: ast.ModelDef, scope: ConstScope, rep: Reporter, names: Names) -> list[ir.Param]:
    out: list[ir.Param] = []
    values: dict[str, Q] = {}
    for item, n in _new_names(defn, ast.ParamDecl, names, rep):
        v = rep.run(lambda: scope.eval(item.value, values))
        if v is None:
            names.add(n, "param", None)
            continue
        num = rep.run(as_number, v, f"parameter `{n}`", v.dims if isinstance(v, Q) else (0, 0, 0), scope.names())
        if num is None:
            names.add(n, "param", None)
            continue
        values[n] = v
        names.add(n, "param", v.dims)
        out.append(ir.Param(name=n, value=num, dims=v.dims, span=item.span))
    return out


def _states(defn, scope, rep, names) -> list[ir.StateVar]:
    out = []
    for item, n in _new_names(defn, ast.StateDecl, names, rep):
        init = rep.run(resolve, item.init, _only_params(names), scope, funcs=INIT_FUNCS,
                       where=" (an initial value may use parameters)")
        if init is None:
            names.add(n, "state", None)
            continue
        dims = rep.run(init_dims, init, names)
        names.add(n, "state", dims)
        out.append(ir.StateVar(name=n, init=init, dims=dims or (0, 0, 0), span=item.span))
    return out


def _redefined(n: str, names: Names, defn, item, rep: Reporter) -> None:
    """E202 for a name declared twice in one model, or one that shadows a builtin (`dt`, `x`, `s`)."""
    if names.table[n][0] == "builtin":
        rep.error("E202", f"`{n}` is a builtin of every {defn.kind} ({'the time step' if n == 'dt' else 'its input'}); "
                          "choose another name", item.name.span)
    else:
        rep.error("E202", f"`{n}` is defined twice in {defn.kind} `{defn.name.name}`", item.name.span)


def _new_names(defn, decl_type, names: Names, rep: Reporter):
    """(item, name) of each declaration of this type whose name is not taken (a taken one is reported)."""
    for item in defn.items:
        if isinstance(item, decl_type):
            n = item.name.name
            if n in names.table:
                _redefined(n, names, defn, item, rep)
            else:
                yield item, n


def _only_params(names: Names) -> Names:
    sub = Names()
    sub.table = {k: v for k, v in names.table.items() if v[0] == "param"}
    return sub


def _odes(defn, scope, rep, names, ports: set[str]) -> list[ir.ODE]:
    out = []
    seen = set()
    for item in defn.items:
        if not isinstance(item, ast.OdeDecl):
            continue
        var = item.var.name
        kind, vdims = names.table.get(var, (None, None))
        if kind != "state":
            states = [k for k, v in names.table.items() if v[0] == "state"]
            rep.error("E201", f"`d{var}/dt`: `{var}` is not a state variable of `{defn.name.name}`", item.var.span,
                      suggest(var, states) or f"declare it: `state {var} = 0`")
            continue
        if var in seen:
            rep.error("E202", f"two equations for `{var}`", item.var.span)
            continue
        seen.add(var)
        rhs = rep.run(resolve, item.rhs, names, scope, unknown_ref="source" if defn.kind == "readout" else None)
        if rhs is None:
            continue
        want = U.div(vdims, U.TIME) if vdims is not None else None
        expect_dims(rhs, want, names, ports)
        got = rep.run(infer_dims, rhs, names.dims)
        if got is not None and want is not None and tuple(got) != tuple(want):
            hint = ("is a time constant missing its unit (`tau = 10 ms`)?" if tuple(got) == tuple(vdims)
                    else f"`{var}` has units of {U.describe(vdims)}, so the right side needs {U.describe(want)}")
            rep.error("E302", f"the right side of `d{var}/dt` has units of {U.describe(got)}, "
                              f"expected {U.describe(want)}", item.rhs.span, hint)
            continue
        # the method is the model's, chosen once all equations are known (integration.choose)
        out.append(ir.ODE(var=var, rhs=rhs, method="euler", linear=linear_form(rhs, var), span=item.span))
    return out


def _steps(defn, scope, rep, names) -> list[ir.StepUpdate]:
    """The `step { x <- value }` updates, in the written order; each value has its variable's units."""
    blocks = [i for i in defn.items if isinstance(i, ast.StepBlock)]
    for extra in blocks[1:]:
        rep.error("E202", "a model has one `step` block", extra.span, "put all updates in one block, in order")
    if blocks and any(isinstance(i, ast.OdeDecl) for i in defn.items):
        rep.error("E205", f"`{defn.name.name}` has both equations and a `step` block", blocks[0].span,
                  "write the model either in continuous time (`dv/dt = ...`, integrated together) or in "
                  "discrete time (`step { v <- ... }`, run in order), not both")
        return []
    out = []
    for a in blocks[0].assigns if blocks else []:
        kind, vdims = names.table.get(a.var.name, (None, None))
        if kind != "state":
            rep.error("E201", f"`{a.var.name} <- ...`: `{a.var.name}` is not a state variable of `{defn.name.name}`",
                      a.var.span, suggest(a.var.name, [k for k, v in names.table.items() if v[0] == "state"])
                      or f"declare it: `state {a.var.name} = 0`")
            continue
        val = rep.run(resolve, a.value, names, scope)
        if val is None:
            continue
        expect_dims(val, vdims, names, {k for k, v in names.table.items() if v[0] == "port"})
        got = rep.run(infer_dims, val, names.dims)
        if got is not None and vdims is not None and tuple(got) != tuple(vdims) and not is_zero(val):
            rep.error("E301", f"`{a.var.name} <- ...` assigns {U.describe(got)} to a variable of "
                              f"{U.describe(vdims)}", a.value.span)
            continue
        out.append(ir.StepUpdate(var=a.var.name, value=val, span=a.span))
    return out


def _integration(defn, odes, rep) -> tuple[ir.Integration, list[ir.ODE]] | None:
    """integration.choose with the model's `method = ...` setting."""
    given = [i for i in defn.items if isinstance(i, ast.Setting) and i.key.name == "method"]
    for extra in given[1:]:
        rep.error("E202", "`method` is given twice", extra.key.span)
    return rep.run(choose, odes, given[0].value if given else None, defn.name.name)


def _reject_learn(defn, rep):
    for item in defn.items:
        if isinstance(item, ast.LearnDecl):
            rep.error("E205", f"`learn` inside {defn.kind} `{defn.name.name}`", item.span,
                      "declare learnable quantities where they live: in a `population` body "
                      "(`learn v_th per neuron`) or a `project` body (`learn p`, `learn w`)")


def build_neuron(defn: ast.ModelDef, file: str, scope: ConstScope, rep: Reporter) -> ir.NeuronModel | None:
    names = Names()
    for b, d in BUILTINS.items():
        names.add(b, "builtin", d)
    n_before = len(rep.diags)
    params = _params(defn, scope, rep, names)
    states = _states(defn, scope, rep, names)
    ports: list[ir.Port] = []
    for item in defn.items:
        if isinstance(item, ast.PortDecl):
            if item.name.name in names.table:
                _redefined(item.name.name, names, defn, item, rep)
                continue
            names.add(item.name.name, "port", None)
    port_names = {k for k, v in names.table.items() if v[0] == "port"}
    odes = _odes(defn, scope, rep, names, port_names)
    steps = _steps(defn, scope, rep, names)
    integration = ir.Integration(method="none", reason="no equations")
    chosen = _integration(defn, odes, rep)
    if chosen is not None:
        integration, odes = chosen
        if steps:
            integration = ir.Integration(method="step", reason="a `step` block: its updates run in the written order")
    for item in defn.items:
        if isinstance(item, ast.PortDecl) and item.name.name in port_names:
            d = names.table[item.name.name][1]
            ports.append(ir.Port(name=item.name.name, dims=d or (0, 0, 0), span=item.span))
    spike = None
    reset: list[ir.ResetStmt] = []
    refractory = 0.0
    spikes = [i for i in defn.items if isinstance(i, ast.SpikeDecl)]
    for extra in spikes[1:]:
        rep.error("E202", "a neuron has one spike condition", extra.span)
    if spikes:
        cond = rep.run(resolve, spikes[0].cond, names, scope)
        if cond is not None:
            if not isinstance(cond, ir.Compare):
                rep.error("E404", "a spike condition must be a comparison such as `v > v_th`", spikes[0].cond.span)
            elif not any(n.ref == "state" for n in names_in(cond)):
                rep.error("E404", "a spike condition must test a state variable, such as `v > v_th`",
                          spikes[0].cond.span)
            elif rep.run(infer_dims, cond, names.dims) is not None:
                spike = ir.SpikeCondition(op=cond.op, left=cond.left, right=cond.right, span=cond.span)
    on_spike = [i for i in defn.items if isinstance(i, ast.OnSpike)]
    if on_spike and not spikes:
        rep.error("E206", "`on spike` without a spike condition", on_spike[0].span, "add `spike when v > v_th`")
    for block in on_spike:
        for a in block.assigns:
            kind, vdims = names.table.get(a.var.name, (None, None))
            if kind != "state":
                rep.error("E201", f"`{a.var.name}` is not a state variable", a.var.span,
                          suggest(a.var.name, [k for k, v in names.table.items() if v[0] == "state"]))
                continue
            val = rep.run(resolve, a.value, names, scope)
            if val is None:
                continue
            got = rep.run(infer_dims, val, names.dims)
            if got is not None and vdims is not None and tuple(got) != tuple(vdims) and not is_zero(val):
                rep.error("E301", f"`{a.var.name} {a.op} ...` assigns {U.describe(got)} to a variable of "
                                  f"{U.describe(vdims)}", a.value.span)
                continue
            reset.append(ir.ResetStmt(var=a.var.name, op=a.op, value=val, span=a.span))
    refractory_seen = False
    for item in defn.items:
        if isinstance(item, ast.Setting):
            if item.key.name == "refractory" and refractory_seen:
                rep.error("E202", "`refractory` is given twice", item.key.span)
            elif item.key.name == "refractory":
                refractory_seen = True
                v = rep.run(lambda: scope.eval(item.value))
                r = v is not None and rep.run(as_number, v, "refractory", U.TIME, scope.names())
                if r is not None and r is not False:
                    if r < 0:
                        rep.error("E402", "a refractory period cannot be negative", item.value.span)
                    refractory = r
            elif item.key.name != "method":
                rep.error("E203", f"unknown neuron setting `{item.key.name}`", item.key.span,
                          suggest(item.key.name, ["refractory", "method"]) or "a neuron body holds param, state, "
                          "input, equations `dx/dt = ...` or a `step { }` block, `spike when ...`, `on spike { }`, "
                          "`refractory = ...` and `method = ...`")
    _reject_learn(defn, rep)
    if not any(isinstance(i, ast.StateDecl) for i in defn.items):  # (a state whose init failed is reported)
        rep.error("E206", f"neuron `{defn.name.name}` has no state variable", defn.name.span, "add `state v = 0`")
    if len(rep.diags) > n_before and any(d.is_error for d in rep.diags[n_before:]):
        return None
    return ir.NeuronModel(name=defn.name.name, file=file, params=params, states=states, ports=ports, odes=odes,
                          steps=steps, integration=integration, spike=spike, reset=reset, refractory=refractory,
                          span=defn.span)


def _value_item(defn, rep) -> ast.Setting | None:
    vals = [i for i in defn.items if isinstance(i, ast.Setting) and i.key.name == "value"]
    for i in defn.items:
        if isinstance(i, ast.Setting) and i.key.name != "value":
            rep.error("E203", f"unknown {defn.kind} setting `{i.key.name}`", i.key.span,
                      suggest(i.key.name, ["value"]) or f"an {defn.kind} body holds `param`s and `value = ...`")
        elif isinstance(i, (ast.PortDecl, ast.SpikeDecl, ast.OnSpike, ast.StepBlock)):
            rep.error("E205", f"not allowed in {defn.kind} `{defn.name.name}`", i.span)
    if not vals:
        rep.error("E206", f"{defn.kind} `{defn.name.name}` has no `value = ...`", defn.name.span)
        return None
    for extra in vals[1:]:
        rep.error("E202", "`value` is given twice", extra.key.span)
    return vals[0]


def size_factor(e: ir.Expr) -> int:
    """How many times the input size an encoder's value has (concat adds; elementwise keeps)."""
    if isinstance(e, ir.Name):
        return 1 if e.id == "x" else 0
    if isinstance(e, ir.Call) and e.func == "concat":
        return sum(max(size_factor(a), 1) for a in e.args)

    sizes = {size_factor(c) for c in children(e)} - {0}
    if len(sizes) > 1:
        raise err("E501", "elementwise operation on signals of different sizes", e.span)
    return sizes.pop() if sizes else 0


def _builtins(signal: str) -> Names:
    """The names an encoder (`x`, its input) or a readout (`s`, the spikes) sees before its own."""
    names = Names()
    names.add(signal, "builtin", U.DIMENSIONLESS)
    names.add("dt", "builtin", U.TIME)
    return names


def build_encoder(defn, file, scope, rep) -> ir.EncoderModel | None:
    names = _builtins("x")
    n0 = len(rep.diags)
    params = _params(defn, scope, rep, names)
    for i in defn.items:
        if isinstance(i, (ast.StateDecl, ast.OdeDecl)):
            what = "state" if isinstance(i, ast.StateDecl) else f"d{i.var.name}/dt"
            rep.error("E205", f"an encoder has no state; `{what}` is not allowed here", i.span,
                      "encoders are stateless functions of `x`")
    _reject_learn(defn, rep)
    item = _value_item(defn, rep)
    value = item and rep.run(resolve, item.value, names, scope)
    if value is not None:
        d = rep.run(infer_dims, value, names.dims)
        sf = rep.run(size_factor, value)
        if d is not None and sf is not None and sf == 0:
            rep.error("E501", "an encoder's value must depend on the input `x`", item.value.span)
    if value is None or any(x.is_error for x in rep.diags[n0:]):
        return None
    return ir.EncoderModel(name=defn.name.name, file=file, params=params, value=value,
                           size_factor=size_factor(value), span=defn.span)


def build_readout(defn, file, scope, rep) -> ir.ReadoutModel | None:
    names = _builtins("s")
    n0 = len(rep.diags)
    params = _params(defn, scope, rep, names)
    states = _states(defn, scope, rep, names)
    odes = _odes(defn, scope, rep, names, set())
    chosen = rep.run(choose, odes, None, defn.name.name)
    _reject_learn(defn, rep)
    item = _value_item(defn, rep)
    value = item and rep.run(resolve, item.value, names, scope, unknown_ref="source")
    if value is not None:
        rep.run(infer_dims, value, names.dims)
    if value is None or chosen is None or any(x.is_error for x in rep.diags[n0:]):
        return None
    integration, odes = chosen
    return ir.ReadoutModel(name=defn.name.name, file=file, params=params, states=states, odes=odes,
                           integration=integration, value=value, span=defn.span)


BUILDERS = {"neuron": build_neuron, "encoder": build_encoder, "readout": build_readout}
