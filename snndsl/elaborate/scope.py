"""Name scopes for constant folding, shared by the elaborators."""

from __future__ import annotations

import math
from typing import Callable

from snndsl_runtime.settings import MAX_COUNT

from .. import ir
from ..diagnostics import Diagnostic, suggest
from ..syntax import ast
from ..syntax.loader import LoadedModule
from .expr import CallV, ExprError, ListV, Q, QuietError, StrV, Sym, Value, err, evaluate

BUILTIN_CONSTS = {"pi": math.pi, "e": math.e}
BOOLEANS = {"true", "false"}



class LazyNames:
    """The defined names, for did-you-mean hints: listed only when a hint iterates them (a list made
    for every folded value made a spec of many constants quadratic to check)."""

    def __init__(self, *sources):
        self._sources = sources

    def __iter__(self):
        return (n for s in self._sources for n in s)

class Reporter:
    def __init__(self) -> None:
        self.diags: list[Diagnostic] = []

    def error(self, code: str, msg: str, span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, msg, span, hint))

    def run(self, fn: Callable, *args, **kw):
        """Call fn; an ExprError becomes a diagnostic and None is returned."""
        try:
            return fn(*args, **kw)
        except ExprError as e:
            if e.diag is not None:  # a QuietError's cause is reported already
                self.diags.append(e.diag)
            return None


class ConstScope:
    """The constants visible in one module: its own, those it imports, and builtins.

    Constants are folded lazily, so they may appear in any order; a cycle is an error.
    `task` is the resolved task sizes (obs, action, classes, features) once known.
    """

    def __init__(self, module: LoadedModule, scopes: dict, task_sizes: Callable[[], dict] | None = None):
        self.module = module
        self.scopes = scopes  # path -> ConstScope (shared)
        self.task_sizes = task_sizes
        self.consts: dict[str, ast.Const] = {}
        self.imported: dict[str, tuple[LoadedModule, str]] = {}
        # names imported from a module that failed to load or that does not define them (E101-E103
        # are reported by the loader): using them reports nothing more
        self.broken: set[str] = set()
        for st in module.ast.stmts:
            if isinstance(st, ast.Const):
                self.consts.setdefault(st.name.name, st)
        for imp, child in module.imports:
            if child is None:
                self.broken |= {n.name for n in imp.names}
                continue
            defs = child.definitions()
            for n in imp.names:
                self.imported[n.name] = (child, n.name)
                if n.name not in defs:
                    self.broken.add(n.name)
        self._values: dict[str, Value] = {}
        self._busy: set[str] = set()
        self.overrides: dict[str, ir.Expr] = {}

    def names(self, extra=()) -> "LazyNames":
        return LazyNames(self.consts, self.imported, BUILTIN_CONSTS, extra)

    def const(self, name: str, span) -> Value | None:
        if name in self._values:
            return self._values[name]
        if name in self.consts:
            if name in self._busy:
                raise err("E201", f"constant `{name}` is defined in terms of itself", span)
            self._busy.add(name)
            try:
                expr = self.overrides.get(name, self.consts[name].value)
                v = self.eval(expr)
            finally:
                self._busy.discard(name)
            self._values[name] = v
            return v
        if name in self.imported:
            child, cname = self.imported[name]
            scope = self.scopes.get(child.path)
            if scope is not None and cname in scope.consts:
                return scope.const(cname, span)
            return None
        if name in BUILTIN_CONSTS:
            return Q(BUILTIN_CONSTS[name])
        return None

    def lookup(self, e: ir.Expr, extra: dict[str, Value] | None = None) -> Value:
        if isinstance(e, ir.Dotted):
            if e.obj == "task":
                sizes = self.task_sizes() if self.task_sizes else {}
                if e.attr in sizes:
                    if sizes[e.attr] is None:
                        raise err("E201", f"`task.{e.attr}` is not defined for this task", e.span)
                    return Q(float(sizes[e.attr]), span=e.span)
                raise err("E201", f"unknown task size `task.{e.attr}`", e.span,
                          suggest(e.attr, sizes) or "the task provides: " + ", ".join(sorted(sizes)))
            raise err("E201", f"`{e.obj}.{e.attr}` is not a constant", e.span)
        assert isinstance(e, ir.Name)
        if extra and e.id in extra:
            return extra[e.id]
        v = self.const(e.id, e.span)
        if v is not None:
            return v
        if e.id in self.broken and e.id not in self.consts:
            raise QuietError(e.id)
        return Sym(e.id, e.span)

    def eval(self, e: ir.Expr, extra: dict[str, Value] | None = None) -> Value:
        return evaluate(e, lambda n: self.lookup(n, extra), self.names(extra or ()))


# ---- converting folded values to Python


def as_number(v: Value, what: str, dims=(0, 0, 0), names=()) -> float:
    from . import units as U

    if isinstance(v, Sym) and v.name not in BOOLEANS:
        raise err("E201", f"undefined name `{v.name}`", v.span, suggest(v.name, names))
    if not isinstance(v, Q):
        raise err("E404", f"{what} must be a number, not {describe(v)}", getattr(v, "span", None))
    if tuple(v.dims) != tuple(dims):
        code = "E303" if dims == U.TIME else "E301"
        hint = f"write it with a unit, e.g. `{v.value:g} {'ms' if dims == U.TIME else U.base_unit(dims)}`" \
            if v.dims == U.DIMENSIONLESS else None
        raise err(code, f"{what} needs units of {U.describe(dims)}, not {U.describe(v.dims)}", v.span, hint)
    return v.value


def as_int(v: Value, what: str, names=()) -> int:
    x = as_number(v, what, names=names)
    if x != int(x):
        raise err("E403", f"{what} must be a whole number, not {x:g}", v.span)
    if abs(x) > MAX_COUNT:
        raise err("E403", f"{what} is too large: {x:g} (at most {MAX_COUNT})", v.span)
    return int(x)


def as_symbol(v: Value, what: str, choices) -> str:
    name = v.name if isinstance(v, Sym) else v.value if isinstance(v, StrV) else None
    if name is None:
        raise err("E404", f"{what} must be one of {', '.join(map(str, choices))}; got {describe(v)}", getattr(v, "span", None))
    if name not in choices:
        raise err("E404", f"{what} must be one of {', '.join(map(str, choices))}; got `{name}`", v.span,
                  suggest(name, [str(c) for c in choices]))
    return name


def as_bool(v: Value, what: str) -> bool:
    return as_symbol(v, what, ("true", "false")) == "true"


def describe(v: Value) -> str:
    from .expr import describe as d

    return d(v)


__all__ = [
    "Reporter", "ConstScope", "as_number", "as_int", "as_symbol", "as_bool",
    "Q", "Sym", "CallV", "ListV", "StrV", "ExprError", "err",
]
