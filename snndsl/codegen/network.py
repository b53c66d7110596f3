"""The shared network code: neuron steps, block parameters, one network step, readouts.

This module turns a lower.Plan into lines of Python that templates/network.py.jinja places.
The generated network works on ONE sample (or one population member); rules vmap it.

Order of a neuron step (the language's semantics, docs/language.md):
1. the ODEs advance together from the state at the start of the step (the model's method), or the
   `step { }` updates run in the written order;
2. a projection into a state then adds to it (in a `step` block: right after the state's last
   update); a projection into an `input` is that input's value for the step;
3. the spike condition is tested, then `on spike` assignments run (gated by the spike).
"""

from __future__ import annotations

import keyword
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import ir
from ..lower import Plan, Projection
from .printer import Printer, num, py_literal


def ident(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) or name in ("jnp", "jax", "np", "p", "c", "x", "z") else name


def _is_num(e: ir.Expr, v: float | None = None) -> bool:
    return isinstance(e, ir.Num) and e.unit is None and (v is None or e.value == v)


@dataclass
class ModelCode:
    name: str
    doc: str
    coefficients: list[tuple[str, str]]  # key -> code over p
    lines: list[str]  # integrate(x, drive, p, c) -> x    (readouts: step(x, s, src, p, c))
    fire_lines: list[str] = field(default_factory=list)  # fire(x, p[, active]) -> (x, z)
    step_lines: list[str] = field(default_factory=list)  # step(x, drive, p, c): refractory models only
    states: list[str] = field(default_factory=list)
    spiking: bool = False
    refractory: bool = False
    rhs_lines: list[str] = field(default_factory=list)  # rhs(x, drive, p) -> dx/dt: rk2 and rk4 only


def _names(param="p", state=None, port="drive", extra=None):
    """Code for a resolved name: params from dict `param`, states as locals (or from dict `state`)."""

    def name(n: ir.Name) -> str:
        if n.ref == "param":
            return f'{param}["{n.id}"]'
        if n.ref == "state":
            return f'{state}["{n.id}"]' if state else ident(n.id)
        if n.ref == "port":
            return f'{port}["{n.id}"]'
        if n.ref == "builtin":
            return {"dt": "DT"}.get(n.id, n.id)
        if n.ref == "source":
            return f'src["{n.id}"]'
        if extra and n.id in extra:
            return extra[n.id]
        raise KeyError(n.id)

    return name


def _unpack(states: list[str]) -> str:
    """`a, b = x["a"], x["b"]` (or `a = x["a"]`)."""
    return ", ".join(ident(s) for s in states) + " = " + ", ".join(f'x["{s}"]' for s in states)


def _exact_line(ode: ir.ODE, pr: Printer, coeff_key: str) -> str:
    """x <- lambda*x + (1 - lambda)*x_inf for an equation with constant coefficients and no other ODE state."""
    x = ident(ode.var)
    lf = ode.linear
    if lf is None:  # free of x: a plain accumulation, for which Euler is exact
        return f"{x} = {x} + DT * ({pr(ode.rhs)})"
    if _is_num(lf.a, -1):
        x_inf = None if _is_num(lf.b, 0) else pr(lf.b)
    else:
        x_inf = None if _is_num(lf.b, 0) else f"-({pr(lf.b)}) / ({pr(lf.a)})"
    decay = f'c["{coeff_key}"]'
    return f"{x} = {decay} * {x}" if x_inf is None else f"{x} = {decay} * {x} + (1.0 - {decay}) * ({x_inf})"


def _decay_code(ode: ir.ODE, pr: Printer) -> str:
    lf = ode.linear
    if _is_num(lf.a, -1):
        return f"jnp.exp(-DT / ({pr(lf.d)}))" if not _is_num(lf.d, 1) else "jnp.exp(-DT)"
    return f"jnp.exp(({pr(lf.a)}) * DT / ({pr(lf.d)}))"


