"""The `task <kind> { }` block -> ir.BraxTask or ir.DatasetTask, and the sizes a task provides to
constants (`task.obs`, `task.action`, `task.features`, `task.classes`)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from snndsl_runtime.errors import RunError
from snndsl_runtime.tasks.arrays import SHAPE_NODE, describe

from .. import ir
from ..ir.tables import (ARRAYS, ARRAYS_LAYOUTS, AUGMENT_KEYS, BRAX_BACKENDS, BRAX_ENVS, BRAX_KEYS, CIFAR100_LABELS,
                         DATASET_SHAPES, DATASET_SIZES, TASK_KINDS, dataset_keys, dataset_shape)
from ..syntax import ast
from .bodies import block_kind, settings
from .expr import ExprError, ListV, StrV, Sym
from .scope import ConstScope, as_bool, as_int, as_number, as_symbol

if TYPE_CHECKING:  # context.py imports this module
    from .context import Context


def task_sizes(scope: ConstScope, blk: ast.Block | None, spec_dir: Path = Path(".")) -> dict:
    """The sizes of the task the block names, or {} while it names none (or an unknown one)."""
    if blk is None or blk.kind is None:
        return {}
    kind = blk.kind.name
    if kind == ARRAYS:
        it = next((i for i in blk.items if isinstance(i, ast.Setting) and i.key.name == "path"), None)
        path = _raw_setting(scope, blk, "path")
        classes = _raw_setting(scope, blk, "classes")
        shape, layout = _raw_setting(scope, blk, "shape"), _raw_setting(scope, blk, "layout")
        if not isinstance(path, StrV):
            return {}
        try:
            shape = tuple(as_int(d, "shape") for d in shape.items) if isinstance(shape, ListV) else None
            layout = as_symbol(layout, "layout", ARRAYS_LAYOUTS) if layout is not None else ARRAYS_LAYOUTS[0]
            info = _describe(arrays_path(path.value, it, spec_dir), as_int(classes, "classes") if classes else None,
                             shape, layout)
        except (RunError, ExprError):  # reported by elaborate_task
            return {}
        return {"features": info.features, "classes": info.classes, "obs": info.features, "action": None}
    if kind == "brax":
        env = _raw_setting(scope, blk, "env")
        name = env.value if isinstance(env, StrV) else env.name if isinstance(env, Sym) else None
        if name in BRAX_ENVS:
            obs, act = BRAX_ENVS[name]
            return {"obs": obs, "action": act, "classes": None, "features": None}
    elif kind in DATASET_SIZES:
        size, labels = _raw_setting(scope, blk, "size"), _raw_setting(scope, blk, "labels")
        try:
            size = as_int(size, "size") if size is not None and "size" in dataset_keys(kind) else None
        except ExprError:  # reported by elaborate_task
            size = None
        labels = labels.name if isinstance(labels, Sym) else labels.value if isinstance(labels, StrV) else "fine"
        f, c = _dataset_sizes(kind, size if size and size >= 1 else None, labels)
        return {"features": f, "classes": c, "obs": f, "action": None}
    return {}


def _dataset_sizes(kind: str, size: int | None, labels: str = "fine") -> tuple[int, int]:
    """(features, classes) of a built-in dataset: an event dataset's features at `size` x `size`,
    CIFAR-100's classes by its `labels`."""
    f, c = DATASET_SIZES[kind]
    if size is not None:
        ch, _, _ = dataset_shape(kind, size)
        f = ch * size * size
    if kind == "cifar100":
        c = CIFAR100_LABELS.get(labels, c)
    return f, c


def _raw_setting(scope: ConstScope, blk: ast.Block, key: str):
    """The folded value of the block's first `key = ...`, or None (errors are reported elsewhere)."""
    for it in blk.items:
        if isinstance(it, ast.Setting) and it.key.name == key:
            try:
                return scope.eval(it.value)
            except ExprError:
                return None
    return None


def arrays_path(path: str, it: ast.Setting | None, spec_dir: Path) -> str:
    """A dataset file named in the spec is found beside the spec; one from --set, from the working folder."""
    if it is not None and it.from_command_line:
        return os.path.abspath(path)
    return os.path.normpath(os.path.join(spec_dir.resolve(), path))


