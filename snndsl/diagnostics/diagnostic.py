"""What every stage reports: `Diagnostic` (code, message, span, hint), `SpecError` that carries
them out to the CLI (exit status 2), the `Sources` they quote, and did-you-mean hints."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field


class Span(BaseModel):
    """A 1-based source range.  `via`: for text copied by a `for` loop or a `use` (snndsl/expand/),
    which copy ("in iteration i = 2 of the `for` at line 5"); every diagnostic there says it in a note.
    It is not serialised, so the IR of a looped spec dumps as that of the spec written out."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None
    via: str | None = Field(default=None, exclude=True)

    def _place(self) -> tuple:
        return (self.file, self.line, self.col, self.end_line, self.end_col)

    # a copy's span is the same place as its original's (so the IR equals its JSON round trip)
    def __eq__(self, other) -> bool:
        return self._place() == other._place() if isinstance(other, Span) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._place())

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

    def __post_init__(self):
        if self.span is not None and self.span.via and self.span.via not in self.notes:
            self.notes = [*self.notes, self.span.via]

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

    def names(self) -> list[str]:
        """The files read, as they were shown (and `<command line>`)."""
        return list(self._text)

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