def _src(e: ir.Expr) -> str:
    """The expression as the user wrote it (names, units folded to base numbers)."""
    def name(n: ir.Name) -> str:
        return n.id
    return Printer(name)(e).replace("jnp.", "").replace("jax.nn.", "")


def _tuple_assign(names: list[str], values: list[str]) -> str:
    """`a, b = ea, eb`: every value is computed from the old state before any is assigned."""
    return ", ".join(ident(n) for n in names) + " = " + ", ".join(values)


def _integrate(model, targets: set[str], pr: Printer) -> tuple[list, list[str], list[str]]:
    """Step factors, the lines advancing the state by one step (the model's method, then the
    projections' jumps), and for rk2/rk4 the lines of the right-hand-side function."""
    states = [s.name for s in model.states]
    integ = model.integration
    coeffs, rhs_lines = [], []
    lines = [_unpack(states)] if states else []
    odes = model.odes
    if integ.method != "none":
        lines.append(f"# {integ.method.replace('_', ' ')}: {integ.reason}")
    jumped = set()
    if integ.method == "step":
        last = {u.var: i for i, u in enumerate(model.steps)}
        for i, u in enumerate(model.steps):
            lines.append(f"{ident(u.var)} = {pr(u.value)}  # {u.var} <- {_src(u.value)}")
            if last[u.var] == i and u.var in targets:
                lines.append(f'{ident(u.var)} = {ident(u.var)} + drive["{u.var}"]')
                jumped.add(u.var)
    elif integ.method == "exact" and integ.system is not None and integ.system.coupled:
        sysm = integ.system
        rows = "[" + ", ".join("[" + ", ".join(pr(a) for a in row) + "]" for row in sysm.a) + "]"
        coeffs.append(("**", f"linear_propagator({rows}, DT)"))
        lines += [f"# d{o.var}/dt = {_src(o.rhs)}" for o in odes]
        xs = ", ".join(ident(v) for v in sysm.states)
        bs = ", ".join(pr(b) for b in sysm.b)
        lines.append(_tuple_assign(sysm.states, [f'linear_step(c["P"], c["Q"], [{xs}], [{bs}])']) +
                     "  # x <- P x + Q b, b: the drive")
    elif integ.method == "exact":
        for o in odes:
            key = f"decay_{o.var}"
            if o.linear is not None:
                coeffs.append((key, _decay_code(o, pr)))
            lines += [f"# d{o.var}/dt = {_src(o.rhs)}", _exact_line(o, pr, key)]
    elif integ.method == "euler":
        lines += [f"# d{o.var}/dt = {_src(o.rhs)}" for o in odes]
        lines.append(_tuple_assign([o.var for o in odes], [f"{ident(o.var)} + DT * ({pr(o.rhs)})" for o in odes]))
    elif integ.method == "exponential_euler":
        new = []
        for o in odes:
            x, lf = ident(o.var), o.linear
            lines += [f"# d{o.var}/dt = {_src(o.rhs)}", f"k_{x} = ({pr(lf.a)}) / ({pr(lf.d)})",
                      f"f_{x} = ({pr(lf.b)}) / ({pr(lf.d)})"]
            new.append(f"exponential_euler(k_{x}, f_{x}, {x}, DT)")
        lines.append(_tuple_assign([o.var for o in odes], new))
    elif integ.method in ("rk2", "rk4"):
        rhs_lines = [_unpack(states)] + [f"# d{o.var}/dt = {_src(o.rhs)}" for o in odes]
        rhs_lines.append("return {" + ", ".join(f'"{o.var}": {pr(o.rhs)}' for o in odes) + "}")
        lines.append(f"x = {{**x, **{integ.method}({model.name}_rhs, x, drive, p, DT)}}")
        lines.append(_unpack(states))
    for s in states:
        if s in targets and s not in jumped:
            lines.append(f'{ident(s)} = {ident(s)} + drive["{s}"]  # projections into {s}')
    lines.append("return {" + ", ".join(f'"{s}": {ident(s)}' for s in states) + "}")
    return coeffs, lines, rhs_lines


