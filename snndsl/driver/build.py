"""Compile a spec to its model file, cache it by content hash, and import it.

`snndsl run` and `snndsl emit` produce the same text, so the two paths cannot diverge.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from snndsl_runtime.io import atomic_write

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


def load_spec(path: str, sets: list[str] = (), on_warnings=None, import_path: list[str] = ()) -> tuple[ir.Spec, object]:
    """The IR of a spec (with --set overrides) and its sources; raises SpecError with diagnostics."""
    plan, sources = load_plan(path, sets, on_warnings, import_path)
    return plan.spec, sources


def load_plan(path: str, sets: list[str] = (), on_warnings=None, import_path: list[str] = ()) -> tuple[Plan, object]:
    """The plan of a spec (its IR is `plan.spec`) and its sources; raises SpecError with diagnostics.
    Warnings go to on_warnings(diagnostics, sources), or to Python's warnings module.  import_path:
    the folders besides the spec's own and the standard library that imports may come from."""
    compiled = compile_program(path, list(sets), list(import_path))
    diags, sources = compiled.diagnostics, compiled.sources
    if compiled.spec is None:
        err = SpecError([d for d in diags])
        err.sources = sources
        raise err
    warnings = [d for d in diags if not d.is_error]
    if warnings and on_warnings is not None:
        on_warnings(warnings, sources)
    elif warnings:
        import warnings as py_warnings

        for d in warnings:
            py_warnings.warn(f"{d.span}: {d.message}" if d.span else d.message, stacklevel=2)
    return compiled.plan, sources


def module_text(spec: ir.Spec, plan: Plan | None = None) -> str:
    return generate(spec, plan)


def import_module(text: str, name: str) -> tuple[ModuleType, Path]:
    """Write text to the cache under its hash (once) and import it as a fresh module."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}_{digest}.py"
    if not path.exists() or path.read_text() != text:
        atomic_write(path, lambda f: f.write(text), "w")
    return import_file(path, f"snndsl_generated_{name}_{digest}"), path


def import_file(path: Path, name: str = "snndsl_run_module") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
