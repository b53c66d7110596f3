"""The compiler's stages in one call: text -> AST (syntax/) -> IR (elaborate/) -> plan (lower/),
with the checks (checks/) on the IR and its plan.

    compiled = compile_program("specs/ec_hopper.snn", ["train.population=64"])
    compiled.spec, compiled.plan, compiled.diagnostics, compiled.sources

The plan is computed here once; the summary and the code generator take it from here.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from . import ir
from .checks import run_checks
from .diagnostics import Diagnostic, Sources
from .elaborate.overrides import parse_overrides
from .elaborate.spec import elaborate
from .expand import expand
from .lower import Plan, lower
from .syntax.loader import load_program


@dataclass
class Compiled:
    spec: ir.Spec | None  # None if there are errors
    plan: Plan | None  # the spec's plan, None with the spec
    diagnostics: list[Diagnostic]  # errors and warnings, in source order
    sources: Sources  # the texts read, for rendering the diagnostics


def compile_spec(path: str | Path, overrides: list[str] = (),
                 import_path: list[str | Path] = ()) -> tuple[ir.Spec | None, list[Diagnostic], Sources]:
    """The IR (None if there are errors), every diagnostic, and the source texts (for rendering).
    import_path: folders besides the spec's own and the standard library that imports may come
    from (`--import-path DIR`)."""
    c = compile_program(path, overrides, import_path)
    return c.spec, c.diagnostics, c.sources


def compile_program(path: str | Path, overrides: list[str] = (), import_path: list[str | Path] = ()) -> Compiled:
    """Every stage up to the plan.  Returns the diagnostics instead of raising.  import_path: the
    folders, besides the spec's folder and the standard library, that imports may come from."""
    sources = Sources()
    ovs, cmdline, diags = parse_overrides(list(overrides))
    if overrides:
        sources.add("<command line>", cmdline)
    for d in import_path:
        if not os.path.isdir(d):
            diags.append(Diagnostic("E003", f"--import-path {d}: not a folder", None,
                                    "name a folder that holds .snn modules"))
    main, load_diags = load_program(path, sources, [d for d in import_path if os.path.isdir(d)])
    diags += load_diags
    if main is None:
        return Compiled(None, None, diags, sources)
    main = _expanded(main, ovs, diags)
    loaded_ok = not any(d.is_error for d in diags)
    spec = plan = None
    if main is not None:  # None: a statement could not be copied out; what uses it would only report that again
        spec, elab_diags = elaborate(main, _modules(main), ovs)
        diags += elab_diags
    if spec is not None and loaded_ok:  # whole (at worst with a bad train setting): the checks apply
        plan = lower(spec)
        diags += run_checks(spec, plan)
    if any(d.is_error for d in diags):
        spec = plan = None
    elif overrides:
        spec = spec.model_copy(update={"overrides": list(overrides)})
        plan = dataclasses.replace(plan, spec=spec)
    main_file = str(path)

    def position(d: Diagnostic):
        sp = d.span
        if sp is None:
            return (0, "", 0, 0)
        return (0 if sp.file == "<command line>" else 1 if sp.file == main_file else 2, sp.file, sp.line, sp.col)

    return Compiled(spec, plan, sorted(_dedupe(diags), key=position), sources)


def _expanded(main, overrides, diags: list[Diagnostic]):
    """main with its loops and stages copied out (snndsl/expand/), a constant's `--set` included."""
    consts = {o.key.removeprefix("const."): o.value for o in overrides if "." not in o.key.removeprefix("const.")}
    module, found = expand(main.ast, consts)
    diags += found
    if any(d.is_error for d in found):
        return None
    return main if module is main.ast else dataclasses.replace(main, ast=module)


def _modules(main) -> dict:
    """Every module the main one imports, directly or not, by resolved path."""
    out, todo = {}, [main]
    while todo:
        m = todo.pop()
        if m.path.resolve() in out:
            continue
        out[m.path.resolve()] = m
        todo.extend(c for _, c in m.imports if c is not None)
    return out


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.message, str(d.span))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