def neuron_code(m: ir.NeuronModel, targets: set[str], spec_file: str) -> ModelCode:
    """integrate(x, drive, p, c): equations in order, jumps; fire(x, p): spike test and reset."""
    pr = Printer(_names())
    states = [s.name for s in m.states]
    coeffs, lines, rhs_lines = _integrate(m, targets, pr)

    fire = []
    if m.spike is not None:
        used = sorted({n.id for e in [m.spike.left, m.spike.right, *(r.value for r in m.reset)]
                       for n in _names_in(e) if n.ref == "state"} | {r.var for r in m.reset})
        fire.append(_unpack([u for u in states if u in used]))
        sp = m.spike
        arg = f"{pr.p(sp.left, 1)} - {pr.p(sp.right, 2)}" if sp.op in (">", ">=") else \
            f"{pr.p(sp.right, 1)} - {pr.p(sp.left, 2)}"
        inclusive = ", inclusive=True" if sp.op in (">=", "<=") else ""
        fire.append(f"z = spike({arg}{inclusive})  # spike when {_src(ir.Compare(op=sp.op, left=sp.left, right=sp.right))}")
        if m.refractory > 0:
            fire.append("z = z * active  # no spikes while refractory")
        fire.append("zr = reset_gate(z)")
        for r in m.reset:
            v = ident(r.var)
            val = pr.p(r.value, 2)
            if r.op == "=":
                fire.append(f"{v} = hard_reset({v}, {val}, z, zr)")
            else:
                fire.append(f"{v} = {v} {'-' if r.op == '-=' else '+'} zr * {val}")
        changed = list(dict.fromkeys(r.var for r in m.reset))
        fire.append("return {**x, " + ", ".join(f'"{v}": {ident(v)}' for v in changed) + "}, z")

    step = []
    if m.refractory > 0:
        # a spike in step k sets the count to n = round(refractory / dt); steps k+1 .. k+n-1 hold the
        # reset variables, and step k+n integrates again: refractory ms after the spike step's start
        held = list(dict.fromkeys(r.var for r in m.reset))
        step += [
            'count = jnp.maximum(x["refractory"] - 1.0, 0.0)',
            "active = count <= 0  # not refractory",
            f"state = {m.name}_integrate(x, drive, p, c)",
            "state = {**state, " + ", ".join(f'"{v}": jnp.where(active, state["{v}"], x["{v}"])' for v in held) + "}",
            f"state, z = {m.name}_fire(state, p, active)",
            f'state["refractory"] = jnp.where(z > 0, N_REFRACTORY_{m.name}, count)',
            "return state, z",
        ]
    doc = f"{m.name} from {source_label(m.file, spec_file)}"
    code = ModelCode(m.name, doc, coeffs, lines, fire, step, states, m.spiking, m.refractory > 0)
    code.rhs_lines = rhs_lines
    return code


def _names_in(e):
    from ..ir import names_in

    return names_in(e)


def readout_code(r: ir.ReadoutModel, spec_file: str) -> ModelCode:
    coeffs, lines, rhs_lines = _integrate(r, set(), Printer(_names()))
    code = ModelCode(r.name, f"readout {r.name} from {source_label(r.file, spec_file)}", coeffs, lines, states=[s.name for s in r.states])
    code.rhs_lines = rhs_lines
    return code


