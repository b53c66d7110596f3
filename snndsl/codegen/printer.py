"""Print IR expressions as JAX code, with as few parentheses as Python needs."""

from __future__ import annotations

import ast
from typing import Callable

from .. import ir

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_FUNCS = {
    "exp": "jnp.exp", "log": "jnp.log", "ln": "jnp.log", "sqrt": "jnp.sqrt", "abs": "jnp.abs",
    "tanh": "jnp.tanh", "sigmoid": "jax.nn.sigmoid", "min": "jnp.minimum", "max": "jnp.maximum",
    "clip": "jnp.clip", "concat": "concat",
}


def py_literal(value) -> str:
    """A Python literal of plain data (strings, numbers, lists): user text enters code only this way."""
    text = repr(value)
    assert ast.literal_eval(text) == value, value
    return text


def num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v)}.0"
    return repr(float(v))


class Printer:
    """`name(Name) -> str` maps a resolved name to code; `key` names the PRNG key for bernoulli()."""

    def __init__(self, name: Callable[[ir.Name], str], key: str = "key"):
        self.name = name
        self.key = key

    def __call__(self, e: ir.Expr) -> str:
        return self.p(e, 0)

    def p(self, e: ir.Expr, outer: int) -> str:
        if isinstance(e, ir.Num):
            s = num(e.value)
            return f"({s})" if e.value < 0 and outer > 0 else s
        if isinstance(e, ir.Name):
            return self.name(e)
        if isinstance(e, ir.Neg):
            s = "-" + self.p(e.operand, 3)
            return f"({s})" if outer >= 4 else s
        if isinstance(e, ir.Bin):
            prec = _PREC[e.op]
            left = self.p(e.left, prec if e.op != "**" else prec + 1)
            right = self.p(e.right, prec + 1 if e.op in "-/" else prec if e.op != "**" else prec)
            if isinstance(e.right, ir.Neg) and not right.startswith("("):  # a - (-b), not a - -b
                right = f"({right})"
            s = f"{left} {e.op} {right}"
            return f"({s})" if prec < outer else s
        if isinstance(e, ir.Compare):
            return f"{self.p(e.left, 1)} {e.op} {self.p(e.right, 1)}"
        if isinstance(e, ir.Call):
            args = [self.p(a, 0) for a in e.args]
            if e.func == "bernoulli":
                return f"jax.random.bernoulli({self.key}, {args[0]}).astype(jnp.result_type(float))"
            if e.func == "concat":
                return f"jnp.concatenate([{', '.join(args)}], axis=-1)"
            return f"{_FUNCS[e.func]}({', '.join(args)})"
        raise TypeError(f"cannot print {type(e).__name__}")