def _describe(path: str, classes: int | None, shape=None, layout: str = ARRAYS_LAYOUTS[0]):
    """The file's header, read once per compile while the file is unchanged."""
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    return _describe_cached(path, classes, shape, layout, stamp)


@functools.lru_cache(maxsize=16)
def _describe_cached(path: str, classes: int | None, shape, layout: str, stamp):
    return describe(path, classes, shape=shape, layout=layout)


def elaborate_task(ctx: Context, blk: ast.Block | None) -> ir.BraxTask | ir.DatasetTask | None:
    kind = block_kind(ctx, blk, TASK_KINDS, "task", "tasks") if blk is not None else None
    if kind is None:
        return None
    if kind == "brax":
        return _brax(ctx, blk)
    return _dataset(ctx, blk, kind)


def reconcile_steps(ctx: Context, task, time: ir.Time, time_blk: ast.Block | None) -> ir.Time:
    """Temporal arrays define the time steps per sample; a `steps` the spec sets must agree (E819)."""
    if not isinstance(task, ir.DatasetTask) or task.frames is None:
        return time
    it = next((i for i in reversed(time_blk.items) if isinstance(i, ast.Setting) and i.key.name == "steps"),
              None) if time_blk is not None else None
    if it is None:
        return time.model_copy(update={"steps": task.frames})
    if time.steps != task.frames:
        ctx.error("E819", f"steps = {time.steps}, but the dataset's samples have {task.frames} time steps",
                  it.value.span, f"drop `steps` (the data sets it) or make it {task.frames}")
    return time


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
        v = _bounded(ctx, s, "test_fraction", as_number, lambda v: 0 < v < 1, "test_fraction must be between 0 and 1")
        if v is None:
            return None
        vals["test_fraction"] = v
    if "validation" in s:
        v = _bounded(ctx, s, "validation", as_number, lambda v: 0 <= v < 1,
                     "validation must be at least 0 and below 1 (a fraction of the training set)")
        if v is None:
            return None
        vals["validation"] = v
    if kind == ARRAYS:
        return _arrays(ctx, blk, s, vals)
    if not _shape_settings(ctx, kind, s, vals):
        return None
    _, height, width = dataset_shape(kind, vals.get("size"))
    if not _augment_settings(ctx, s, vals, height, width):
        return None
    if kind == "cifar10_dvs":  # one recording folder per class, no test set of its own: a tenth held out
        vals.setdefault("test_fraction", 0.1)
    f, c = _dataset_sizes(kind, vals.get("size"), vals.get("labels", "fine"))
    return ir.DatasetTask(dataset=kind, features=f, classes=c, span=blk.span, **vals)


def _bounded(ctx: Context, s: dict, key: str, convert, valid, message, hint: str | None = None):
    """Setting `key` folded by `convert`; None after reporting it (E401, at its value, when `valid`
    fails; `message` may be a function of the value)."""
    v = ctx.rep.run(convert, s[key][0], key)
    if v is None:
        return None
    if not valid(v):
        ctx.error("E401", message(v) if callable(message) else message, s[key][1].value.span, hint)
        return None
    return v


def _shape_settings(ctx: Context, kind: str, s: dict, vals: dict) -> bool:
    """`labels` (cifar100) and `size` (event datasets) into vals; False after reporting a bad one."""
    if "labels" in s:
        v = ctx.rep.run(as_symbol, s["labels"][0], "labels", list(CIFAR100_LABELS))
        if v is None:
            return False
        vals["labels"] = v
    _, height, width = DATASET_SHAPES[kind]
    if "size" in s:
        v = _bounded(ctx, s, "size", as_int, lambda v: 1 <= v <= height,
                     f"size must be between 1 and {height}, the sensor's {height}x{width} pixels",
                     f"e.g. `size = {height // 4}`: {height // 4}x{height // 4} frames")
        if v is None:
            return False
        vals["size"] = v
    return True