@dataclass
class NetworkCode:
    plan: Plan
    models: list[ModelCode] = field(default_factory=list)
    readouts: list[dict] = field(default_factory=list)
    encoders: list[dict] = field(default_factory=list)
    blocks: list[dict] = field(default_factory=list)
    projections: list[dict] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)
    encode_lines: list[str] = field(default_factory=list)  # per outer step
    held_lines: list[str] = field(default_factory=list)  # per outer step
    readout_lines: list[str] = field(default_factory=list)
    signal_lines: list[str] = field(default_factory=list)
    drive_keys: dict[str, list] = field(default_factory=dict)
    substep_lines: list[str] = field(default_factory=list)  # per network step
    output_lines: list[str] = field(default_factory=list)
    init_lines: list[str] = field(default_factory=list)
    param_lines: list[str] = field(default_factory=list)
    learnables: list[dict] = field(default_factory=list)
    drawn: list[dict] = field(default_factory=list)  # fixed parameters drawn per neuron (not learned)
    readout_params: list[dict] = field(default_factory=list)
    jump_targets: dict[str, set] = field(default_factory=dict)  # model -> states some projection adds to
    n_init_keys: int = 1
    init_uses_keys: bool = False  # some initial state is random
    uses_key: bool = False


def _val(v) -> str:
    """A block parameter: scalar, or runs of (value, count) as a per-neuron vector."""
    if isinstance(v, (int, float)):
        return num(v)
    parts = [f"jnp.full({n}, {num(x)})" for x, n in v]
    return f"jnp.concatenate([{', '.join(parts)}])"


def init_literal(init: ir.Init) -> str:
    """The tuple `sample_init` takes: (dist, a, b[, low]) or ("file", path, key, sha256)."""
    if init.dist == "file":
        return f'("file", {py_literal(init.path)}, {py_literal(init.key)}, {py_literal(init.sha256)})'
    low = "" if init.low is None else f", {num(init.low)}"
    return f'("{init.dist}", {num(init.a)}, {num(init.b)}{low})'


def _init_code(e: ir.Expr, size: int, key: str, param: str = "p") -> str:
    """An initial state: drawn by the runtime's one sampler (`sample_init`, as weights and per-neuron
    parameters are), over parameters, or a constant."""
    pr = Printer(_names(param=param))
    if isinstance(e, ir.Call) and e.func in ("uniform", "normal"):
        a, b = (pr(x) for x in e.args)
        return f'sample_init({key}, ("{e.func}", {a}, {b}), ({size},))'
    return f"jnp.full(({size},), {pr(e)}, dtype=jnp.result_type(float))"


def _neuron_param_raw_to_value(role: str, raw: str) -> str:
    if role == "time_constant":
        return f"tau_from_raw({raw}, DT)"
    return raw


def source_label(file: str, spec_file: str) -> str:
    """Where a model was defined, the same from every working folder (the network's hash covers
    it): `stdlib/...` for the standard library, else the path from the spec's folder."""
    from ..syntax.loader import STDLIB

    path = Path(file).resolve()
    if path.is_relative_to(STDLIB.resolve()):
        return "stdlib/" + path.relative_to(STDLIB.resolve()).as_posix()
    return Path(os.path.relpath(path, Path(spec_file).resolve().parent)).as_posix()


