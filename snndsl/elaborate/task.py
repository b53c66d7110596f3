"""The `task <kind> { }` block -> ir.BraxTask or ir.DatasetTask, and the sizes a task provides to
constants (`task.obs`, `task.action`, `task.features`, `task.classes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ir
from ..ir.tables import BRAX_BACKENDS, BRAX_ENVS, BRAX_KEYS, DATASET_SIZES, TASK_KINDS, dataset_keys
from ..syntax import ast
from .bodies import block_kind, settings
from .expr import ExprError, StrV, Sym
from .scope import ConstScope, as_int, as_number, as_symbol

if TYPE_CHECKING:  # context.py imports this module
    from .context import Context


def task_sizes(scope: ConstScope, blk: ast.Block | None) -> dict:
    """The sizes of the task the block names, or {} while it names none (or an unknown one)."""
    if blk is None or blk.kind is None:
        return {}
    kind = blk.kind.name
    if kind == "brax":
        env = _raw_setting(scope, blk, "env")
        name = env.value if isinstance(env, StrV) else env.name if isinstance(env, Sym) else None
        if name in BRAX_ENVS:
            obs, act = BRAX_ENVS[name]
            return {"obs": obs, "action": act, "classes": None, "features": None}
    elif kind in DATASET_SIZES:
        f, c = DATASET_SIZES[kind]
        return {"features": f, "classes": c, "obs": f, "action": None}
    return {}


def _raw_setting(scope: ConstScope, blk: ast.Block, key: str):
    """The folded value of the block's first `key = ...`, or None (errors are reported elsewhere)."""
    for it in blk.items:
        if isinstance(it, ast.Setting) and it.key.name == key:
            try:
                return scope.eval(it.value)
            except ExprError:
                return None
    return None


def elaborate_task(ctx: Context, blk: ast.Block | None) -> ir.BraxTask | ir.DatasetTask | None:
    kind = block_kind(ctx, blk, TASK_KINDS, "task", "tasks") if blk is not None else None
    if kind is None:
        return None
    if kind == "brax":
        return _brax(ctx, blk)
    return _dataset(ctx, blk, kind)


def _brax(ctx: Context, blk: ast.Block) -> ir.BraxTask | None:
    s = settings(ctx, blk.items, BRAX_KEYS, "task brax")
    vals = {}
    if "env" not in s:
        if not any(isinstance(i, ast.Setting) and i.key.name == "env" for i in blk.items):
            ctx.error("E206", "task brax needs `env`", blk.kind.span, 'e.g. `env = "hopper"`')
        return None
    env = ctx.rep.run(as_symbol, s["env"][0], "env", list(BRAX_ENVS))
    if env is None:
        # a name or string that is not an environment is E701; a number or list stays E404
        if isinstance(s["env"][0], (Sym, StrV)):
            d = ctx.rep.diags[-1]
            d.code, d.message = "E701", f"unknown Brax environment: {d.message.split('got ')[-1]}"
        return None
    vals["env"] = env
    if "backend" in s:
        b = ctx.rep.run(as_symbol, s["backend"][0], "backend", BRAX_BACKENDS)
        if b is None:
            if isinstance(s["backend"][0], (Sym, StrV)):
                ctx.rep.diags[-1].code = "E702"
            return None
        vals["backend"] = b
    for k in ("episode_length", "action_repeat"):
        if k in s:
            v = ctx.rep.run(as_int, s[k][0], k)
            if v is None:
                return None
            if v < 1:
                ctx.error("E401", f"{k} must be at least 1", s[k][1].value.span)
                return None
            vals[k] = v
    obs, act = BRAX_ENVS[env]
    return ir.BraxTask(obs=obs, action=act, span=blk.span, **vals)


def _dataset(ctx: Context, blk: ast.Block, kind: str) -> ir.DatasetTask | None:
    s = settings(ctx, blk.items, dataset_keys(kind), f"task {kind}")
    vals = {}
    if "path" in s:
        v, it = s["path"]
        if not isinstance(v, StrV):
            ctx.error("E404", "path must be a string", it.value.span, 'e.g. `path = "data/mnist"`')
            return None
        vals["path"] = v.value
    if "test_fraction" in s:
        v = ctx.rep.run(as_number, s["test_fraction"][0], "test_fraction")
        if v is None:
            return None
        if not 0 < v < 1:
            ctx.error("E401", "test_fraction must be between 0 and 1", s["test_fraction"][1].value.span)
            return None
        vals["test_fraction"] = v
    f, c = DATASET_SIZES[kind]
    return ir.DatasetTask(dataset=kind, features=f, classes=c, span=blk.span, **vals)
