"""The `train <rule> { }` block -> the rule's settings model (snndsl/settings.py): each folded
value converted to its field's type, `optimizer.lr`-style keys from --set, cross-field rules."""

from __future__ import annotations

import typing

from pydantic import ValidationError

from ..diagnostics import suggest
from ..settings import RULES, SURROGATE_PARAM, Optimizer, Surrogate, problems
from ..syntax import ast
from .bodies import block_kind, settings
from .context import Context
from .expr import CallV, StrV, Sym, err
from .scope import as_bool, as_int, as_number, as_symbol


def elaborate_train(ctx: Context, blk: ast.Block | None):
    """The rule's settings model; a setting that fails to convert is reported and left at its default."""
    rule = block_kind(ctx, blk, list(RULES), "learning rule", "rules") if blk is not None else None
    if rule is None:
        return None
    model = RULES[rule]
    fields = {k: f for k, f in model.model_fields.items() if k not in ("rule", "span")}
    dotted, whole = [], []  # `optimizer.lr = ...` (from --set) sets one field of a grouped setting
    for it in blk.items:
        group, dot, _ = it.key.name.partition(".") if isinstance(it, ast.Setting) else ("", "", "")
        (dotted if dot and group in GROUPED and group in fields else whole).append(it)
    s = settings(ctx, whole, list(fields), f"train {rule}")
    values, spans = {}, {}
    for k, (v, it) in s.items():
        x = ctx.rep.run(convert, v, k, fields[k].annotation, ctx.scope.names())
        if x is not None:
            values[k], spans[k] = x, it.value.span
    for it in dotted:
        group, _, name = it.key.name.partition(".")
        v = ctx.eval(it.value)
        base = values.get(group, fields[group].default)
        x = None if v is None else ctx.rep.run(_set_field, base, name, v, it.key.span)
        if x is not None:
            values[group], spans[group] = x, it.value.span
    try:  # a setting that failed to convert was reported and is left at its default
        return model(rule=rule, span=blk.span, **values)
    except ValidationError as e:  # worded as the runtime words the same problem in a --set
        for key, _, msg, hint in problems(e, "train."):
            if key is None:  # a rule across settings: point at the ones set in the spec
                span = next((spans[k] for k in ("population", "eval_copies") if k in spans), blk.kind.span)
                ctx.error("E401", f"train {rule}: {msg}", span, hint)
            else:
                ctx.error("E401", msg, spans.get(key.split(".")[1], blk.kind.span), hint)
        return model(rule=rule, span=blk.span)


def convert(v, key: str, annotation, names=()):
    """A folded value -> the Python value a settings field wants."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        if isinstance(v, Sym) and v.name == "none":
            return None
        annotation = next(a for a in args if a is not type(None))
        return convert(v, key, annotation, names)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and {int, str} <= set(args):
        # a count or a word (`devices = 4`, `devices = all`); the settings model checks which words
        return v.name if isinstance(v, Sym) else as_int(v, key, names)
    if annotation is bool:
        return as_bool(v, key)
    if annotation is int:
        return as_int(v, key, names)
    if annotation is float:
        return as_number(v, key, names=names)
    if annotation is str:
        if isinstance(v, StrV):
            return v.value
        if isinstance(v, Sym):
            return v.name
        raise err("E404", f"{key} must be a string", getattr(v, "span", None))
    if origin is typing.Literal:
        return as_symbol(v, key, args)
    if annotation is Surrogate:
        return _surrogate(v)
    if annotation is Optimizer:
        return _optimizer(v)
    raise err("E404", f"cannot read {key}", getattr(v, "span", None))


GROUPED = ("optimizer", "surrogate")  # settings with fields of their own: train.optimizer.lr


def _set_field(base, name: str, v, span):
    """A copy of an Optimizer or Surrogate with one field set, checked like the whole setting."""
    if isinstance(base, Surrogate):
        pname = SURROGATE_PARAM[base.family][0]
        if name == "family":  # another family, with its default parameter
            return _surrogate(v)
        if name not in (pname, "scale"):
            raise err("E203", f"surrogate {base.family}() has no field `{name}`", span, f"its parameter is `{pname}`")
        return _surrogate(CallV(base.family, [v], {}, getattr(v, "span", span)))
    fields = list(Optimizer.model_fields)
    if name not in fields:
        raise err("E203", f"optimizer has no field `{name}`", span, suggest(name, fields) or f"fields: {', '.join(fields)}")
    x = convert(v, name, Optimizer.model_fields[name].annotation)
    try:
        return Optimizer(**{**base.model_dump(), name: x})
    except ValidationError as e:
        _, code, msg, hint = problems(e, "train.optimizer.")[0]
        raise err(code, msg, getattr(v, "span", span), hint) from None


def _surrogate(v) -> Surrogate:
    families = list(SURROGATE_PARAM)
    name = v.name if isinstance(v, Sym) else v.func if isinstance(v, CallV) else None
    if name not in SURROGATE_PARAM:
        raise err("E404", f"surrogate must be one of {', '.join(families)}", getattr(v, "span", None),
                  suggest(name or "", families))
    pname, default = SURROGATE_PARAM[name]
    scale = default
    if isinstance(v, CallV):
        if len(v.args) > 1 or (v.args and v.kwargs):
            raise err("E305", f"{name}() takes one argument, `{pname}`", v.span)
        for k in v.kwargs:
            if k != pname:
                raise err("E203", f"{name}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                          f"its parameter is `{pname}`")
        val = v.args[0] if v.args else v.kwargs.get(pname)
        if val is not None:
            scale = as_number(val, pname)
            if scale <= 0:
                raise err("E401", f"{pname} must be positive", v.span)
    return Surrogate(family=name, scale=scale)


def _optimizer(v) -> Optimizer:
    names = ["adam", "adamw", "sgd"]
    name = v.name if isinstance(v, Sym) else v.func if isinstance(v, CallV) else None
    if name not in names:
        raise err("E404", f"optimizer must be one of {', '.join(names)}", getattr(v, "span", None),
                  suggest(name or "", names))
    kw = {}
    if isinstance(v, CallV):
        if len(v.args) > 1:
            raise err("E305", f"{name}() takes the learning rate by position, the rest by name", v.span)
        if v.args:
            kw["lr"] = as_number(v.args[0], "lr")
        fields = [f for f in Optimizer.model_fields if f != "name"]
        for k, x in v.kwargs.items():
            if k not in fields:
                raise err("E203", f"{name}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                          suggest(k, fields) or f"arguments: {', '.join(fields)}")
            kw[k] = convert(x, k, Optimizer.model_fields[k].annotation)
    try:
        return Optimizer(name=name, **kw)
    except ValidationError as e:
        er = e.errors()[0]
        raise err("E401", f"{name}(): {er['loc'][0]} {er['msg'].replace('Input should be', 'must be')}",
                  getattr(v, "span", None)) from None