def build_network(plan: Plan) -> NetworkCode:
    spec = plan.spec
    code = NetworkCode(plan)
    code.constants.append(f"DT = {num(spec.time.dt)}  # ms")
    code.constants.append(f"SUBSTEPS = {spec.time.substeps}  # network steps per {'environment' if isinstance(spec.task, ir.BraxTask) else 'time'} step")
    code.constants.append(f"STEPS = {spec.time.steps}  # time steps per sample")
    code.constants.append(f"PRECISION = {spec.time.precision!r}  # snndsl_runtime runs the model with JAX's x64 "
                          "on for float64")

    # ---- neuron models used, with the state variables some projection jumps into
    for model in {b.model.name: b.model for b in plan.blocks}.values():
        targets = {p.var for p in plan.projections if p.target.kind == "block" and
                   plan.block(p.target.name).model.name == model.name and model.state(p.var) is not None}
        code.jump_targets[model.name] = targets
        code.models.append(neuron_code(model, targets, spec.file))
        if model.refractory > 0:
            code.constants.append(f"N_REFRACTORY_{model.name} = {num(round(model.refractory / spec.time.dt))}  "
                                  f"# steps ({model.refractory:g} ms)")

    # ---- encoders
    for enc in {i.encoder: spec.encoder(i.encoder) for i in plan.inputs}.values():
        pr = Printer(_names(extra={"x": "x"}), key="key")
        value = pr(enc.value)
        code.encoders.append({"name": enc.name, "file": source_label(enc.file, spec.file), "value": value,
                              "random": "jax.random" in value, "src": _src(enc.value)})
        code.uses_key |= "jax.random" in value

    # ---- readouts
    for r in {o.readout.name: o.readout for o in plan.outputs}.values():
        rc = readout_code(r, spec.file)
        value = Printer(_names(state="x"))(r.value)
        code.readouts.append({"code": rc, "value": value, "params": r.params})

    # ---- outputs: readout parameters and state
    for o in plan.outputs:
        var = ident(o.ir.name)
        size = o.stop - o.start
        states = [(s.name, _init_code(s.init, size, "key", param=f"RP_{var}")) for s in o.readout.states]
        code.readout_params.append({
            "var": var, "name": o.ir.name, "readout": o.readout.name, "states": states,
            "params": "{" + ", ".join(f'"{k}": {num(v)}' for k, v in o.ir.params.items()) + "}",
        })

    # ---- blocks: parameters, signs, initial state
    key_offset = 0
    for b in plan.blocks:
        members = ", ".join(f"{m.pop.name} [{m.start}:{m.stop}]" for m in b.members)
        learn = []
        for m in b.members:
            n = m.stop - m.start
            for ln in m.pop.learn:
                learn.append((m, ln))
                draw = m.pop.draws.get(ln.param)
                code.learnables.append({
                    "key": f"{m.pop.name}.{ln.param}", "pop": m.pop.name, "param": ln.param, "role": ln.role,
                    "shape": f"({n},)" if ln.sharing == "neuron" else
                    f"({m.pop.shape[0]},)" if ln.sharing == "channel" else "()",
                    "size": n, "start": m.start, "stop": m.stop, "sharing": ln.sharing,
                    "init": init_literal(draw) if draw is not None else m.pop.params[ln.param],
                    "bounds": ln.bounds, "block": b.name,
                })
            learned_here = {ln.param for ln in m.pop.learn}
            for name, draw in m.pop.draws.items():
                if name not in learned_here:
                    code.drawn.append({"key": f"{m.pop.name}.{name}", "block": b.name, "start": m.start,
                                       "stop": m.stop, "shape": f"({n},)", "init": init_literal(draw)})
        entries = []
        for prm in b.model.params:
            learned = {id(m): ln for m, ln in learn if ln.param == prm.name}
            if not learned and prm.name not in b.drawn:
                entries.append(f'"{prm.name}": {_val(b.params[prm.name])}')
                continue

            def member_value(m) -> str | None:
                """Code for one member's value of prm: learned (from theta), drawn (from fixed), or None."""
                key = f'"{m.pop.name}.{prm.name}"'
                if id(m) in learned:
                    value = _neuron_param_raw_to_value(learned[id(m)].role, f"theta[{key}]")
                    if learned[id(m)].sharing == "channel":  # one value per channel, over every pixel
                        value = f"per_channel({value}, {m.pop.shape[1] * m.pop.shape[2]})"
                    return value
                return f"fixed[{key}]" if prm.name in m.pop.draws else None

            if len(b.members) == 1:
                entries.append(f'"{prm.name}": {member_value(b.members[0])}')
                continue
            parts = []
            for m in b.members:
                v, n = member_value(m), m.stop - m.start
                parts.append(f"jnp.full({n}, {num(m.pop.params[prm.name])})" if v is None else
                             f"jnp.broadcast_to({v}, ({n},))")
            entries.append(f'"{prm.name}": jnp.concatenate([{", ".join(parts)}])')
        sign = None if b.sign == 1 else (num(b.sign) if isinstance(b.sign, int) else _val(b.sign))
        init = {}
        for si, s in enumerate(b.model.states):
            inits = [m.pop.inits[s.name] for m in b.members]
            same = all(_same(i, inits[0]) for i in inits)
            if same:
                init[s.name] = _init_code(inits[0], b.size, f"keys[{key_offset + si}]")
            else:
                parts = [_init_code(m.pop.inits[s.name], m.stop - m.start,
                                    f"jax.random.fold_in(keys[{key_offset + si}], {k})")
                         for k, m in enumerate(b.members)]
                init[s.name] = f"jnp.concatenate([{', '.join(parts)}])"
        if b.model.refractory > 0:
            init["refractory"] = f"jnp.zeros(({b.size},))"
        if b.history:
            init[PAST] = f"jnp.zeros(({b.history}, {b.size}))"
        code.blocks.append({
            "name": b.name, "var": ident(b.name), "model": b.model.name, "size": b.size, "members": members,
            "params": entries, "sign": sign, "init": init, "n_keys": len(b.model.states),
            "spiking": b.model.spiking, "states": [st.name for st in b.model.states],
            "init_uses_params": any('p["' in v for v in init.values()),
        })
        key_offset += len(b.model.states)
    code.n_init_keys = max(key_offset, 1)
    code.init_uses_keys = any("keys[" in v for blk in code.blocks for v in blk["init"].values())

    # ---- projections
    for pp in plan.projections:
        pr_ = pp.ir
        c = pr_.connectivity
        op = layer_op(pr_)
        code.projections.append({
            "key": pp.key, "name": pr_.name, "kind": c.kind, "learn": c.learn, "gain": num(pr_.gain),
            "shape": pr_.weight_shape, "p": getattr(c, "p", None), "op": op, "sizes": _sizes_comment(pr_),
            "init": getattr(c, "init", None), "bounds": getattr(c, "bounds", None),
            "init_code": init_literal(c.init) if getattr(c, "init", None) is not None else
            '("constant", 0.0, 0.0)' if c.kind == "pool" else None,
            "delayed": pp.delayed, "steps": pp.steps, "source": pp.source, "target": pp.target, "var": pp.var,
            "gain_rule": pr_.gain_rule, "norm": norm_info(pr_),
        })

    _step_code(code, plan)
    return code


