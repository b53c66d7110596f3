"""The check registry: one named function per rule and code, run on the finished IR and its plan."""

from __future__ import annotations

from typing import Callable, Iterator

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan

Check = Callable[[ir.Spec, Plan], Iterator[Diagnostic]]
CHECKS: list[tuple[str, str, Check]] = []


def check(code: str, title: str):
    """Register fn as the check for `code`; checks run in registration order."""
    def register(fn: Check) -> Check:
        CHECKS.append((code, title, fn))
        return fn

    return register


def run_checks(spec: ir.Spec, plan: Plan) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for _, _, fn in CHECKS:
        out.extend(fn(spec, plan))
    return out
