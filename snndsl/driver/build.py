"""Compile a spec to its generated module, cache it by content hash, and import it.

`snndsl run` and `snndsl emit` produce the same text, so the two paths cannot diverge.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from .. import ir
from ..codegen.generate import generate
from ..compiler import compile_program
from ..diagnostics import SpecError
from ..lower import Plan


def cache_dir() -> Path:
    root = os.environ.get("SNNDSL_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "snndsl")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_spec(path: str, sets: list[str] = ()) -> tuple[ir.Spec, object]:
    """The IR of a spec (with --set overrides) and its sources; raises SpecError with diagnostics."""
    plan, sources = load_plan(path, sets)
    return plan.spec, sources


def load_plan(path: str, sets: list[str] = ()) -> tuple[Plan, object]:
    """The plan of a spec (its IR is `plan.spec`) and its sources; raises SpecError with diagnostics."""
    compiled = compile_program(path, list(sets))
    diags, sources = compiled.diagnostics, compiled.sources
    if compiled.spec is None:
        err = SpecError([d for d in diags])
        err.sources = sources
        raise err
    warnings = [d for d in diags if not d.is_error]
    if warnings:
        from ..cli import report

        report(warnings, sources)
    return compiled.plan, sources


def module_text(spec: ir.Spec, plan: Plan | None = None) -> str:
    return generate(spec, plan)


def import_module(text: str, name: str) -> tuple[ModuleType, Path]:
    """Write text to the cache under its hash (once) and import it as a fresh module."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}_{digest}.py"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    mod_name = f"snndsl_generated_{name}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module, path


def import_file(path: Path, name: str = "snndsl_run_module") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
