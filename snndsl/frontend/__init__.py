"""The front end: parse, resolve imports, build the IR, validate.

    spec, diagnostics, sources = compile_spec("specs/ec_hopper.snn", ["train.population=64"])
"""

from __future__ import annotations

from pathlib import Path

from .. import ir
from ..checks import run_checks
from ..diagnostics import Diagnostic, Sources
from .build_network import SpecBuilder, parse_overrides
from ..syntax.loader import load_program


def compile_spec(path: str | Path, overrides: list[str] = ()) -> tuple[ir.Spec | None, list[Diagnostic], Sources]:
    """Front end in one call.  Returns the IR (None if there are errors), every diagnostic, and the
    source texts (for rendering)."""
    sources = Sources()
    ovs, cmdline, diags = parse_overrides(list(overrides))
    if overrides:
        sources.add("<command line>", cmdline)
    main, load_diags = load_program(path, sources)
    diags += load_diags
    if main is None:
        return None, diags, sources

    modules = _modules(main)
    builder = SpecBuilder(main, modules, ovs)
    loaded_ok = not any(d.is_error for d in diags)
    spec = None
    try:
        spec = builder.build()
    finally:
        diags += builder.rep.diags
    if spec is not None and loaded_ok:  # whole (at worst with a bad train setting): the checks apply
        diags += run_checks(spec)
    if any(d.is_error for d in diags):
        spec = None
    elif overrides:
        spec = spec.model_copy(update={"overrides": list(overrides)})
    main_file = str(path)

    def position(d: Diagnostic):
        sp = d.span
        if sp is None:
            return (0, "", 0, 0)
        return (0 if sp.file == "<command line>" else 1 if sp.file == main_file else 2, sp.file, sp.line, sp.col)

    return spec, sorted(_dedupe(diags), key=position), sources


def _modules(main) -> dict:
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
