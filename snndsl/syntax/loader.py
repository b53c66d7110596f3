"""Read a spec and everything it imports.

`from "neurons" import LIF` looks for `neurons.snn` beside the importing file, then in each
`--import-path` folder, then in the standard library (stdlib/).  A path with a slash or the .snn
suffix is taken relative to the importing file only.  Missing files (E101), import cycles (E102),
unknown names (E103) and network statements inside an imported module (E104) are reported here.

Imports stay inside the spec's tree: once symlinks are resolved, a module must lie in the main
spec's folder (or below it), in the standard library or in an `--import-path` folder (E105, checked
before the file is opened).  Only regular files named `.snn`, of at most MAX_SPEC_BYTES, are read;
anything else is refused before a byte of it is read (E002, E003), so no diagnostic can quote a file
that is not a spec.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Diagnostic, Sources, Span, SpecError, suggest
from . import ast
from .parser import parse

_ROOT = Path(__file__).resolve().parent.parent.parent
STDLIB = _ROOT / "stdlib"
if not STDLIB.exists():  # installed as a wheel
    STDLIB = Path(__file__).resolve().parent.parent / "_data" / "stdlib"

LIBRARY_STATEMENTS = (ast.Import, ast.Const, ast.ModelDef)

# the largest spec or module read (docs/language.md says so): refused before it is read
MAX_SPEC_BYTES = 10 * 1024 * 1024


@dataclass
class LoadedModule:
    name: str  # as shown in diagnostics
    path: Path
    ast: ast.Module
    # for each import statement: the module it names (None if it could not be loaded)
    imports: list[tuple[ast.Import, "LoadedModule | None"]] = field(default_factory=list)

    def definitions(self) -> dict[str, object]:
        """Names this module defines itself: models and constants."""
        out = {}
        for st in self.ast.stmts:
            if isinstance(st, ast.ModelDef):
                out.setdefault(st.name.name, st)
            elif isinstance(st, ast.Const):
                out.setdefault(st.name.name, st)
        return out


def display_name(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def read_source(path: Path, shown: str, sources: Sources, span: Span | None = None) -> str:
    """Read a spec or module or raise SpecError: E003 (missing, a directory, not a regular file,
    larger than MAX_SPEC_BYTES, unreadable), E002 (not named .snn once symlinks are resolved, or not
    UTF-8 text).  Nothing is read before the file is known to be a regular .snn file of a sane size,
    and no diagnostic quotes its content.  Without a span (the spec named on the command line), the
    diagnostic is at the file's own 1:1."""
    span = span or Span(file=shown, line=1, col=1)

    def refuse(code: str, message: str, hint: str | None = None):
        raise SpecError([Diagnostic(code, message, span, hint)])

    try:
        real = path.resolve()
        st = os.stat(real)
    except FileNotFoundError:
        refuse("E003", f"no such file: {shown}")
    except (OSError, RuntimeError) as e:  # a symlink loop, a folder without permission ...
        refuse("E003", f"cannot read {shown}: {getattr(e, 'strerror', None) or e}")
    links = f" (it links to {real})" if real != Path(os.path.abspath(path)) else ""
    if stat.S_ISDIR(st.st_mode):
        refuse("E003", f"{shown} is a directory, not a .snn file{links}")
    if not stat.S_ISREG(st.st_mode):
        refuse("E003", f"{shown} is not a regular file{links}", "a spec is a plain text file; "
               "a FIFO, device or socket is not read")
    if real.suffix != ".snn":
        refuse("E002", f"{shown} is not a .snn file{links}", "a spec or module is a UTF-8 text file named *.snn")
    if st.st_size > MAX_SPEC_BYTES:
        refuse("E003", f"{shown} is {st.st_size:,} bytes, more than the limit of {MAX_SPEC_BYTES:,} bytes",
               "split it into modules")
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since the stat, opening it does not hang
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                refuse("E003", f"{shown} is not a regular file{links}")
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        refuse("E003", f"cannot read {shown}: {e.strerror or e}")
    if len(data) > MAX_SPEC_BYTES:
        refuse("E003", f"{shown} is more than the limit of {MAX_SPEC_BYTES:,} bytes", "split it into modules")
    bad = data.find(b"\x00")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start if bad < 0 else min(bad, e.start)
        text = None
    if text is None or bad >= 0:
        line = data.count(b"\n", 0, bad) + 1
        col = bad - (data.rfind(b"\n", 0, bad) + 1) + 1
        where = Span(file=shown, line=line, col=col)
        raise SpecError([Diagnostic("E002", f"{shown} is not a UTF-8 text file (byte {bad})", where,
                                    "a .snn spec is plain text")])
    if text.startswith("\ufeff"):
        text = text[1:]
    sources.add(shown, text)
    return text


def _candidates(spec: str, importer: Path, import_path: list[Path]) -> tuple[list[Path], bool]:
    """The places an import may name, in the order they are looked at, and whether the import
    names one file explicitly (a path with a slash or the .snn suffix, relative to the importer)."""
    name = spec if spec.endswith(".snn") else spec + ".snn"
    here = importer.parent / name
    if "/" in spec or spec.endswith(".snn"):
        return [here], True
    return [here, *(d / name for d in import_path), STDLIB / name], False


