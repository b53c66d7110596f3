"""The IR's expression nodes, and the walkers every stage uses on them.

Numbers are in base units (ms, mV, nA; see elaborate/units.py); `dims` are exponents of
(time, voltage, current).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ..diagnostics import Span

Dims = tuple[int, int, int]


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span: Span | None = None



class Num(Node):
    kind: Literal["num"] = "num"
    value: float
    dims: Dims = (0, 0, 0)
    unit: str | None = None  # as written, e.g. "ms"; None for a bare number


class Str(Node):
    kind: Literal["str"] = "str"
    value: str


class Name(Node):
    kind: Literal["name"] = "name"
    id: str
    # What the name resolved to: param, state, port (neuron input), const, builtin (dt, x, s).
    ref: str | None = None


class Dotted(Node):
    kind: Literal["dotted"] = "dotted"
    obj: str
    attr: str


class KwArg(Node):
    name: str
    value: "Expr"


class Call(Node):
    kind: Literal["call"] = "call"
    func: str
    args: list["Expr"] = Field(default_factory=list)
    kwargs: list[KwArg] = Field(default_factory=list)

    def kwarg(self, name: str) -> "Expr | None":
        for kw in self.kwargs:
            if kw.name == name:
                return kw.value
        return None


class ListExpr(Node):
    kind: Literal["list"] = "list"
    items: list["Expr"] = Field(default_factory=list)


class Bin(Node):
    kind: Literal["bin"] = "bin"
    op: Literal["+", "-", "*", "/", "**"]
    left: "Expr"
    right: "Expr"


class Neg(Node):
    kind: Literal["neg"] = "neg"
    operand: "Expr"


class Compare(Node):
    kind: Literal["compare"] = "compare"
    op: Literal[">", ">=", "<", "<="]
    left: "Expr"
    right: "Expr"


Expr = Annotated[
    Union[Num, Str, Name, Dotted, Call, ListExpr, Bin, Neg, Compare],
    Field(discriminator="kind"),
]

for _m in (KwArg, Call, ListExpr, Bin, Neg, Compare):
    _m.model_rebuild()


def children(e: Expr) -> list[Expr]:
    """The direct subexpressions of e."""
    if isinstance(e, Bin) or isinstance(e, Compare):
        return [e.left, e.right]
    if isinstance(e, Neg):
        return [e.operand]
    if isinstance(e, Call):
        return list(e.args) + [k.value for k in e.kwargs]
    if isinstance(e, ListExpr):
        return list(e.items)
    return []


def map_children(e: Expr, f) -> Expr:
    """A copy of e with f applied to each direct subexpression (the one rebuilding walker)."""
    if isinstance(e, (Bin, Compare)):
        return e.model_copy(update={"left": f(e.left), "right": f(e.right)})
    if isinstance(e, Neg):
        return e.model_copy(update={"operand": f(e.operand)})
    if isinstance(e, Call):
        return e.model_copy(update={"args": [f(a) for a in e.args],
                                    "kwargs": [k.model_copy(update={"value": f(k.value)}) for k in e.kwargs]})
    if isinstance(e, ListExpr):
        return e.model_copy(update={"items": [f(a) for a in e.items]})
    return e


def names_in(e: Expr) -> list[Name]:
    """Every name in e, in reading order."""
    out = [e] if isinstance(e, Name) else []
    for c in children(e):
        out.extend(names_in(c))
    return out


def strip_spans(e) -> object:
    """An expression as plain data without source positions (for structural comparison)."""

    def drop(d):
        if isinstance(d, dict):
            return {k: drop(v) for k, v in d.items() if k != "span"}
        if isinstance(d, list):
            return [drop(v) for v in d]
        return d

    return drop(e.model_dump())
