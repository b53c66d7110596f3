"""Reading declaration bodies and heads: `key = value` settings, repeated items, `[low, high]`
bounds, parameter values set on a model's instance, keyword arguments in a head."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ir
from ..diagnostics import Span, suggest
from ..syntax import ast
from .expr import ListV
from .scope import as_number

if TYPE_CHECKING:  # context.py imports task.py, which imports this module
    from .context import Context


def settings(ctx: Context, items, allowed, what: str) -> dict[str, tuple[object, ast.Setting]]:
    """Fold `key = value` items; report unknown keys, duplicates and anything else in the body."""
    out: dict[str, tuple[object, ast.Setting]] = {}
    for it in items:
        if not isinstance(it, ast.Setting):
            ctx.error("E205", f"not allowed in {what}", it.span, f"{what} holds `key = value` settings")
            continue
        k = it.key.name
        if k not in allowed:
            _unknown_setting(ctx, it, allowed, what)
            continue
        if k in out and not it.from_command_line:
            ctx.error("E202", f"`{k}` is set twice in {what}", it.key.span)
            continue
        v = ctx.eval(it.value)
        if v is not None:
            out[k] = (v, it)
    return out


def _unknown_setting(ctx: Context, it: ast.Setting, allowed, what: str) -> None:
    k = it.key.name
    if it.from_command_line:  # `--set train.popsize=3`: answer in the same dotted form
        head = what.split()[0]
        keys = [f"{head}.{a}" for a in allowed]
        close = suggest(k, allowed)
        close = close and close.replace("`", f"`{head}.", 1)
        prefixed = [f"`{head}.{a}`" for a in allowed if len(k) >= 3 and a.startswith(k[:3])]
        if not close and prefixed:
            close = f"did you mean {' or '.join(prefixed)}?"
        ctx.error("E203", f"unknown key `{head}.{k}`: no setting `{k}` in {what}", it.key.span,
                  close or f"known keys: {', '.join(keys)}")
        return
    ctx.error("E203", f"unknown setting `{k}` in {what}", it.key.span,
              suggest(k, allowed) or f"known settings: {', '.join(allowed)}")


def block_kind(ctx: Context, blk: ast.Block, known, what: str, listed: str) -> str | None:
    """The kind a `task <kind>` or `train <rule>` block names; None (E201) if it is not one of known."""
    kind = blk.kind.name
    if kind not in known:
        ctx.error("E201", f"unknown {what} `{kind}`", blk.kind.span,
                  suggest(kind, known) or f"{listed}: {', '.join(known)}")
        return None
    return kind


def body_values(ctx: Context, items: list, what: str, holds: str):
    """(item, folded value) for each `key = value` of a declaration body, each key once; anything
    else in the body is E205 (`holds` says what belongs there)."""
    for it in unique_items(ctx, items, what):
        if not isinstance(it, ast.Setting):
            ctx.error("E205", holds, it.span)
            continue
        v = ctx.eval(it.value)
        if v is not None:
            yield it, v


def unique_items(ctx: Context, items: list, what: str) -> list:
    """The items of a declaration body without repeats: a setting or a `learn` given twice is E202
    (the first one counts)."""
    seen, out = set(), []
    for it in items:
        if isinstance(it, ast.Setting):
            key, shown, span = ("set", it.key.name), f"`{it.key.name}`", it.key.span
        elif isinstance(it, ast.LearnDecl):
            key, shown, span = ("learn", it.target.name), f"`learn {it.target.name}`", it.span
        else:
            out.append(it)
            continue
        if key in seen:
            ctx.error("E202", f"{shown} is given twice in {what}", span, "keep one")
            continue
        seen.add(key)
        out.append(it)
    return out


def bounds(ctx: Context, sv, dims) -> tuple[float, float] | None:
    """A `[low, high]` setting (value, item) as numbers in base units, low < high."""
    v, it = sv
    if not isinstance(v, ListV) or len(v.items) != 2:
        ctx.error("E404", "bounds must be a list `[low, high]`", it.value.span)
        return None
    lo = ctx.rep.run(as_number, v.items[0], "the lower bound", dims)
    hi = ctx.rep.run(as_number, v.items[1], "the upper bound", dims)
    if lo is None or hi is None:
        return None
    if lo >= hi:
        ctx.error("E401", f"bounds [{lo:g}, {hi:g}] are empty: the lower bound must be below the upper",
                  it.value.span)
        return None
    return (lo, hi)


def param_values(ctx: Context, model, items_kw: list[tuple[str, object, Span]], params_out: dict[str, float],
                 what: str) -> None:
    """Set the model parameters given as (name, value, span) in params_out, checking names and units."""
    for key, v, span in items_kw:
        p = next((p for p in model.params if p.name == key), None)
        if p is None:
            ctx.error("E204", f"{what}: `{model.name}` has no parameter `{key}`", span,
                      suggest(key, [q.name for q in model.params]))
            continue
        x = ctx.rep.run(as_number, v, f"`{key}`", p.dims, ctx.scope.names())
        if x is not None:
            params_out[key] = x


def head_kwargs(ctx: Context, head: ir.Expr) -> list[tuple[str, object, Span]]:
    """The folded keyword arguments of a declaration head `Model(k = v, ...)`."""
    out = []
    if isinstance(head, ir.Call):
        for k in head.kwargs:
            v = ctx.eval(k.value)
            if v is not None:
                out.append((k.name, v, k.span))
    return out
