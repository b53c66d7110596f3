"""Expressions: constant evaluation with units, dimension inference, and linear forms.

`evaluate` folds an expression to a `Value` (a number with dims, a string, a symbol, a call or a
list).  `infer_dims` types a symbolic expression (an ODE right side).  `linear_form` writes an
ODE right side as (a*x + b)/d so the generator can integrate it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .. import ir
from ..diagnostics import Diagnostic, Span, suggest
from ..ir import children, strip_spans
from . import units as U


class ExprError(Exception):
    def __init__(self, diag: Diagnostic):
        self.diag = diag
        super().__init__(diag.message)


class QuietError(ExprError):
    """A failure whose cause is already reported (a name from an import that failed): the value is
    unusable, but no new diagnostic is added, so one mistake gives one error."""

    def __init__(self, name: str):
        Exception.__init__(self, f"`{name}` comes from a failed import")
        self.diag = None


def err(code: str, msg: str, span: Span | None, hint: str | None = None) -> ExprError:
    return ExprError(Diagnostic(code, msg, span, hint))


# --------------------------------------------------------------------------- values


@dataclass
class Q:
    """A number with dimensions (base units)."""

    value: float
    dims: U.Dims = U.DIMENSIONLESS
    span: Span | None = None


@dataclass
class Sym:
    """A bare name used as a value: `running`, `auto`, `true`."""

    name: str
    span: Span | None = None


@dataclass
class CallV:
    func: str
    args: list
    kwargs: dict
    span: Span | None = None
    kw_spans: dict = field(default_factory=dict)


@dataclass
class ListV:
    items: list
    span: Span | None = None


@dataclass
class StrV:
    value: str
    span: Span | None = None


Value = Q | Sym | CallV | ListV | StrV

# functions that fold to numbers; the rest (bernoulli, uniform, dense, adam, ...) stay calls
_MATH1 = {
    "exp": math.exp, "log": math.log, "ln": math.log, "sqrt": math.sqrt, "abs": abs,
    "tanh": math.tanh, "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
}

# functions allowed in symbolic (per-step) expressions: name -> argument count
SYMBOLIC_FUNCS = {
    "exp": 1, "log": 1, "ln": 1, "sqrt": 1, "abs": 1, "tanh": 1, "sigmoid": 1,
    "min": 2, "max": 2, "clip": 3, "concat": 2, "bernoulli": 1,
}


def _finite(q: Q) -> Q:
    """A folded number must be finite: `1e400` or `1e300 * 1e300` is an error, not infinity."""
    if not math.isfinite(q.value):
        raise err("E401", "number too large" if not math.isnan(q.value) else "not a number (NaN)", q.span,
                  "numbers must be finite (below about 1.8e308)")
    return q


def quantity(num: ir.Num) -> Q:
    if num.unit is None:
        return _finite(Q(num.value, tuple(num.dims), num.span))
    if num.unit not in U.UNITS:
        hint = suggest(num.unit, U.UNITS) or f"known units: {', '.join(U.UNITS)}"
        raise err("E304", f"unknown unit `{num.unit}`", num.span, hint)
    scale, dims = U.UNITS[num.unit]
    return _finite(Q(num.value * scale, dims, num.span))


def scale_units(e: ir.Expr) -> ir.Expr:
    """Return the expression with every `10 ms` literal converted to base units and typed."""
    if isinstance(e, ir.Num):
        if e.unit is None:
            _finite(Q(e.value, tuple(e.dims), e.span))
            return e
        q = quantity(e)
        return ir.Num(value=q.value, dims=q.dims, unit=e.unit, span=e.span)
    return ir.map_children(e, scale_units)


def _check_same(op: str, a: Q, b: Q, span) -> None:
    if a.dims != b.dims:
        raise err(
            "E301",
            f"cannot {op} {U.describe(a.dims)} and {U.describe(b.dims)}",
            span,
            "both sides need the same units",
        )


def evaluate(e: ir.Expr, lookup: Callable[[ir.Expr], Value], names=()) -> Value:
    """Fold an expression.  `lookup` resolves Name and Dotted nodes (or raises ExprError);
    `names` are the defined names, for "did you mean" hints."""

    def num(sub: ir.Expr, what: str) -> Q:
        v = evaluate(sub, lookup, names)
        if isinstance(v, Sym) and v.name not in ("true", "false"):
            raise err("E201", f"undefined name `{v.name}`", v.span, suggest(v.name, names))
        if not isinstance(v, Q):
            raise err("E404", f"{what} needs numbers, not {describe(v)}", sub.span)
        return v

    if isinstance(e, ir.Num):
        return quantity(e)
    if isinstance(e, ir.Str):
        return StrV(e.value, e.span)
    if isinstance(e, (ir.Name, ir.Dotted)):
        return lookup(e)
    if isinstance(e, ir.ListExpr):
        return ListV([evaluate(i, lookup, names) for i in e.items], e.span)
    if isinstance(e, ir.Neg):
        v = num(e.operand, "`-`")
        return Q(-v.value, v.dims, e.span)
    if isinstance(e, ir.Bin):
        a, b = num(e.left, f"`{e.op}`"), num(e.right, f"`{e.op}`")
        if e.op in "+-":
            _check_same("add" if e.op == "+" else "subtract", a, b, e.span)
            return _finite(Q(a.value + b.value if e.op == "+" else a.value - b.value, a.dims, e.span))
        if e.op == "*":
            return _finite(Q(a.value * b.value, U.mul(a.dims, b.dims), e.span))
        if e.op == "/":
            if b.value == 0:
                raise err("E401", "division by zero", e.right.span)
            return _finite(Q(a.value / b.value, U.div(a.dims, b.dims), e.span))
        if b.dims != U.DIMENSIONLESS:
            raise err("E301", "an exponent must be dimensionless", e.right.span)
        if a.dims != U.DIMENSIONLESS and b.value != int(b.value):
            raise err("E301", "a quantity with units can only be raised to an integer power", e.right.span)
        try:
            r = a.value ** b.value
            if isinstance(r, complex):
                raise ValueError(f"{a.value:g} ** {b.value:g} is not a real number")
            return _finite(Q(float(r), U.power(a.dims, int(b.value)), e.span))
        except OverflowError:
            raise err("E401", "number too large", e.span, "numbers must be finite (below about 1.8e308)") from None
        except (ZeroDivisionError, ValueError) as ex:
            raise err("E401", f"cannot evaluate power: {ex}", e.span) from None
    if isinstance(e, ir.Compare):
        raise err("E404", "a comparison is not a value", e.span)
    if isinstance(e, ir.Call):
        args = [evaluate(a, lookup, names) for a in e.args]
        kwargs = {k.name: evaluate(k.value, lookup, names) for k in e.kwargs}
        if e.func in _MATH1 and len(args) == 1 and not kwargs and isinstance(args[0], Q):
            a = args[0]
            if e.func == "sqrt":
                if any(d % 2 for d in a.dims):
                    raise err("E301", "sqrt of a quantity with odd unit powers", e.span)
                dims = tuple(d // 2 for d in a.dims)
            elif e.func == "abs":
                dims = a.dims
            else:
                if a.dims != U.DIMENSIONLESS:
                    raise err("E301", f"{e.func}() needs a dimensionless argument, got {U.describe(a.dims)}", e.args[0].span)
                dims = U.DIMENSIONLESS
            try:
                return _finite(Q(float(_MATH1[e.func](a.value)), dims, e.span))
            except (ValueError, OverflowError) as ex:
                raise err("E401", f"{e.func}({a.value:g}) is undefined: {ex}", e.span) from None
        if e.func in ("min", "max") and len(args) == 2 and all(isinstance(a, Q) for a in args):
            _check_same(f"compare in {e.func}()", args[0], args[1], e.span)
            f = min if e.func == "min" else max
            return Q(f(args[0].value, args[1].value), args[0].dims, e.span)
        return CallV(e.func, args, kwargs, e.span, {k.name: k.span for k in e.kwargs})
    raise err("E001", "unsupported expression", getattr(e, "span", None))


def describe(v: Value) -> str:
    if isinstance(v, Q):
        return "a number" if v.dims == U.DIMENSIONLESS else f"a quantity of {U.describe(v.dims)}"
    if isinstance(v, StrV):
        return "a string"
    if isinstance(v, Sym):
        return f"the name `{v.name}`"
    if isinstance(v, CallV):
        return f"`{v.func}(...)`"
    return "a list"


# --------------------------------------------------------------------------- symbolic typing


def infer_dims(e: ir.Expr, dims_of: Callable[[ir.Name], U.Dims | None]) -> U.Dims | None:
    """The dims of a symbolic expression; None where a name's dims are not known yet."""
    if isinstance(e, ir.Num):
        return tuple(e.dims)
    if isinstance(e, ir.Name):
        return dims_of(e)
    if isinstance(e, ir.Neg):
        return infer_dims(e.operand, dims_of)
    if isinstance(e, ir.Bin):
        a, b = infer_dims(e.left, dims_of), infer_dims(e.right, dims_of)
        if e.op in "+-":
            if a is not None and b is not None and a != b and not is_zero(e.left) and not is_zero(e.right):
                verb = "add" if e.op == "+" else "subtract"
                raise err("E301", f"cannot {verb} {U.describe(a)} and {U.describe(b)}", e.span, _unit_hint(a, b))
            return a if a is not None and not is_zero(e.left) else b
        if a is None or b is None:
            return None
        if e.op == "*":
            return U.mul(a, b)
        if e.op == "/":
            return U.div(a, b)
        if b != U.DIMENSIONLESS:
            raise err("E301", "an exponent must be dimensionless", e.right.span)
        if isinstance(e.right, ir.Num) and e.right.value == int(e.right.value):
            return U.power(a, int(e.right.value))
        if a != U.DIMENSIONLESS:
            raise err("E301", "a quantity with units can only be raised to a constant integer power", e.span)
        return U.DIMENSIONLESS
    if isinstance(e, ir.Compare):
        a, b = infer_dims(e.left, dims_of), infer_dims(e.right, dims_of)
        if a is not None and b is not None and a != b and not is_zero(e.right) and not is_zero(e.left):
            raise err("E301", f"cannot compare {U.describe(a)} with {U.describe(b)}", e.span, _unit_hint(a, b))
        return U.DIMENSIONLESS
    if isinstance(e, ir.Call):
        n = SYMBOLIC_FUNCS.get(e.func)
        if n is None:
            raise err("E305", f"unknown function `{e.func}`", e.span, suggest(e.func, SYMBOLIC_FUNCS))
        if e.kwargs or len(e.args) != n:
            raise err("E305", f"`{e.func}` takes {n} argument{'s' if n > 1 else ''}", e.span)
        ds = [infer_dims(a, dims_of) for a in e.args]
        if e.func in ("exp", "log", "ln", "tanh", "sigmoid", "bernoulli"):
            if ds[0] is not None and ds[0] != U.DIMENSIONLESS:
                raise err("E301", f"{e.func}() needs a dimensionless argument, got {U.describe(ds[0])}", e.args[0].span)
            return U.DIMENSIONLESS
        if e.func == "sqrt":
            return None if ds[0] is None else tuple(d // 2 for d in ds[0])
        if e.func in ("min", "max", "clip", "concat"):
            known = [d for d, a in zip(ds, e.args) if d is not None and not is_zero(a)]
            if any(k != known[0] for k in known):
                raise err("E301", f"the arguments of {e.func}() need the same units", e.span)
            return known[0] if known else (ds[0] if ds[0] is not None else None)
        return ds[0]
    raise err("E404", "not allowed in an equation", getattr(e, "span", None))


def is_zero(e: ir.Expr) -> bool:
    return isinstance(e, ir.Num) and e.value == 0 and e.unit is None


def _unit_hint(a: U.Dims, b: U.Dims) -> str | None:
    if U.TIME in (a, b) and U.DIMENSIONLESS in (a, b):
        return "is a time constant missing its unit (`10 ms`)?"
    return "give every term the same units"


# --------------------------------------------------------------------------- linear forms


def _num(v: float) -> ir.Num:
    return ir.Num(value=v)


def _mentions(e: ir.Expr, var: str) -> bool:
    if isinstance(e, ir.Name):
        return e.id == var
    return any(_mentions(c, var) for c in children(e))


def simplify(e: ir.Expr) -> ir.Expr:
    """Fold the 0s and 1s that linear_form introduces."""
    if isinstance(e, ir.Bin):
        l, r = simplify(e.left), simplify(e.right)
        lz, rz = is_zero(l), is_zero(r)
        one = lambda x: isinstance(x, ir.Num) and x.value == 1 and x.unit is None  # noqa: E731
        if e.op == "+":
            if lz:
                return r
            if rz:
                return l
        if e.op == "-":
            if rz:
                return l
            if lz:
                return simplify(ir.Neg(operand=r))
        if e.op == "*":
            if lz or rz:
                return _num(0)
            if one(l):
                return r
            if one(r):
                return l
        if e.op == "/" and one(r):
            return l
        if e.op == "/" and lz:
            return _num(0)
        return e.model_copy(update={"left": l, "right": r})
    if isinstance(e, ir.Neg):
        o = simplify(e.operand)
        if isinstance(o, ir.Num) and o.unit is None:
            return _num(-o.value)
        if isinstance(o, ir.Neg):
            return o.operand
        return e.model_copy(update={"operand": o})
    return e


def linear_form(rhs: ir.Expr, var: str) -> ir.LinearForm | None:
    """Write rhs as (a*var + b)/d, with a, b, d free of var; None if rhs is not linear in var."""

    def lin(e):  # -> (a, b, d) or None
        if not _mentions(e, var):
            return (_num(0), e, _num(1))
        if isinstance(e, ir.Name):
            return (_num(1), _num(0), _num(1))
        if isinstance(e, ir.Neg):
            r = lin(e.operand)
            return r and (ir.Neg(operand=r[0]), ir.Neg(operand=r[1]), r[2])
        if isinstance(e, ir.Bin):
            if e.op in "+-":
                l, r = lin(e.left), lin(e.right)
                if l is None or r is None:
                    return None
                if _same(l[2], r[2]):
                    return (ir.Bin(op=e.op, left=l[0], right=r[0]), ir.Bin(op=e.op, left=l[1], right=r[1]), l[2])
                # bring to a common denominator
                a = ir.Bin(op=e.op, left=ir.Bin(op="*", left=l[0], right=r[2]), right=ir.Bin(op="*", left=r[0], right=l[2]))
                b = ir.Bin(op=e.op, left=ir.Bin(op="*", left=l[1], right=r[2]), right=ir.Bin(op="*", left=r[1], right=l[2]))
                return (a, b, ir.Bin(op="*", left=l[2], right=r[2]))
            if e.op == "*":
                if not _mentions(e.left, var):
                    r = lin(e.right)
                    return r and (ir.Bin(op="*", left=e.left, right=r[0]), ir.Bin(op="*", left=e.left, right=r[1]), r[2])
                if not _mentions(e.right, var):
                    l = lin(e.left)
                    return l and (ir.Bin(op="*", left=l[0], right=e.right), ir.Bin(op="*", left=l[1], right=e.right), l[2])
                return None
            if e.op == "/" and not _mentions(e.right, var):
                l = lin(e.left)
                return l and (l[0], l[1], ir.Bin(op="*", left=l[2], right=e.right))
        return None

    r = lin(rhs)
    if r is None:
        return None
    a, b, d = (fill_spans(simplify(x), rhs.span) for x in r)
    if is_zero(a):
        return None  # does not depend on var: plain accumulation, integrated by Euler (exact)
    return ir.LinearForm(a=a, b=b, d=d, span=rhs.span)


def fill_spans(e: ir.Expr, span: Span | None) -> ir.Expr:
    """Give the nodes made by the compiler (the 0s, 1s and products of a linear form) the span of
    the source they came from, so every IR node carries a position."""
    update = {"span": span} if e.span is None else {}
    if isinstance(e, (ir.Bin, ir.Compare)):
        update.update(left=fill_spans(e.left, span), right=fill_spans(e.right, span))
    elif isinstance(e, ir.Neg):
        update["operand"] = fill_spans(e.operand, span)
    elif isinstance(e, ir.Call):
        update["args"] = [fill_spans(a, span) for a in e.args]
        update["kwargs"] = [k.model_copy(update={"value": fill_spans(k.value, span),
                                                 **({"span": span} if k.span is None else {})}) for k in e.kwargs]
    elif isinstance(e, ir.ListExpr):
        update["items"] = [fill_spans(a, span) for a in e.items]
    return e.model_copy(update=update) if update else e


def _same(x: ir.Expr, y: ir.Expr) -> bool:
    return strip_spans(x) == strip_spans(y)
