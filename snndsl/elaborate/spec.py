"""AST -> IR: elaborate a loaded program into one `ir.Spec`, part by part.

Each declaration is elaborated on its own, so one bad declaration does not hide errors in the
others.  Anything that cannot be built is left out of the IR and reported; the semantic checks on
the finished IR live in snndsl/checks/.  Later parts read the earlier ones from the Context.
"""

from __future__ import annotations

from pathlib import Path

from .. import ir
from ..diagnostics import Diagnostic, Span
from ..syntax import ast
from ..syntax.loader import LoadedModule
from .context import Context
from .expr import Q
from .groups import elaborate_group
from .inputs_outputs import elaborate_input, elaborate_output
from .names import check_unique_names, imported_modules
from .overrides import Override, apply_overrides, rule_populations, rule_projections
from .populations import elaborate_population
from .projections import elaborate_projection
from .task import elaborate_task, reconcile_steps
from .time import elaborate_time
from .train import elaborate_train
from .visible_models import elaborate_models


def elaborate(main: LoadedModule, modules: dict[Path, LoadedModule],
              overrides: list[Override] = ()) -> tuple[ir.Spec | None, list[Diagnostic]]:
    """The spec's IR (None if a part could not be built) and the diagnostics found on the way."""
    ctx = Context(main, modules)
    return _elaborate(ctx, list(overrides)), ctx.rep.diags


def _elaborate(ctx: Context, overrides: list[Override]) -> ir.Spec | None:
    stmts = ctx.main.ast.stmts
    blocks = apply_overrides(ctx, [s for s in stmts if isinstance(s, ast.Block)], overrides)
    check_unique_names(ctx, stmts)
    blocks = _one_block_each(ctx, blocks)
    ctx.task_block = blocks.get("task")
    task = elaborate_task(ctx, ctx.task_block)
    time = reconcile_steps(ctx, task, elaborate_time(ctx, blocks.get("time")), blocks.get("time"))
    ctx.dt = time.dt  # a projection's `delay = 0.5 ms` is counted in steps
    consts = _constants(ctx)
    elaborate_models(ctx)
    pops = [p for p in (ctx.built(d, elaborate_population) for d in rule_populations(ctx, ctx.decls("population"))) if p]
    ctx.pops = {p.name: p for p in pops}
    groups = [g for g in (ctx.built(d, elaborate_group) for d in stmts if isinstance(d, ast.GroupDecl)) if g]
    for g in groups:
        for m in g.members:
            ctx.pops[m].group = g.name
    inputs = [i for i in (ctx.built(d, elaborate_input, task) for d in ctx.decls("input")) if i]
    ctx.inputs = {i.name: i for i in inputs}
    outputs = [o for o in (ctx.built(d, elaborate_output, task) for d in ctx.decls("output")) if o]
    ctx.outputs = {o.name: o for o in outputs}
    decls = rule_projections(ctx, [d for d in stmts if isinstance(d, ast.ProjectDecl)])  # after a --set train=RULE
    projections = [p for p in (elaborate_projection(ctx, d) for d in decls) if p]
    network_ok = not any(d.is_error for d in ctx.rep.diags)
    train = elaborate_train(ctx, blocks.get("train"))
    start = Span(file=ctx.main.name, line=1, col=1)
    # `task` and `train` are optional: without them the spec can be simulated (`snndsl sim`),
    # not trained; `snndsl run` and `emit` refuse it (training_blocks_missing)
    if not ctx.decls("population"):
        ctx.error("E206", "the spec declares no population", start,
                  "declare one, e.g. `population hidden = LIF(64)`")
        return None
    if ("task" in blocks and task is None) or ("train" in blocks and train is None) or not network_ok:
        return None
    # past here, any error is a bad train setting (replaced by its default): the spec is still
    # whole, so compile_program runs the rule-compatibility checks on it and then rejects it
    models = ctx.models.values()
    return ir.Spec(
        file=ctx.main.name, name=Path(ctx.main.name).stem,
        imports=sorted({m.name for m in imported_modules(ctx.main)}),
        neurons=[m for m in models if isinstance(m, ir.NeuronModel)],
        encoders=[m for m in models if isinstance(m, ir.EncoderModel)],
        readouts=[m for m in models if isinstance(m, ir.ReadoutModel)],
        consts=consts, populations=pops, groups=groups, inputs=inputs, outputs=outputs,
        projections=projections, time=time, task=task, train=train, span=start,
    )


def _one_block_each(ctx: Context, blocks: list[ast.Block]) -> dict[str, ast.Block]:
    """keyword -> the spec's first block of that keyword; a second one is E202."""
    out: dict[str, ast.Block] = {}
    for b in blocks:
        if b.keyword in out:
            ctx.error("E202", f"a spec has one `{b.keyword}` block", b.span)
        else:
            out[b.keyword] = b
    return out


def _constants(ctx: Context) -> dict[str, float]:
    """The main module's numeric constants, folded (with --set overrides)."""
    out = {}
    for name in ctx.scope.consts:
        v = ctx.rep.run(ctx.scope.const, name, ctx.scope.consts[name].name.span)
        if isinstance(v, Q):
            out[name] = v.value
    return out
