"""What the elaborators share while one spec is elaborated: the reporter, the constant scopes,
the names that failed, and the parts of the network built so far (read by later parts)."""

from __future__ import annotations

from pathlib import Path

from .. import ir
from ..diagnostics import Diagnostic
from ..syntax import ast
from ..syntax.loader import LoadedModule
from .scope import ConstScope, Reporter
from .task import task_sizes


class Context:
    def __init__(self, main: LoadedModule, modules: dict[Path, LoadedModule]):
        self.main = main
        self.rep = Reporter()
        self.task_block: ast.Block | None = None  # the (overridden) task block, for `task.obs` etc.
        self.rule_switch: tuple[str | None, str] | None = None  # (spec's rule, new rule) after `--set train=RULE`
        self.scopes: dict[Path, ConstScope] = {}
        for path, mod in modules.items():
            self.scopes[path] = ConstScope(mod, self.scopes, self.task_sizes)
        self.scope = self.scopes[main.path.resolve()]
        self._sizes: dict | None = None
        # names whose definition failed (already reported): references to them stay quiet
        self.broken: set[str] = set()
        for imp, child in main.imports:
            defs = child.definitions() if child is not None else {}
            self.broken |= {n.name for n in imp.names if n.name not in defs}
        # the models the spec can name, and the network built so far, by name
        self.models: dict[str, object] = {}
        self.model_kinds: dict[str, str] = {}
        self.pops: dict[str, ir.Population] = {}
        self.groups: dict[str, ir.Group] = {}
        self.inputs: dict[str, ir.Input] = {}
        self.outputs: dict[str, ir.Output] = {}
        self.dt = 1.0  # ms, the time block's once it is elaborated

    def error(self, code, msg, span, hint=None):
        self.rep.error(code, msg, span, hint)

    def warn(self, code, msg, span, hint=None):
        self.rep.diags.append(Diagnostic(code, msg, span, hint, severity="warning"))

    def eval(self, e, extra=None):
        """Fold e with the main module's constants; None (reported) if that fails."""
        return self.rep.run(self.scope.eval, e, extra)

    def task_sizes(self) -> dict:
        """obs/action/classes/features of the task, once the task block names a known one."""
        if self._sizes is None:
            self._sizes = task_sizes(self.scope, self.task_block, self.main.path.parent)
        return self._sizes

    def decls(self, keyword: str) -> list[ast.Declaration]:
        return [d for d in self.main.ast.stmts if isinstance(d, ast.Declaration) and d.keyword == keyword]

    def built(self, decl, build, *args):
        """Build one declaration; remember its name as broken if that fails."""
        out = build(self, decl, *args)
        if out is None:
            self.broken.add(decl.name.name)
        return out

    def size(self, name: str) -> int:
        """The number of values a node carries: an input's, an output's, or a population's/group's neurons."""
        if name in self.inputs:
            return self.inputs[name].size
        if name in self.outputs:
            return self.outputs[name].size
        return sum(self.pops[m].size for m in self.members(name))

    def shape(self, name: str) -> tuple[int, int, int] | None:
        """(C, H, W) of a shaped input or population; None for flat nodes, groups and outputs."""
        if name in self.inputs:
            return self.inputs[name].shape
        return self.pops[name].shape if name in self.pops else None

    def members(self, name: str) -> list[str]:
        """The populations a population-or-group name stands for."""
        return self.groups[name].members if name in self.groups else [name]
