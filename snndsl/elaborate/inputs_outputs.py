"""`input name = Encoder(...)` -> ir.Input and `output name = Readout(source)` -> ir.Output; their
sizes default to the task's (observation or features in, action or classes out); without a task an
input needs `size` and an output takes its source's size."""

from __future__ import annotations

from .. import ir
from ..ir.tables import ARRAYS, DATASET_SHAPES, dataset_shape
from ..diagnostics import suggest
from ..syntax import ast
from . import units as U
from .bodies import body_values, bounds, head_kwargs, param_values
from .context import Context
from .expr import ListV, Sym
from .scope import as_int, as_number, as_symbol
from .visible_models import named_model


def elaborate_input(ctx: Context, d: ast.Declaration, task) -> ir.Input | None:
    enc = named_model(ctx, d.head, "encoder", f"input `{d.name.name}`")
    if enc is None:
        return None
    if isinstance(d.head, ir.Call) and d.head.args:
        ctx.error("E305", "encoder parameters are passed by name: `poisson(max_rate = 200 Hz)`", d.head.args[0].span)
    params = {p.name: p.value for p in enc.params}
    kwargs = head_kwargs(ctx, d.head)
    normalize = "none"
    in_size = given_shape = shape_span = None
    for it, v in body_values(ctx, d.items, f"input `{d.name.name}`", "an input body holds settings"):
        if it.key.name == "normalize":
            if isinstance(v, Sym) and v.name in ("true", "false"):
                normalize = "running" if v.name == "true" else "none"
            else:
                normalize = ctx.rep.run(as_symbol, v, "normalize", ("running", "none")) or normalize
        elif it.key.name == "size" and isinstance(v, ListV):  # `size = [C, H, W]`: an image without a task
            from .populations import _shape

            given_shape = _shape(ctx, v)
            if given_shape is None:
                return None
            in_size = given_shape[0] * given_shape[1] * given_shape[2]
            shape_span = it.value.span
        elif it.key.name == "size":
            in_size = ctx.rep.run(as_int, v, "size")
        else:
            kwargs.append((it.key.name, v, it.key.span))
    _model_params(ctx, enc, "encoder", kwargs, ["normalize", "size"], params, f"input `{d.name.name}`")
    if in_size is None:
        if task is None:
            given = any(it.key.name == "size" for it in d.items if isinstance(it, ast.Setting))
            if ctx.task_block is None and not given:  # no task to take the size from (a failed task block is reported)
                ctx.error("E206", f"input `{d.name.name}` needs `size = N`: the spec has no task to take it from",
                          d.name.span, f"write `input {d.name.name} = {enc.name} {{ size = 4 }}`, or add a `task` block")
            return None
        in_size = task.obs if isinstance(task, ir.BraxTask) else task.features
    if in_size < 1:
        ctx.error("E403", "input size must be positive", d.span)
        return None
    shape = _image_shape(task, enc, in_size)
    if given_shape is not None:
        if enc.size_factor != 1:
            ctx.error("E205", f"`{enc.name}` changes the input's size, so the input cannot have a shape", shape_span,
                      f"write `size = {in_size}`, or use the `current` encoder")
            return None
        if shape is not None and shape != given_shape:
            ctx.error("E501", f"the task's images are {list(shape)}, not {list(given_shape)}", shape_span,
                      f"write `size = {list(shape)}`, or leave `size` out")
            return None
        shape = given_shape
    return ir.Input(name=d.name.name, encoder=enc.name, params=params, in_size=in_size,
                    size=in_size * enc.size_factor, normalize=normalize, shape=shape, span=d.span)


def _image_shape(task, enc, in_size: int):
    """An image task's (C, H, W), when the input carries one value per pixel and channel."""
    dataset = getattr(task, "dataset", None)
    # an event dataset's frames are `size` x `size` when downsampled; a user's arrays have their `shape`
    shape = task.shape if dataset == ARRAYS else dataset_shape(dataset, task.size) if dataset in DATASET_SHAPES else None
    if shape is None or enc.size_factor != 1 or shape[0] * shape[1] * shape[2] != in_size:
        return None
    return shape