def _same(a, b) -> bool:
    from ..ir import strip_spans

    return strip_spans(a) == strip_spans(b)


def _signal(pp: Projection, plan: Plan, current: set[str], now: str = "new", before: str = "x") -> str:
    """Code for the presynaptic signal of a projection within a network step."""
    s = pp.source
    if s.kind == "input":
        return f'enc["{s.name}"]'
    if pp.steps >= 2:  # row 0 of the buffer holds the spikes of two steps back
        sig = f'{before}["{s.name}"]["{PAST}"][{pp.steps - 2}]'
    else:
        sig = f'{now}["{s.name}"]["s"]' if s.name in current and not pp.delayed else f'{before}["{s.name}"]["s"]'
    if not s.whole:
        sig += f"[{s.start}:{s.stop}]"
    return sig


PAST = "s_past"  # a block's buffer of past spikes, (history, size): what delays of 2 steps or more read


def layer_op(pr: ir.Projection) -> dict | None:
    """A convolution's or pooling's op for snndsl_runtime.layers.apply_projection; None: dense."""
    if pr.pool is not None:  # the source pooled first: the pooling's op inside the layer's
        pool = {"type": pr.pool.op, "in": pr.source_shape, "out": pr.in_shape, "size": pr.pool.size}
        return {**(_layer_op(pr) or {"type": "dense"}), "pool": pool}
    return _layer_op(pr)


