"""The spec's top-level names: each defined or imported once (E202); the modules it imports."""

from __future__ import annotations

from ..diagnostics import Span
from ..syntax import ast
from ..syntax.loader import LoadedModule
from .context import Context


def check_unique_names(ctx: Context, stmts: list) -> None:
    seen: dict[str, Span] = {}
    imported: dict[str, Span] = {}
    for st in stmts:
        if isinstance(st, ast.Import):
            for n in st.names:
                if n.name in imported:
                    ctx.error("E202", f"`{n.name}` is imported twice", n.span)
                imported[n.name] = n.span
    for st in stmts:
        ident = st.name if isinstance(st, (ast.Const, ast.ModelDef, ast.Declaration, ast.GroupDecl)) else None
        if ident is None:
            continue
        if ident.name in seen or ident.name in imported:
            first = seen.get(ident.name) or imported.get(ident.name)
            ctx.error("E202", f"`{ident.name}` is already defined (line {first.line})", ident.span,
                      "give it another name")
        else:
            seen[ident.name] = ident.span


def imported_modules(main: LoadedModule) -> list[LoadedModule]:
    """Every module main imports, directly or not."""
    seen, todo = [], [main]
    while todo:
        m = todo.pop()
        for _, child in m.imports:
            if child is not None and child not in seen:
                seen.append(child)
                todo.append(child)
    return seen