def stdlib_modules() -> list[str]:
    return sorted(p.stem for p in STDLIB.glob("*.snn"))


def _real(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None


class Loader:
    def __init__(self, sources: Sources, import_path: list[str | Path] = ()):
        self.sources = sources
        self.diags: list[Diagnostic] = []
        self.modules: dict[Path, LoadedModule] = {}
        # the folders modules may come from besides the main spec's own (spec_root, set by load_program)
        self.import_path = [Path(d).resolve() for d in import_path]
        self.spec_root: Path | None = None

    def allowed(self, real: Path) -> bool:
        roots = [STDLIB.resolve(), *self.import_path] + ([self.spec_root] if self.spec_root else [])
        return any(real.is_relative_to(root) for root in roots)

    def _outside(self, st: ast.Import, named: Path, real: Path | None) -> Diagnostic:
        where = real or Path(os.path.abspath(named))
        links = f" (it resolves to {where})" if where != Path(os.path.abspath(named)) else ""
        folder = f" {display_name(self.spec_root)}" if self.spec_root else ""
        return Diagnostic(
            "E105", f"module \"{st.path}\" is outside the spec's folder{links}", st.path_span,
            f"imports are read only from the spec's folder{folder} (and the folders below it), the standard "
            f"library and the folders named with --import-path DIR; to allow this one, pass "
            f"--import-path {display_name(where.parent)} (import_path=[...] in the Python API)")

    def load(self, path: Path, shown: str | None = None, stack: tuple[Path, ...] = (),
             library: bool = False, span: Span | None = None) -> LoadedModule | None:
        named, path = path, _real(path)
        if path is not None and path in self.modules:
            return self.modules[path]
        shown = shown or display_name(path or named)
        try:
            text = read_source(named, shown, self.sources, span)  # E003 if path is None (a symlink loop)
            module_ast = parse(text, shown)
        except SpecError as e:
            self.diags.extend(e.diagnostics)
            return None
        mod = LoadedModule(shown, path, module_ast)
        self.modules[path] = mod
        if library:
            for st in module_ast.stmts:
                if not isinstance(st, LIBRARY_STATEMENTS):
                    kw = type(st).__name__
                    kw = getattr(st, "keyword", None) or {"GroupDecl": "group", "ProjectDecl": "project"}.get(kw, kw)
                    self.diags.append(Diagnostic(
                        "E104", f"`{kw}` in an imported module", st.span,
                        "a module may hold only imports, `const`, `neuron`, `encoder` and `readout`",
                    ))
            # (the main spec's duplicates are reported by the network builder)
            first: dict[str, Span] = {}
            for st in module_ast.stmts:
                if isinstance(st, (ast.Const, ast.ModelDef)):
                    if st.name.name in first:
                        self.diags.append(Diagnostic(
                            "E202", f"`{st.name.name}` is already defined (line {first[st.name.name].line})",
                            st.name.span, "give it another name"))
                    else:
                        first[st.name.name] = st.name.span
        for st in module_ast.stmts:
            if not isinstance(st, ast.Import):
                continue
            tried, explicit = _candidates(st.path, path, self.import_path)
            target = next((p for p in tried if p.exists()), None)
            probe = target or (tried[0] if explicit else None)
            if probe is not None:  # checked before the file is opened, and whether or not it exists
                real = _real(probe)  # None: a symlink loop, reported as missing (E101)
                if real is not None and not self.allowed(real):
                    self.diags.append(self._outside(st, probe, real))
                    mod.imports.append((st, None))
                    continue
            if target is None:
                hint = suggest(st.path, stdlib_modules()) or (
                    "looked in " + ", ".join(display_name(t) for t in tried)
                    + f"; the standard library has: {', '.join(stdlib_modules())}"
                )
                self.diags.append(Diagnostic("E101", f"cannot find module \"{st.path}\"", st.path_span, hint))
                mod.imports.append((st, None))
                continue
            target = real
            if target in stack or target == path:
                chain_paths = (*stack, path)
                chain = " -> ".join(display_name(p) for p in chain_paths[chain_paths.index(target):] + (target,))
                self.diags.append(Diagnostic("E102", f"import cycle: {chain}", st.path_span,
                                             "move the shared definitions into a module both can import"))
                mod.imports.append((st, None))
                continue
            child = self.load(probe, None, (*stack, path), library=True, span=st.path_span)
            mod.imports.append((st, child))
            if child is not None:
                defs = child.definitions()
                for n in st.names:
                    if n.name not in defs:
                        self.diags.append(Diagnostic(
                            "E103", f"module \"{st.path}\" has no definition `{n.name}`", n.span,
                            suggest(n.name, defs) or (f"it defines: {', '.join(sorted(defs))}" if defs else None),
                        ))
        return mod


def load_program(path: str | Path, sources: Sources,
                 import_path: list[str | Path] = ()) -> tuple[LoadedModule | None, list[Diagnostic]]:
    """The main spec and every module it imports.  Imports may come from the spec's folder (after
    resolving symlinks) and below it, the standard library, and the folders of import_path."""
    loader = Loader(sources, import_path)
    p = Path(path)
    real = _real(p)
    loader.spec_root = real.parent if real is not None else None
    mod = loader.load(p, shown=str(path))
    return mod, loader.diags
