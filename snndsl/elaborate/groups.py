"""`group name = [pop, ...]` -> ir.Group: populations of one neuron model simulated as one array."""

from __future__ import annotations

from .. import ir
from ..diagnostics import suggest
from ..syntax import ast
from .context import Context


def elaborate_group(ctx: Context, d: ast.GroupDecl) -> ir.Group | None:
    e = d.members
    items = e.items if isinstance(e, ir.ListExpr) else [e]
    members = []
    for m in items:
        if not isinstance(m, ir.Name):
            ctx.error("E404", "a group lists populations: `group hidden = [exc, inh]`", m.span)
            return None
        if m.id not in ctx.pops:
            if m.id in ctx.broken:
                return None
            if m.id in ctx.groups:
                ctx.error("E503", f"`{m.id}` is a group; groups hold populations", m.span)
            else:
                ctx.error("E201", f"undefined population `{m.id}`", m.span, suggest(m.id, ctx.pops))
            return None
        members.append(m.id)
    if not members:
        ctx.error("E503", f"group `{d.name.name}` has no populations", d.members.span,
                  "list its populations: `group hidden = [exc, inh]`")
        return None
    models = {ctx.pops[m].model for m in members}
    if len(models) > 1:
        ctx.error("E503", f"group `{d.name.name}` mixes neuron models ({', '.join(sorted(models))})", d.members.span,
                  "a group is simulated as one array: its populations must share a neuron model")
        return None
    for m in members:
        taken = next((g for g in ctx.groups.values() if m in g.members), None)
        if taken is not None or members.count(m) > 1:
            ctx.error("E503", f"population `{m}` is already in group `{taken.name if taken else d.name.name}`",
                      d.members.span)
            return None
    g = ir.Group(name=d.name.name, members=members, span=d.span)
    ctx.groups[g.name] = g
    return g