def _augment_settings(ctx: Context, s: dict, vals: dict, height: int, width: int) -> bool:
    """`crop` and `flip` of a shaped dataset (images of height x width) into vals; False after
    reporting a bad one."""
    if "crop" in s:
        v = _bounded(ctx, s, "crop", as_int, lambda v: 0 <= v < min(height, width),
                     lambda v: f"crop pads each side by {v} pixels; it must be between 0 and "
                               f"{min(height, width) - 1} for {height}x{width} images",
                     "e.g. `crop = 4` on 32x32 images (0: no cropping)")
        if v is None:
            return False
        vals["crop"] = v
    if "flip" in s:
        v = ctx.rep.run(as_bool, s["flip"][0], "flip")
        if v is None:
            return False
        vals["flip"] = v
    return True


def _arrays(ctx: Context, blk: ast.Block, s: dict, vals: dict) -> ir.DatasetTask | None:
    """`task arrays { path = "data.npz" }`: the sizes from the file's header (and its labels)."""
    if "path" not in s:
        if not any(isinstance(i, ast.Setting) and i.key.name == "path" for i in blk.items):
            ctx.error("E206", "task arrays needs `path`, the .npz file of the data", blk.kind.span,
                      'e.g. `path = "data.npz"` (beside the spec), holding x_train, y_train, x_test, y_test')
        return None
    classes = None
    if "classes" in s:
        classes = ctx.rep.run(as_int, s["classes"][0], "classes")
        if classes is None:
            return None
        if classes < 1:
            ctx.error("E403", "classes must be at least 1", s["classes"][1].value.span)
            return None
    if not _arrays_shape(ctx, s, vals):
        return None
    it = s["path"][1]
    path = arrays_path(vals["path"], it, ctx.main.path.parent)
    try:
        info = _describe(path, classes, vals.get("shape"), vals.get("layout", ARRAYS_LAYOUTS[0]))
    except RunError as e:  # the file as the spec names it; a shape that does not fit it, at `shape`
        at = s["shape"][1] if e.node == SHAPE_NODE and "shape" in s else it
        ctx.error(e.code, e.message.replace(path, vals["path"]), at.value.span, e.hint)
        return None
    if not _arrays_augment(ctx, s, vals):
        return None
    n_val = round(vals.get("validation", 0.0) * info.n_train)
    if vals.get("validation") and not 1 <= n_val < info.n_train:
        ctx.error("E612", f"validation = {vals['validation']:g} of {info.n_train} training samples holds "
                          f"{n_val}: {'none' if n_val < 1 else 'every one'} of them",
                  s["validation"][1].value.span, "choose a fraction that leaves samples on both sides")
        return None
    vals["path"] = path
    return ir.DatasetTask(dataset=ARRAYS, features=info.features, classes=info.classes, frames=info.frames,
                          span=blk.span, **vals)


def _arrays_shape(ctx: Context, s: dict, vals: dict) -> bool:
    """`shape = [C, H, W]` and `layout` (the file's images) into vals; False after reporting a bad one."""
    if "shape" in s:
        v, it = s["shape"]
        dims = [ctx.rep.run(as_int, d, "a shape's size") for d in v.items] if isinstance(v, ListV) else None
        if dims is not None and None in dims:
            return False
        if dims is None or len(dims) != 3 or min(dims) < 1:
            ctx.error("E403", "shape is the images' [channels, height, width]: three positive whole numbers",
                      it.value.span, "e.g. `shape = [1, 28, 28]` for x of (N, 1, 28, 28)")
            return False
        vals["shape"] = tuple(dims)
    if "layout" in s:
        v = ctx.rep.run(as_symbol, s["layout"][0], "layout", ARRAYS_LAYOUTS)
        if v is None:
            return False
        vals["layout"] = v
    return True


def _arrays_augment(ctx: Context, s: dict, vals: dict) -> bool:
    """`layout`, `crop` and `flip`, which need the images' shape (checked against the file first)."""
    needs = [k for k in ("layout", *AUGMENT_KEYS) if k in s]
    if needs and "shape" not in vals:
        ctx.error("E206", f"`{needs[0]}` is for images, and the task has no `shape`", s[needs[0]][1].key.span,
                  "give the images' shape: `shape = [C, H, W]`, with x of (N, C, H, W)")
        return False
    if "shape" not in vals:
        return True
    _, height, width = vals["shape"]
    return _augment_settings(ctx, s, vals, height, width)