def _layer_op(pr: ir.Projection) -> dict | None:
    c = pr.connectivity
    if c.kind == "conv2d":
        return {"type": "conv2d", "in": pr.in_shape, "out": pr.out_shape, "kernel": c.kernel, "stride": c.stride,
                "padding": c.padding}
    if c.kind == "pool":
        return {"type": c.op, "in": pr.in_shape, "out": pr.out_shape, "size": c.size}
    return None


def norm_info(pr: ir.Projection) -> dict | None:
    """PROJECTIONS[key]["norm"] for snndsl_runtime.layers.batch_norm; None: no normalisation."""
    if pr.norm is None:
        return None
    channels, positions = pr.norm_channels
    return {"channels": channels, "positions": positions, "momentum": pr.norm.momentum, "eps": pr.norm.eps}


def _sizes_comment(pr: ir.Projection) -> str:
    if pr.pool is not None:
        pooled = f"{list(pr.source_shape)} {pr.pool.op}({pr.pool.size or ''}) {list(pr.in_shape)}"
        kernel = " x ".join(map(str, pr.weight_shape))
        return f"{pooled} -> {list(pr.out_shape) if pr.out_shape else pr.n_out}, {kernel} weights"
    if pr.out_shape is None:
        return f"{pr.n_in} x {pr.n_out}"
    kernel = " x ".join(map(str, pr.weight_shape)) + " kernel" if pr.connectivity.kind == "conv2d" else "no weights"
    return f"{list(pr.in_shape)} -> {list(pr.out_shape)} (C, H, W), {kernel}"


def _contribution(pp: Projection, signal: str) -> str:
    k = pp.key.upper()
    if layer_op(pp.ir) is not None:
        value = f'apply_projection({signal}, w["{pp.key}"], {k}_OP)'
    else:
        value = f'project({signal}, w["{pp.key}"])'
    if pp.ir.norm is not None:  # normalised before the gain
        value = f'batch_norm({value}, w["{pp.key}.norm"], {k}_NORM, stats, "{pp.key}")'
    return f"{k}_GAIN * {value}"


def _place(pp: Projection, expr: str, size: int) -> str:
    t = pp.target
    if t.whole or (t.start == 0 and t.stop == size):
        return expr
    return f"jnp.pad({expr}, ({t.start}, {size - t.stop}))"


