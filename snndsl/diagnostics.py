"""Compiler-style diagnostics: `file:line:col: error[E204]: message`, the source line, a caret, a hint.

Every stage reports through `Diagnostic`; `SpecError` carries a list of them out to the CLI,
which prints them and exits with status 2.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Iterable

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A 1-based source range."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: str = "error"
    notes: list[str] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict:
        out = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.span is not None:
            out.update(
                file=self.span.file,
                line=self.span.line,
                col=self.span.col,
                end_line=self.span.end_line,
                end_col=self.span.end_col,
            )
        if self.hint:
            out["hint"] = self.hint
        if self.notes:
            out["notes"] = self.notes
        return out


class SpecError(Exception):
    """Raised with one or more diagnostics; the CLI prints them and exits 2."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(f"{d.span}: {d.message}" for d in self.diagnostics))


class Sources:
    """The text of every file read, so diagnostics can quote the offending line."""

    def __init__(self) -> None:
        self._text: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        self._text[name] = text

    def line(self, name: str, line: int) -> str | None:
        text = self._text.get(name)
        if text is None:
            return None
        # Lines end at "\n" only, as the parser counts them (str.splitlines would also split at
        # form feeds, U+2028 and other characters that are plain whitespace in a spec).
        lines = text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        return None


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint, or None."""
    cands = sorted(set(candidates))
    close = difflib.get_close_matches(name, cands, n=1, cutoff=0.6)
    if not close:
        lower = {c.lower(): c for c in cands}
        if name.lower() in lower:
            close = [lower[name.lower()]]
    return f"did you mean `{close[0]}`?" if close else None


def render(diag: Diagnostic, sources: Sources | None = None, color: bool = False) -> str:
    red, blue, bold, reset = ("\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[0m") if color else ("",) * 4
    kind = diag.severity
    where = f"{diag.span}: " if diag.span else ""
    head = f"{bold}{where}{red if kind == 'error' else ''}{kind}[{diag.code}]{reset}{bold}: {diag.message}{reset}"
    out = [head]
    src = sources.line(diag.span.file, diag.span.line) if (sources and diag.span) else None
    if src is not None:
        num = str(diag.span.line)
        pad = " " * len(num)
        # Tabs are expanded in the quoted line and the caret is placed by the expanded width of
        # what precedes it, so the caret stays under its column after a tab.
        text = src.expandtabs(4)
        start = max(diag.span.col, 1)
        end = start + 1
        if diag.span.end_line == diag.span.line and diag.span.end_col and diag.span.end_col > start:
            end = diag.span.end_col
        col = len(src[: start - 1].expandtabs(4)) + 1
        width = len(src[: end - 1].expandtabs(4)) + 1 - col
        width = max(1, min(width, max(1, len(text) - col + 1)))
        out.append(f"{blue}{pad} |{reset}")
        out.append(f"{blue}{num} |{reset} {text}")
        out.append(f"{blue}{pad} |{reset} {' ' * (col - 1)}{red}{'^' * width}{reset}")
    for note in diag.notes:
        out.append(f"  = note: {note}")
    if diag.hint:
        out.append(f"  = hint: {diag.hint}")
    return "\n".join(out)


def render_all(diags: list[Diagnostic], sources: Sources | None, fmt: str = "text", color: bool = False) -> str:
    if fmt == "json":
        return json.dumps([d.to_json() for d in diags], indent=2)
    return "\n\n".join(render(d, sources, color) for d in diags)
