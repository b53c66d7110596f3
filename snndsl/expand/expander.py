"""AST -> AST: `for` loops and `use` of stages copied out, names with `{...}` parts built.

The copy is generic: every dataclass and expression node is rebuilt field by field, so a
statement the language gains later is repeated without this module knowing it.  What changes in
a copy:

- an expression name bound to a loop variable or stage parameter becomes its value (a number,
  a name, a string or a list), carrying the position where it is used;
- a name with `{expr}` parts (`conv{i}`, `{prev}`, `b{i+1}_a`) is built from the parts' values,
  each a name, a string or a whole number >= 0;
- a plain identifier (a declared name, an endpoint) bound to a *name* value becomes that name;
- every span records its copy (`Span.via`), so any later diagnostic names the iteration.

Lists and the numbers inside `{ }` are folded here from literals and the file's constants (a
`--set NAME=V` override included); `task.*` sizes are known only at elaboration, too late.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from pydantic import BaseModel

from .. import ir
from ..diagnostics import Diagnostic, Span, SpecError, suggest
from ..elaborate.expr import ExprError, Q, Sym, evaluate
from ..syntax import ast

# definitions, not network statements: once per file, never repeated
NOT_REPEATABLE = (ast.Import, ast.ModelDef, ast.Block, ast.StageDef)
MAX_STATEMENTS = 20_000  # a spec that expands to more is refused (a typo in a range, a runaway nesting)
_PART = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Failed(Exception):
    """A statement that could not be copied (its diagnostic is reported): it is left out."""


class _TooLarge(Exception):
    """The expansion passed MAX_STATEMENTS (reported): it stops there."""


@dataclasses.dataclass
class _Frame:
    """One copy of a body: an iteration of a loop or one `use`, inside its parent's."""

    desc: str
    parent: "_Frame | None"
    stages: tuple[str, ...] = ()  # the stages being expanded, for cycles

    @functools.cached_property
    def via(self) -> str:
        out, f = [], self
        while f is not None:
            out.append(f.desc)
            f = f.parent
        return "in " + ", within ".join(out)


def show(e: ir.Expr) -> str:
    """A value as the spec would write it."""
    if isinstance(e, ir.Num):
        from ..elaborate.units import base_unit

        unit = e.unit or (base_unit(tuple(e.dims)) if tuple(e.dims) != (0, 0, 0) else None)
        number = str(int(e.value)) if e.value == int(e.value) and abs(e.value) < 1e15 else f"{e.value:g}"
        return number + (f" {unit}" if unit else "")
    if isinstance(e, ir.Name):
        return e.id
    if isinstance(e, ir.Str):
        return f'"{e.value}"'
    if isinstance(e, ir.ListExpr):
        return "[" + ", ".join(show(i) for i in e.items) + "]"
    if isinstance(e, ir.Call):
        return f"{e.func}(" + ", ".join([show(a) for a in e.args] + [f"{k.name} = {show(k.value)}" for k in e.kwargs]) + ")"
    return "..."


def _respan(e, span: Span):
    """A value copied to where it is used: every node of it at that position."""
    if isinstance(e, BaseModel):
        return e.model_copy(update={k: span if k == "span" else _respan(getattr(e, k), span) for k in type(e).model_fields})
    if isinstance(e, list):
        return [_respan(x, span) for x in e]
    return e


@functools.lru_cache(maxsize=1024)
def _parse_part(src: str) -> ir.Expr:
    """The expression of a name's `{src}` part (parsed once per text: a loop reuses it)."""
    from ..syntax.parser import parse_expr

    return parse_expr(src)


