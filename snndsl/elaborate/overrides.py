"""`--set KEY=VALUE` overrides: parsed from the command line, then applied without touching the
AST.  A `train.`/`task.`/`time.` key replaces that setting in a copy of its block; a constant's
name goes into its scope's override table, which folding consults first.  `train=RULE` switches
the learning rule: a copy of the `train` block for RULE that keeps the settings meaning the same
under both rules (`carried_settings`), and copies of the projections a rule cannot learn as
written (`rule_projections`: dense `learn w` <-> bernoulli `learn p`)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from snndsl_runtime import settings as runtime_settings
from snndsl_runtime.settings import carried_settings

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
    # a rule switch first, so that `train.KEY` settings given with it land in the new rule's block
    for ov in sorted(overrides, key=lambda o: o.key != "train"):
        head, _, rest = ov.key.partition(".")
        if ov.key == "train":
            _switch_rule(ctx, out, last, ov)
            continue
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


def _switch_rule(ctx: Context, blocks: list[ast.Block], last: dict, ov: Override) -> None:
    """`--set train=RULE`: the spec's train block replaced by RULE's, with the carried settings."""
    rules = list(RULES)
    rule = ov.value.id if isinstance(ov.value, ir.Name) else None
    if rule is None:
        ctx.error("E404", "`--set train=...` takes a learning rule's name", ov.value.span,
                  f"rules: {', '.join(rules)}")
        return
    if rule not in RULES:
        ctx.error("E201", f"unknown learning rule `{rule}` in `--set train=...`", ov.value.span,
                  suggest(rule, rules) or f"rules: {', '.join(rules)}")
        return
    if "train" not in last:
        ctx.error("E203", "the spec has no `train` block to switch to another rule", ov.key_span,
                  f"add one, e.g. `train {rule} {{ }}`")
        return
    blk = blocks[last["train"]]
    old = blk.kind.name if blk.kind is not None else None
    kept = carried_settings(old, rule) if old in RULES else set()
    items = [i for i in blk.items if isinstance(i, ast.Setting) and i.key.name.partition(".")[0] in kept]
    blocks[last["train"]] = dataclasses.replace(blk, kind=ast.Ident(rule, ov.value.span), items=items)
    ctx.rule_switch = (old, rule)


# the weights a rule switch gives a projection the new rule cannot learn as written: EC evolves
# Bernoulli probabilities (at the EC reference's p = 0.5, with its gain formula); the other rules
# learn real weights (the ES baseline's N(0, 1) with the same gain, so the scale is EC's)
EC_WEIGHTS, REAL_WEIGHTS = "bernoulli(p = 0.5)", "dense(init = normal(0, 1))"


def rule_projections(ctx: Context, decls: list[ast.ProjectDecl]) -> list[ast.ProjectDecl]:
    """The projections as the switched-to rule can learn them (copies; the spec's are unchanged).

    After `--set train=ec`, a dense projection with `learn w` becomes `bernoulli(p = 0.5)` with
    `learn p` (and `gain = auto` if it has no gain); after a switch to another rule, a Bernoulli
    projection with `learn p` becomes `dense(init = normal(0, 1))` with `learn w`.  Projections
    that are not learned, or that the rule learns as they are, stay as written.  Without a rule
    switch this is the identity."""
    switch = ctx.rule_switch
    if switch is None:
        return decls
    from ..syntax.parser import parse_expr

    to_ec = switch[1] == "ec"
    have, want = ("dense", "p") if to_ec else ("bernoulli", "w")
    out = []
    for d in decls:
        weights = next((i for i in d.items if isinstance(i, ast.Setting) and i.key.name == "weights"), None)
        learns = [i for i in d.items if isinstance(i, ast.LearnDecl)]
        kind = weights.value.func if weights is not None and isinstance(weights.value, ir.Call) else None
        if kind != have or not learns:
            out.append(d)
            continue
        items = []
        for it in d.items:
            if it is weights:
                it = dataclasses.replace(it, value=_at(parse_expr(EC_WEIGHTS if to_ec else REAL_WEIGHTS), it.value.span))
            elif isinstance(it, ast.LearnDecl):
                it = dataclasses.replace(it, target=ast.Ident(want, it.target.span), body=[])
            items.append(it)
        if to_ec and not any(isinstance(i, ast.Setting) and i.key.name == "gain" for i in d.items):
            items.append(ast.Setting(ast.Ident("gain", weights.key.span), _at(parse_expr("auto"), weights.value.span),
                                     weights.span))
        out.append(dataclasses.replace(d, items=items))
    return out


def rule_populations(ctx: Context, decls: list[ast.Declaration]) -> list[ast.Declaration]:
    """The populations as the switched-to rule can train them (copies): EC evolves connections only, so
    after `--set train=ec` a population's `learn` lines are dropped (its parameters keep their
    initial values).  Without a switch to EC this is the identity."""
    if ctx.rule_switch is None or ctx.rule_switch[1] != "ec":
        return decls
    return [dataclasses.replace(d, items=[i for i in d.items if not isinstance(i, ast.LearnDecl)]) for d in decls]


def _at(e: ir.Expr, span: Span) -> ir.Expr:
    """An expression made by the compiler, located at the spec text it replaces."""
    def fix(d):
        if isinstance(d, dict):
            return {k: (span.model_dump() if k == "span" and isinstance(v, dict) else fix(v)) for k, v in d.items()}
        return [fix(x) for x in d] if isinstance(d, list) else d

    from pydantic import TypeAdapter

    return TypeAdapter(ir.Expr).validate_python(fix(e.model_dump()))


def _unknown_key(ctx: Context, ov: Override, blocks: list[ast.Block]) -> None:
    keys = ["train", "train.<setting>", "task.<setting>", "time.<setting>", *ctx.scope.consts]
    rule = next((b for b in reversed(blocks) if b.keyword == "train"), None)
    if rule is not None and rule.kind and rule.kind.name in RULES:
        keys += [f"train.{f}" for f in RULES[rule.kind.name].model_fields if f not in ("rule", "span")]
    keys += [f"time.{k}" for k in TIME_KEYS]
    ctx.error("E203", f"unknown key `{ov.key}`", ov.key_span,
              suggest(ov.key, keys) or "keys look like `train.population`, `task.episode_length`, "
              "`time.dt`, or a constant's name")