def _model_params(ctx: Context, model, kind: str, kwargs, own_keys: list[str], params: dict, what: str) -> None:
    """Report the keyword arguments that are not the model's parameters; set those that are."""
    for k, v, s in kwargs:
        if not any(p.name == k for p in model.params):
            ctx.error("E204", f"{kind} `{model.name}` has no parameter `{k}`", s,
                      suggest(k, [p.name for p in model.params] + own_keys))
    param_values(ctx, model, [kw for kw in kwargs if any(p.name == kw[0] for p in model.params)], params, what)


def elaborate_output(ctx: Context, d: ast.Declaration, task) -> ir.Output | None:
    ro = named_model(ctx, d.head, "readout", f"output `{d.name.name}`")
    if ro is None:
        return None
    head = d.head
    if not isinstance(head, ir.Call) or not head.args or not isinstance(head.args[0], ir.Name):
        ctx.error("E206", f"output `{d.name.name}` needs the population it reads", head.span,
                  f"write `{ro.name}(hidden)`")
        return None
    src = head.args[0]
    if src.id in ctx.broken:
        return None
    if src.id in ctx.inputs:
        ctx.error("E205", f"`{src.id}` is an input; an output reads a population or a group", src.span,
                  suggest(src.id, [*ctx.pops, *ctx.groups]))
        return None
    if src.id not in ctx.pops and src.id not in ctx.groups:
        ctx.error("E201", f"undefined population `{src.id}`", src.span, suggest(src.id, [*ctx.pops, *ctx.groups]))
        return None
    if len(head.args) > 1:
        ctx.error("E305", f"a readout takes one population: `{ro.name}({src.id})`", head.args[1].span,
                  f"set readout parameters by name: `{ro.name}({src.id}, tau = 10 ms)` or in the body")
        return None
    params = {p.name: p.value for p in ro.params}
    kwargs = head_kwargs(ctx, head)
    clip = None
    size = None
    for it, v in body_values(ctx, d.items, f"output `{d.name.name}`", "an output body holds settings"):
        if it.key.name == "clip":
            clip = _clip(ctx, v, it)
        elif it.key.name == "size":
            size = ctx.rep.run(as_int, v, "size")
            if size is not None and size < 1:
                ctx.error("E403", f"output size must be positive, not {size}", it.value.span)
                return None
        else:
            kwargs.append((it.key.name, v, it.key.span))
    _model_params(ctx, ro, "readout", kwargs, ["clip", "size"], params, f"output `{d.name.name}`")
    if not _reads_what_source_has(ctx, ro, src, head):
        return None
    if size is None and task is None and ctx.task_block is None:
        size = ctx.size(src.id)  # no task: the output carries its source's values
    if size is None:
        if task is None:
            return None
        size = task.action if isinstance(task, ir.BraxTask) else task.classes
    return ir.Output(name=d.name.name, readout=ro.name, source=src.id, params=params, size=size, clip=clip,
                     span=d.span)


def _clip(ctx: Context, v, it: ast.Setting) -> tuple[float, float] | None:
    """`clip = [low, high]` or `clip = c` (meaning [-c, c])."""
    if isinstance(v, ListV):
        return bounds(ctx, (v, it), U.DIMENSIONLESS)
    c = ctx.rep.run(as_number, v, "clip")
    if c is None:
        return None
    if c <= 0:
        ctx.error("E401", "clip must be positive", it.value.span)
        return None
    return (-c, c)


def _reads_what_source_has(ctx: Context, ro: ir.ReadoutModel, src: ir.Name, head: ir.Expr) -> bool:
    """The readout may read the source's state variables, and spikes only from a spiking source."""
    model = ctx.models.get(ctx.pops[ctx.members(src.id)[0]].model)
    if model is None:
        return True
    exprs = [ro.value] + [o.rhs for o in ro.odes]
    for n in (n for e in exprs for n in ir.names_in(e) if n.ref == "source"):
        if model.state(n.id) is None:
            ctx.error("E204", f"readout `{ro.name}` reads `{n.id}`, but `{model.name}` has no state `{n.id}`",
                      head.span, suggest(n.id, [s.name for s in model.states]))
            return False
    if "s" in {n.id for e in exprs for n in ir.names_in(e)} and not model.spiking:
        ctx.error("E502", f"readout `{ro.name}` reads spikes, but `{model.name}` does not spike", head.span,
                  "read a non-spiking layer with `membrane`")
        return False
    return True
