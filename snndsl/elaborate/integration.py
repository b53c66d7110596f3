"""Choose how a model's ODEs are integrated: all together, every right side on the state at the
start of the step (as Brian2 and NESTML do).

- linear in the states with coefficients of parameters, constants and dt: `exact`, by the
  propagator expm(A dt) of the system (a state's own decay when no equation has another state in it);
- otherwise the model's `method = euler | exponential_euler | rk2 | rk4`; without one,
  exponential Euler when every equation is linear in its own variable, forward Euler if not.

sympy decides linearity (second derivatives in the states vanish, first ones are free of states and
inputs); the coefficients and drives stay IR expressions, so codegen prints them like any other.
"""

from __future__ import annotations

from .. import ir
from .expr import err, fill_spans, linear_form, simplify

CHOOSABLE = ("euler", "exponential_euler", "rk2", "rk4")

_SYMPY_FUNCS = {"exp": "exp", "log": "log", "ln": "log", "sqrt": "sqrt", "abs": "Abs", "tanh": "tanh"}


def _to_sympy(e: ir.Expr, sp):
    """The expression in sympy; a name becomes the symbol `ref:id` (functions sympy lacks stay opaque)."""
    if isinstance(e, ir.Num):
        return sp.Float(e.value)
    if isinstance(e, ir.Name):
        return sp.Symbol(f"{e.ref}:{e.id}", real=True)
    if isinstance(e, ir.Neg):
        return -_to_sympy(e.operand, sp)
    if isinstance(e, ir.Bin):
        a, b = _to_sympy(e.left, sp), _to_sympy(e.right, sp)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a ** b}[e.op]
    if isinstance(e, ir.Call):
        args = [_to_sympy(x, sp) for x in e.args]
        if e.func in _SYMPY_FUNCS:
            return getattr(sp, _SYMPY_FUNCS[e.func])(*args)
        return sp.Function(e.func)(*args)
    raise TypeError(type(e).__name__)


def _substitute(e: ir.Expr, values: dict[str, float]) -> ir.Expr:
    """e with the named states replaced by numbers."""
    if isinstance(e, ir.Name) and e.ref == "state" and e.id in values:
        return ir.Num(value=values[e.id], span=e.span)
    return ir.map_children(e, lambda c: _substitute(c, values))


def linear_system(odes: list[ir.ODE]) -> ir.LinearSystem | None:
    """dx/dt = A x + b if the ODEs are linear in their states with constant coefficients, else None."""
    import sympy as sp

    states = [o.var for o in odes]
    syms = {s: sp.Symbol(f"state:{s}", real=True) for s in states}
    for o in odes:
        f = _to_sympy(o.rhs, sp)
        for i, si in enumerate(states):
            d = sp.diff(f, syms[si])
            # a coefficient may not depend on any state, input, source variable or spike signal
            if any(not str(x).startswith(("param:", "builtin:dt", "None:")) for x in d.free_symbols):
                return None
            for sj in states[i:]:
                if sp.simplify(sp.diff(d, syms[sj])) != 0:
                    return None
    zero = {s: 0.0 for s in states}
    b = [fill_spans(simplify(_substitute(o.rhs, zero)), o.rhs.span) for o in odes]
    a = []
    for o in odes:
        row = []
        for s in states:
            lf = linear_form(o.rhs, s)  # rhs = (a*s + ...)/d: the coefficient of s is a/d
            if lf is None:
                row.append(ir.Num(value=0.0, span=o.rhs.span))
                continue
            if any(n.ref not in ("param", "builtin") for n in [*ir.names_in(lf.a), *ir.names_in(lf.d)]):
                return None  # the coefficient's form hides a cancellation; integrate it numerically
            row.append(fill_spans(simplify(ir.Bin(op="/", left=lf.a, right=lf.d)), o.rhs.span))
        a.append(row)
    coupled = any(not _is_zero(a[i][j]) for i in range(len(states)) for j in range(len(states)) if i != j)
    return ir.LinearSystem(states=states, a=a, b=b, coupled=coupled)


def _is_zero(e: ir.Expr) -> bool:
    return isinstance(e, ir.Num) and e.value == 0


def choose(odes: list[ir.ODE], given: ir.Expr | None, model: str) -> tuple[ir.Integration, list[ir.ODE]]:
    """The model's integration, and its ODEs labelled with the method.  `given`: the `method = ...`
    setting's value, if any (raises ExprError for an unknown or unusable method)."""
    if not odes:
        if given is not None:
            raise err("E205", f"`{model}` has no equations, so `method` has nothing to choose", given.span,
                      "remove it (a `step` block runs its updates as written)")
        return ir.Integration(method="none", reason="no equations"), odes
    name = None
    if given is not None:
        name = given.id if isinstance(given, ir.Name) else given.value if isinstance(given, ir.Str) else None
        if name not in CHOOSABLE:
            from ..diagnostics import suggest

            raise err("E404", f"unknown integration method `{name}`" if name else "a method is a name",
                      given.span, suggest(str(name), list(CHOOSABLE)) or
                      f"one of {', '.join(CHOOSABLE)}; linear models are integrated exactly without one")
    system = linear_system(odes)
    if name is None and system is not None:
        why = ("linear with constant coefficients, coupled: the propagator expm(A·dt) of the system"
               if system.coupled else "linear with constant coefficients: each state's exact decay")
        return ir.Integration(method="exact", reason=why, system=system), _label(odes, "exact")
    own_linear = all(o.linear is not None for o in odes)
    if name == "exponential_euler" and not own_linear:
        bad = next(o for o in odes if o.linear is None)
        raise err("E404", f"exponential Euler needs every equation linear in its own variable; `d{bad.var}/dt` "
                          "is not", given.span, "use method = euler, rk2 or rk4")
    if name is not None:
        why = "given" + (" (the equations are linear: without `method` they would be exact)" if system else "")
        return ir.Integration(method=name, reason=why), _label(odes, name)
    if own_linear:
        return (ir.Integration(method="exponential_euler",
                               reason="the default for equations linear in their own variable with "
                                      "state-dependent coefficients"), _label(odes, "exponential_euler"))
    bad = next(o for o in odes if o.linear is None)
    return (ir.Integration(method="euler", reason=f"the default for nonlinear equations (`d{bad.var}/dt`); "
                                                  "set `method = rk2` or `rk4` for more accuracy"),
            _label(odes, "euler"))


def _label(odes: list[ir.ODE], method: str) -> list[ir.ODE]:
    return [o.model_copy(update={"method": method}) for o in odes]
