"""Diagnostics: every code with its title (codes.py), the `Diagnostic` each stage reports
(diagnostic.py), and their rendering as text or JSON (render.py)."""

from .codes import CODES
from .diagnostic import Diagnostic, Sources, Span, SpecError, suggest
from .render import render, render_all

__all__ = ["CODES", "Diagnostic", "Sources", "Span", "SpecError", "render", "render_all", "suggest"]
