"""The models a spec can name (its own and the imported ones), built once each, and the lookup
of the model a declaration head names (`LIF(128)`, `poisson(...)`, `filtered_rate(hidden)`)."""

from __future__ import annotations

from .. import ir
from ..diagnostics import suggest
from ..syntax import ast
from ..syntax.loader import LoadedModule
from .context import Context
from .models import BUILDERS


def elaborate_models(ctx: Context) -> None:
    """Fill ctx.models (name -> model, for those without errors) and ctx.model_kinds (every name)."""
    out: dict[str, tuple[object, str]] = {}
    built: dict[tuple, object] = {}

    def build(defn: ast.ModelDef, mod: LoadedModule):
        key = (mod.path, defn.name.name)
        if key not in built:
            built[key] = BUILDERS[defn.kind](defn, mod.name, ctx.scopes[mod.path.resolve()], ctx.rep)
        return built[key]

    for st in ctx.main.ast.stmts:
        if isinstance(st, ast.ModelDef):
            out[st.name.name] = (build(st, ctx.main), st.kind)
    for imp, child in ctx.main.imports:
        if child is None:
            continue
        defs = child.definitions()
        for n in imp.names:
            d = defs.get(n.name)
            if isinstance(d, ast.ModelDef):
                out[n.name] = (build(d, child), d.kind)
    ctx.model_kinds = {k: kind for k, (m, kind) in out.items()}
    ctx.models = {k: m for k, (m, kind) in out.items() if m is not None}


def named_model(ctx: Context, name_expr: ir.Expr, kind: str, what: str):
    """The `kind` model named in a declaration head; None (reported: E201/E205/E404) if there is none."""
    name = name_expr.id if isinstance(name_expr, ir.Name) else name_expr.func if isinstance(name_expr, ir.Call) else None
    if name is None:
        ctx.error("E404", f"{what} must name a {kind} model", name_expr.span)
        return None
    if name in ctx.broken:
        return None
    if name not in ctx.model_kinds:
        cands = [k for k, v in ctx.model_kinds.items() if v == kind]
        ctx.error("E201", f"undefined {kind} `{name}`", name_expr.span,
                  suggest(name, cands) or (f"import one: `from \"{kind}s\" import ...`" if kind != "neuron"
                                           else 'import one: `from "neurons" import LIF`'))
        return None
    if ctx.model_kinds[name] != kind:
        have = ctx.model_kinds[name]

        def a(w):
            return ("an " if w[0] in "aeiou" else "a ") + w

        ctx.error("E205", f"`{name}` is {a(have)}, not {a(kind)}", name_expr.span)
        return None
    return ctx.models.get(name)  # None if the model itself had errors (already reported)