class Expander:
    def __init__(self, module: ast.Module, const_overrides: dict[str, ir.Expr]):
        self.module = module
        self.diags: list[Diagnostic] = []
        self.overrides = const_overrides
        self.consts = {s.name.name: s for s in module.stmts if isinstance(s, ast.Const) and "{" not in s.name.name}
        self.stages: dict[str, ast.StageDef] = {}
        self.count = 0
        self._busy: set[str] = set()

    def error(self, code, msg, span, hint=None):
        # once per place: the first iteration that fails there is the one named
        if not any(d.code == code and str(d.span) == str(span) for d in self.diags):
            self.diags.append(Diagnostic(code, msg, span, hint))

    # ---- statements

    def run(self) -> ast.Module:
        for st in self.module.stmts:
            if isinstance(st, ast.StageDef):
                if st.name.name in self.stages:
                    self.error("E202", f"stage `{st.name.name}` is already defined (line {self.stages[st.name.name].span.line})",
                               st.name.span, "give it another name")
                else:
                    self.stages[st.name.name] = st
        out = []
        try:
            for st in self.module.stmts:
                if not isinstance(st, ast.StageDef):
                    out += self.statements([st], {}, None)
        except _TooLarge:
            pass
        return ast.Module(file=self.module.file, stmts=self._unique(out))

    def statements(self, stmts: list, env: dict, frame: _Frame | None) -> list:
        out = []
        for st in stmts:
            if frame is not None and isinstance(st, NOT_REPEATABLE):
                kw = getattr(st, "keyword", None) or getattr(st, "kind", None) or "import"
                where = "a `for` loop" if frame.desc.startswith("iteration") else "a stage"
                self.error("E211", f"`{kw}` inside {where}", st.span.model_copy(update={"via": frame.via}),
                           "a loop or a stage repeats network statements (population, project, group, input, output, "
                           "const, for, use); define models, stages and the time, task and train blocks at the top level")
                continue
            try:
                if isinstance(st, ast.ForLoop):
                    out += self.loop(st, env, frame)
                elif isinstance(st, ast.UseStage):
                    out += self.use(st, env, frame)
                else:
                    out.append(self.copy(st, env, frame))
                    self.count += 1
            except _Failed:
                continue
            self._count(st.span, frame)
        return out

    def _count(self, span, frame, n: int = 0) -> None:
        """Counts copies and iterations; past MAX_STATEMENTS the expansion stops (an empty loop counts too)."""
        self.count += n
        if self.count > MAX_STATEMENTS:
            self.error("E211", f"the spec expands to more than {MAX_STATEMENTS:,} statements and iterations",
                       self._at(span, frame), "check the loops' lists and ranges")
            raise _TooLarge

    def loop(self, st: ast.ForLoop, env: dict, frame: _Frame | None) -> list:
        names = [v.name for v in st.vars]
        for k, v in enumerate(st.vars):
            if v.name in names[:k]:
                self.error("E208", f"loop variable `{v.name}` is named twice", self._at(v.span, frame))
                raise _Failed
        items = self.items(self.copy(st.items, env, frame), env, frame)
        prev = self.copy(ir.Name(id=st.chain.name, span=st.chain.span), env, frame) if st.chain else None
        if prev is not None and not isinstance(prev, ir.Name):
            self.error("E213", f"`from {st.chain.name}` needs a node's name, not {show(prev)}", self._at(st.chain.span, frame))
            raise _Failed
        out = []
        for item in items:
            self._count(st.span, frame, 1)
            values = [self.settle(v) for v in self.destructure(st, item, frame)]
            inner = {**env, **dict(zip(names, values))}
            if prev is not None:
                inner["prev"] = prev
            desc = "iteration " + ", ".join(f"{n} = {show(v)}" for n, v in zip(names, values)) + \
                f" of the `for` at line {st.span.line}"
            body = self.statements(st.body, inner, _Frame(desc, frame, frame.stages if frame else ()))
            out += body
            declared = [s.name for s in body if isinstance(getattr(s, "name", None), ast.Ident) and not isinstance(s, ast.Const)]
            if prev is not None and declared:
                prev = ir.Name(id=declared[-1].name, span=declared[-1].span)
        return out

    def use(self, st: ast.UseStage, env: dict, frame: _Frame | None) -> list:
        name = st.stage.name
        stage = self.stages.get(name)
        if stage is None:
            self.error("E209", f"unknown stage `{name}`", self._at(st.stage.span, frame),
                       suggest(name, self.stages) or ("the spec defines the stages: " + ", ".join(sorted(self.stages))
                                                      if self.stages else "define it: `stage NAME(a, b) { ... }`"))
            raise _Failed
        params = [p.name for p in stage.params]
        signature = f"`{name}({', '.join(params)})` (line {stage.span.line})"
        args = [self.settle(self.copy(a, env, frame)) for a in st.args]
        bound = dict(zip(params, args))
        problem = None
        if len(args) > len(params):
            problem = f"`{name}` takes {len(params)} argument{'s' * (len(params) != 1)}, got {len(args) + len(st.kwargs)}"
        for kw in st.kwargs:
            if kw.name not in params:
                problem = problem or f"`{name}` has no parameter `{kw.name}`"
            elif kw.name in bound:
                problem = problem or f"`{kw.name}` is given twice"
            else:
                bound[kw.name] = self.settle(self.copy(kw.value, env, frame))
        missing = [p for p in params if p not in bound]
        if problem is None and missing:
            problem = f"`{name}` needs {len(params)} argument{'s' * (len(params) != 1)}; " \
                f"{', '.join(f'`{m}`' for m in missing)} {'is' if len(missing) == 1 else 'are'} missing"
        if problem:
            self.error("E209", problem, self._at(st.span, frame), f"it is defined as {signature}")
            raise _Failed
        stack = frame.stages if frame else ()
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name):], name))
            self.error("E211", f"stage `{name}` uses itself ({chain})", self._at(st.span, frame),
                       "a stage may use other stages, not itself")
            raise _Failed
        desc = f"`use {name}({', '.join(show(bound[p]) for p in params)})` at line {st.span.line}"
        return self.statements(stage.body, bound, _Frame(desc, frame, (*stack, name)))

    # ---- lists

    def items(self, e: ir.Expr, env: dict, frame) -> list[ir.Expr]:
        """The values a loop runs over (e is already copied into the loop's scope)."""
        if isinstance(e, ir.ListExpr):
            return list(e.items)
        if isinstance(e, ir.Name) and e.id in self.consts:
            value = self.overrides.get(e.id, self.consts[e.id].value)
            if isinstance(value, ir.ListExpr):
                return list(value.items)  # at their own positions, in the constant
        if isinstance(e, ir.Call) and e.func in ("range", "enumerate", "zip") and not e.kwargs:
            if e.func == "range" and 1 <= len(e.args) <= 3:
                bounds = [self.whole(a, "a range's bound", frame) for a in e.args]
                r = range(*bounds) if len(bounds) > 1 else range(bounds[0])
                if len(r) > MAX_STATEMENTS:
                    self.error("E208", f"range of {len(r):,} values (at most {MAX_STATEMENTS:,})", e.span)
                    raise _Failed
                return [ir.Num(value=float(k), span=e.span) for k in r]
            if e.func == "enumerate" and len(e.args) == 1:
                return [ir.ListExpr(items=[ir.Num(value=float(k), span=e.span), x], span=x.span)
                        for k, x in enumerate(self.items(e.args[0], env, frame))]
            if e.func == "zip" and len(e.args) >= 2:
                lists = [self.items(a, env, frame) for a in e.args]
                if len({len(x) for x in lists}) > 1:
                    self.error("E208", "zip() of lists of different lengths (" + ", ".join(str(len(x)) for x in lists) + ")",
                               e.span)
                    raise _Failed
                return [ir.ListExpr(items=list(xs), span=e.span) for xs in zip(*lists)]
        what = show(e)
        if isinstance(e, ir.Name):
            value = self.overrides.get(e.id) or (self.consts[e.id].value if e.id in self.consts else None)
            what = f"`{e.id}` (= {show(value)})" if value is not None else f"`{e.id}`, which is not a list constant of this file"
        if isinstance(e, ir.Dotted):
            what = f"`{e.obj}.{e.attr}`, known only once the task is read"
        self.error("E208", f"a `for` loop runs over a list, not {what}", e.span,
                   "write a list `[64, 128]`, a constant holding one, `range(n)`, `enumerate(list)` or `zip(a, b)`")
        raise _Failed

    def destructure(self, st: ast.ForLoop, item: ir.Expr, frame) -> list[ir.Expr]:
        n = len(st.vars)
        if n == 1:
            return [item]
        values = list(item.items) if isinstance(item, ir.ListExpr) else [item]
        # enumerate's (index, [a, b]) is taken apart by `for i, a, b in enumerate(...)`
        if len(values) == 2 and isinstance(values[1], ir.ListExpr) and n == 1 + len(values[1].items) and n > 2:
            values = [values[0], *values[1].items]
        if len(values) != n:
            names = ", ".join(v.name for v in st.vars)
            self.error("E208", f"the item {show(item)} has {len(values)} value{'s' * (len(values) != 1)} "
                       f"for the {n} variables {names}", item.span,
                       f"each item of the list is a list of {n} values: [{', '.join('...' for _ in range(n))}]")
            raise _Failed
        return values

    # ---- folding

    def _lookup(self, e):
        if isinstance(e, ir.Dotted):
            raise ExprError(Diagnostic(self._task_code, f"`{e.obj}.{e.attr}` is known only once the task is read", e.span,
                                       "a loop's list and the parts of a name use numbers and constants"))
        name = e.id
        if name in self.consts or name in self.overrides:
            if name in self._busy:
                raise ExprError(Diagnostic("E201", f"constant `{name}` is defined in terms of itself", e.span))
            self._busy.add(name)
            try:
                value = self.overrides.get(name) or self.consts[name].value
                return evaluate(value, self._lookup)
            finally:
                self._busy.discard(name)
        return Sym(name, e.span)

    def fold(self, e: ir.Expr, task_code: str = "E213") -> object:
        """e's value; a `task.*` size in it is task_code (E208 in a loop's range, E213 in a name)."""
        self._task_code = task_code
        try:
            return evaluate(e, self._lookup)
        except ExprError as ex:
            self.error(ex.diag.code, ex.diag.message, ex.diag.span, ex.diag.hint)
            raise _Failed from None

    def settle(self, e: ir.Expr) -> ir.Expr:
        """A value bound to a variable or parameter, folded to a number where it is one (`x * 2`
        with x = 3 is 6), so that nested uses do not copy ever larger expressions and the notes
        read `n = 6`.  Anything else (a name, a call, what needs the task's sizes) stays as written."""
        if isinstance(e, (ir.Num, ir.Name, ir.Str)):
            return e
        if isinstance(e, ir.ListExpr):
            return e.model_copy(update={"items": [self.settle(i) for i in e.items]})
        self._task_code = "E213"
        try:
            v = evaluate(e, self._lookup)
        except ExprError:
            return e  # reported, if it is a mistake, where it is used
        return ir.Num(value=v.value, dims=tuple(v.dims), span=e.span) if isinstance(v, Q) else e

    def whole(self, e: ir.Expr, what: str, frame) -> int:
        v = self.fold(e, "E208")
        if isinstance(v, Sym):
            self.error("E207", f"unknown name `{v.name}` in {what}", v.span, "a loop variable, a stage parameter or a constant")
            raise _Failed
        if not isinstance(v, Q) or tuple(v.dims) != (0, 0, 0) or v.value != int(v.value):
            self.error("E208", f"{what} must be a whole number, not {show(e)}", e.span)
            raise _Failed
        return int(v.value)

    # ---- copies

    def _at(self, span: Span, frame) -> Span:
        return span.model_copy(update={"via": frame.via}) if frame is not None and span is not None else span

    def interpolate(self, text: str, span: Span, env: dict, frame) -> str:
        """A name with `{expr}` parts, built."""
        def part(m: re.Match) -> str:
            src = m.group(1)
            try:
                e = _parse_part(src)
            except SpecError:
                self.error("E213", f"`{{{src}}}` in `{text}` is not an expression", span)
                raise _Failed from None
            e = _respan(e, span)
            free = [n.id for n in ir.names_in(e) if n.id not in env and n.id not in self.consts and n.id not in self.overrides]
            if free:
                bound = sorted(k for k in env)
                hint = suggest(free[0], [*bound, *self.consts])
                if free[0] == "prev":
                    hint = "`prev` is bound in a loop with a start: `for c in [64, 128] from pixels { ... }`"
                self.error("E207", f"unknown name `{free[0]}` in `{text}`", span,
                           hint or ("the names here: " + ", ".join(bound) if bound else
                                    "`{...}` in a name uses loop variables, stage parameters and constants"))
                raise _Failed
            v = self.copy(e, env, frame)
            if isinstance(v, ir.Name):
                return v.id
            if isinstance(v, ir.Str):
                return v.value
            if isinstance(v, ir.ListExpr):
                self.error("E213", f"`{{{src}}}` in `{text}` is a list, {show(v)}", span, "a name's part is a name or a whole number")
                raise _Failed
            q = self.fold(v)
            if not isinstance(q, Q) or tuple(q.dims) != (0, 0, 0) or q.value != int(q.value) or q.value < 0:
                self.error("E213", f"`{{{src}}}` in `{text}` is {show(v) if not isinstance(q, Q) else f'{q.value:g}'}, "
                           "not a name or a whole number >= 0", span, "a name's part is a name or a whole number")
                raise _Failed
            return str(int(q.value))

        out = _PART.sub(part, text)
        if not _NAME.fullmatch(out):
            self.error("E213", f"`{text}` gives `{out}`, which is not a name", span,
                       "a name starts with a letter or `_`: `layer{i}`, not `{i}`")
            raise _Failed
        return out

    def copy(self, obj, env: dict, frame: _Frame | None):
        if isinstance(obj, Span):
            return self._at(obj, frame)
        if isinstance(obj, ast.Ident):
            span = self._at(obj.span, frame)
            if "{" in obj.name:
                return ast.Ident(self.interpolate(obj.name, span, env, frame), span)
            value = env.get(obj.name)
            return ast.Ident(value.id if isinstance(value, ir.Name) else obj.name, span)
        if isinstance(obj, ir.Name):
            span = self._at(obj.span, frame)
            if "{" in obj.id:
                return obj.model_copy(update={"id": self.interpolate(obj.id, span, env, frame), "span": span})
            if obj.id in env:
                return _respan(env[obj.id], span)
            return obj.model_copy(update={"span": span})
        if isinstance(obj, BaseModel):
            update = {k: self.copy(getattr(obj, k), env, frame) for k in type(obj).model_fields}
            if isinstance(obj, ir.Call) and "{" in obj.func:
                update["func"] = self.interpolate(obj.func, update["span"], env, frame)
            return obj.model_copy(update=update)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.replace(obj, **{f.name: self.copy(getattr(obj, f.name), env, frame)
                                               for f in dataclasses.fields(obj) if f.init})
        if isinstance(obj, list):
            return [self.copy(x, env, frame) for x in obj]
        if isinstance(obj, tuple):
            return tuple(self.copy(x, env, frame) for x in obj)
        return obj

    # ---- names made twice

    def _unique(self, stmts: list) -> list:
        """A name an expansion defines twice is E212 (the second copy is left out); duplicates
        written out by hand are left to the elaborator's E202."""
        first: dict[str, ast.Ident] = {}
        out = []
        for st in stmts:
            ident = getattr(st, "name", None)
            if not isinstance(ident, ast.Ident):
                out.append(st)
                continue
            prior = first.get(ident.name)
            if prior is not None and (prior.span.via or ident.span.via):
                where = lambda s: s.via or f"at line {s.line}"  # noqa: E731
                hint = "give each copy its own name with a `{...}` part: `conv{i}`"
                self.error("E212", f"`{ident.name}` is defined twice: {where(prior.span)} (line {prior.span.line}) "
                           f"and {where(ident.span)}", ident.span, hint)
                continue
            first.setdefault(ident.name, ident)
            out.append(st)
        return out


REPETITION = (ast.ForLoop, ast.StageDef, ast.UseStage)


def expand(module: ast.Module, const_overrides: dict[str, ir.Expr] | None = None) -> tuple[ast.Module, list[Diagnostic]]:
    """The module with its loops and stage uses copied out, and the diagnostics found.  A module
    without them, and without a `{...}` name, is returned as it is."""
    if not any(isinstance(s, REPETITION) for s in module.stmts) and not any("{" in n for n in _names(module.stmts)):
        return module, []
    ex = Expander(module, dict(const_overrides or {}))
    return ex.run(), ex.diags


def _names(obj):
    """Every identifier, expression name and called function's name in obj."""
    if isinstance(obj, ast.Ident):
        yield obj.name
    elif isinstance(obj, ir.Name):
        yield obj.id
    elif isinstance(obj, BaseModel):
        if isinstance(obj, ir.Call):
            yield obj.func
        for c in ir.children(obj):
            yield from _names(c)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _names(getattr(obj, f.name))
    elif isinstance(obj, list):
        for x in obj:
            yield from _names(x)
