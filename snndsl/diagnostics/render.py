"""Diagnostics as text (`file:line:col: error[E204]: message`, the source line, a caret, a hint)
or as JSON."""

from __future__ import annotations

import json
import os
import sys

from .diagnostic import Diagnostic, Sources


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


def _color(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def report(diags: list[Diagnostic], sources, fmt: str = "text", stream=None) -> None:
    stream = stream or sys.stderr
    if not diags:
        return
    print(render_all(diags, sources, fmt, color=_color(stream) and fmt == "text"), file=stream)
    if fmt == "text":
        n_err = sum(d.is_error for d in diags)
        n_warn = len(diags) - n_err
        parts = [f"{n_err} error{'s' if n_err != 1 else ''}"] if n_err else []
        if n_warn:
            parts.append(f"{n_warn} warning{'s' if n_warn != 1 else ''}")
        print(", ".join(parts), file=stream)