def _step_code(code: NetworkCode, plan: Plan) -> None:
    spec = plan.spec
    stop = spec.train is not None and spec.train.rule == "stop"  # only STOP records drives and takes probes
    # inputs: encoded once per outer step; input projections are held over the substeps
    for n, inp in enumerate(plan.inputs):
        enc = spec.encoder(inp.encoder)
        p = "{" + ", ".join(f'"{k}": {num(v)}' for k, v in inp.params.items()) + "}"
        code.encode_lines.append(
            f'"{inp.name}": encode_{enc.name}(inputs["{inp.name}"], {p}, jax.random.fold_in(key, {n})),')
    for pp in plan.projections:
        if pp.source.kind == "input":
            code.held_lines.append(f'held["{pp.key}"] = {_contribution(pp, _signal(pp, plan, set()))}')

    done: set[str] = set()
    lines = code.substep_lines
    for b in plan.blocks:
        members = f" ({', '.join(m.pop.name for m in b.members)})" if len(b.members) > 1 else ""
        lines.append(f"# {b.name}: {b.model.name}, {b.size} neurons{members}")
        drive = []
        targets = sorted({pp.var for pp in plan.projections if pp.target.kind == "block" and pp.target.name == b.name})
        for var in targets:
            terms = []
            for pp in plan.into(b.name, var):
                if pp.source.kind == "input":
                    terms.append(_place(pp, f'held["{pp.key}"]', b.size))
                else:
                    terms.append(_place(pp, _contribution(pp, _signal(pp, plan, done)), b.size))
            drive.append(f'"{var}": ' + " + ".join(terms))
        idle = sorted(code.jump_targets[b.model.name] - set(targets)) + [p.name for p in b.model.ports
                                                                         if p.name not in targets]
        drive += [f'"{var}": 0.0' for var in idle]
        code.drive_keys[b.name] = sorted(code.jump_targets[b.model.name]) + [p.name for p in b.model.ports]
        lines.append(f"drive = {{{', '.join(drive)}}}")
        if b.model.ports:  # currents the simulator injects into input ports (`snndsl sim`)
            lines.append(f'if external is not None and "{b.name}" in external:')
            lines.append(f'    drive = {{**drive, **{{k: drive[k] + v for k, v in external["{b.name}"].items()}}}}')
        if stop:
            lines.append('if drives is not None:  # recorded for STOP\'s traces')
            lines.append(f'    drives["{b.name}"] = drive')
        args = f'x["{b.name}"], drive, bp["{b.name}"], bc["{b.name}"]'
        if b.model.refractory > 0:
            lines.append(f"state, z = {b.model.name}_step({args})")
        else:
            integrated = f"{b.model.name}_integrate({args})"
            lines.append(f'state = probe({integrated}, probes, "{b.name}")' if stop else f"state = {integrated}")
            if b.model.spiking:
                lines.append(f'state, z = {b.model.name}_fire(state, bp["{b.name}"])')
        if b.model.spiking:
            blk = code.blocks[[bb["name"] for bb in code.blocks].index(b.name)]
            sign = f" * SIGN_{ident(b.name)}" if blk["sign"] is not None else ""
            lines.append(f'new["{b.name}"] = {{**state, "s": z{sign}}}' + ("  # spikes signed by population" if sign else ""))
            if b.history:
                old = f'x["{b.name}"]'
                lines.append(f'new["{b.name}"]["{PAST}"] = jnp.concatenate([{old}["s"][None], {old}["{PAST}"][:-1]])'
                             "  # earlier steps' spikes, newest first")
        else:
            lines.append(f'new["{b.name}"] = state')
        done.add(b.name)

    for o in plan.outputs:
        blk = plan.block(o.block)
        part = "" if (o.start, o.stop) == (0, blk.size) else f"[{o.start}:{o.stop}]"

        def source(state: str) -> tuple[str, str]:
            s_sig = f'{state}["{o.block}"]["s"]{part}' if blk.model.spiking else "None"
            src = f'{state}["{o.block}"]' if not part else f'{{k: v{part} for k, v in {state}["{o.block}"].items()}}'
            return s_sig, src

        if o.readout.states:
            s_sig, src = source("new")
            lines.append(f"# readout {o.readout.name} of {o.ir.source} for output {o.ir.name}")
            lines.append(f'new["{o.ir.name}"] = readout_{o.readout.name}_step(x["{o.ir.name}"], {s_sig}, {src}, '
                         f'RP_{ident(o.ir.name)}, RC_{ident(o.ir.name)})')
        s_sig, src = source("x")
        code.readout_lines.append(
            f'"{o.ir.name}": readout_{o.readout.name}_value(x.get("{o.ir.name}", {{}}), {s_sig}, {src}, '
            f'RP_{ident(o.ir.name)}),')
        code.output_lines.append(f'value = values["{o.ir.name}"]')
        if o.projections:
            terms = " + ".join(_contribution(pp, "value") for pp in o.projections)
            code.output_lines.append(f"out = {terms}")
        else:
            code.output_lines.append("out = value")
        if o.ir.clip:
            code.output_lines.append(f"out = jnp.clip(out, {num(o.ir.clip[0])}, {num(o.ir.clip[1])})")
        code.output_lines.append(f'outs["{o.ir.name}"] = out')

    # presynaptic signal of every projection, after a step from x to new (for STOP's traces)
    for pp in plan.projections:
        if pp.target.kind == "output":
            sig = f'readout_values(new)["{pp.target.name}"]'
        else:
            sig = _signal(pp, plan, {b.name for b in plan.blocks})
        code.signal_lines.append(f'"{pp.key}": {sig},  # {pp.ir.name}')
