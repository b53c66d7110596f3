"""`--set KEY=VALUE` overrides: parsed from the command line, then applied without touching the
AST.  A `train.`/`task.`/`time.` key replaces that setting in a copy of its block; a constant's
name goes into its scope's override table, which folding consults first."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from snndsl_runtime import settings as runtime_settings

from .. import ir
from ..diagnostics import Diagnostic, Span, suggest
from ..settings import RULES
from ..syntax import ast
from .context import Context
from .time import TIME_KEYS


@dataclass
class Override:
    """One `--set KEY=VALUE`; spans point into the reconstructed command line."""

    key: str
    value: ir.Expr
    key_span: Span


# task settings that hold text (a path, an environment's name): a --set value for them is not an expression
TEXT_KEYS = {f"task.{name}" for model in runtime_settings.TASKS.values() for name, f in model.model_fields.items()
             if f.annotation is str or str in typing.get_args(f.annotation)}


def parse_overrides(pairs: list[str]) -> tuple[list[Override], str, list[Diagnostic]]:
    """Parse `KEY=VALUE` strings.  Returns overrides, the command-line text, and diagnostics."""
    from ..diagnostics import SpecError
    from ..syntax.parser import parse_expr

    text, out, diags = "", [], []
    for pair in pairs:
        start = len(text) + len("--set ") + 1
        text += f"--set {pair} "
        key, eq, value = pair.partition("=")
        kspan = Span(file="<command line>", line=1, col=start, end_line=1, end_col=start + len(key))
        if not eq or not key:
            diags.append(Diagnostic("E203", f"`--set {pair}` needs the form KEY=VALUE", kspan,
                                    "for example `--set train.population=64`"))
            continue
        vcol = start + len(key) + 1
        vspan = Span(file="<command line>", line=1, col=vcol, end_line=1, end_col=vcol + max(1, len(value)))
        if "\n" in value or "\r" in value:
            diags.append(Diagnostic("E404", f"the value of `--set {key}` holds a line break", vspan,
                                    "a --set value is one line"))
            continue
        if key in TEXT_KEYS:  # a path or a name is taken as written: `--set task.path=data/mnist`
            out.append(Override(key, ir.Str(value=value.strip().strip('"'), span=vspan), kspan))
            continue
        try:
            expr = _shift(parse_expr(value), vcol - len("const _ = ") - 1)
            if isinstance(expr, ir.Name) and expr.id not in ("true", "false"):
                expr = ir.Name(id=expr.id, span=expr.span)
        except SpecError as e:
            if e.diagnostics[0].code == "E004":  # too deep to be read as anything: say so, at its place
                diags.append(dataclasses.replace(e.diagnostics[0], span=vspan))
                continue
            expr = ir.Str(value=value, span=vspan)
        out.append(Override(key, expr, kspan))
    return out, text[:-1], diags  # drop the last separator only: an empty `--set ""` keeps its column


def _shift(e, dcol: int):
    """Move an expression parsed from `const _ = VALUE` onto the command line."""
    def fix(d):
        if isinstance(d, dict):
            out = {k: fix(v) for k, v in d.items()}
            sp = out.get("span")
            if isinstance(sp, dict):
                out["span"] = {**sp, "col": sp["col"] + dcol, "end_col": (sp.get("end_col") or sp["col"]) + dcol}
            return out
        if isinstance(d, list):
            return [fix(x) for x in d]
        return d

    from pydantic import TypeAdapter

    return TypeAdapter(ir.Expr).validate_python(fix(e.model_dump()))


def apply_overrides(ctx: Context, blocks: list[ast.Block], overrides: list[Override]) -> list[ast.Block]:
    """The spec's blocks with the overrides applied, as new Block objects (the AST is not changed).

    A setting goes into the last block of its keyword, replacing the spec's own; `time.` keys on a
    spec without a `time` block get a new one.  Constants are overridden in ctx.scope.
    """
    out = list(blocks)
    last = {b.keyword: i for i, b in enumerate(out)}
    for ov in overrides:
        head, _, rest = ov.key.partition(".")
        setting = ast.Setting(ast.Ident(rest, ov.key_span), ov.value, ov.key_span, from_command_line=True)
        if head in ("train", "task", "time") and rest:
            if head not in last:
                if head != "time":
                    ctx.error("E203", f"the spec has no `{head}` block to set `{rest}` in", ov.key_span)
                    continue
                out.append(ast.Block("time", None, [], ov.key_span))
                last["time"] = len(out) - 1
            blk = out[last[head]]
            kept = [i for i in blk.items if not (isinstance(i, ast.Setting) and i.key.name == rest)]
            out[last[head]] = dataclasses.replace(blk, items=kept + [setting])
        elif (head == "const" and rest in ctx.scope.consts) or (not rest and head in ctx.scope.consts):
            ctx.scope.overrides[rest or head] = ov.value
        else:
            _unknown_key(ctx, ov, out)
    return out


def _unknown_key(ctx: Context, ov: Override, blocks: list[ast.Block]) -> None:
    keys = ["train.<setting>", "task.<setting>", "time.<setting>", *ctx.scope.consts]
    rule = next((b for b in reversed(blocks) if b.keyword == "train"), None)
    if rule is not None and rule.kind and rule.kind.name in RULES:
        keys += [f"train.{f}" for f in RULES[rule.kind.name].model_fields if f not in ("rule", "span")]
    keys += [f"time.{k}" for k in TIME_KEYS]
    ctx.error("E203", f"unknown key `{ov.key}`", ov.key_span,
              suggest(ov.key, keys) or "keys look like `train.population`, `task.episode_length`, "
              "`time.dt`, or a constant's name")
