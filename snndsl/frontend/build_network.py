"""Build the whole `Spec` from a loaded program: task, time, models, network, learning rule.

Each declaration is built on its own, so one bad declaration does not hide errors in the
others.  Anything that cannot be built is left out of the IR and reported; semantic checks
on the finished IR live in snndsl/checks.py.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .. import ir
from ..ir import names_in, time_constant_params
from ..ir.tables import BRAX_ENVS, BRAX_BACKENDS, BRAX_KEYS, DATASET_SIZES, TASK_KINDS, dataset_keys
from ..diagnostics import Diagnostic, Span, suggest
from ..settings import RULES, SURROGATE_PARAM, Optimizer, Surrogate
from ..syntax import ast
from . import units as U
from .build_models import BUILDERS, _zero, resolve, _Names
from .expr import CallV, ExprError, ListV, Q, StrV, Sym, err, evaluate
from ..syntax.loader import LoadedModule
from .scope import ConstScope, Reporter, as_bool, as_int, as_number, as_symbol

TIME_KEYS = {"dt": "time step", "substeps": "network steps per environment step", "steps": "time steps per sample"}

# EC reference gains (ec.md §1.4): K * scale * sqrt(c / (p * n)); K by source kind
AUTO_K = {"input": 0.1, "population": 1.0, "output": 5.0}


@dataclass
class Override:
    """One `--set KEY=VALUE`; spans point into the reconstructed command line."""

    key: str
    value: ir.Expr
    key_span: Span


def parse_overrides(pairs: list[str]) -> tuple[list[Override], str, list[Diagnostic]]:
    """Parse `KEY=VALUE` strings.  Returns overrides, the command-line text, and diagnostics."""
    from ..diagnostics import SpecError
    from ..syntax.parser import parse_expr

    text, out, diags = "", [], []
    for pair in pairs:
        start = len(text) + len("--set ") + 1
        text += f"--set {pair} "
        key, eq, value = pair.partition("=")
        kspan = Span(file="<command line>", line=1, col=start, end_line=1, end_col=start + len(key))
        if not eq or not key:
            diags.append(Diagnostic("E203", f"`--set {pair}` needs the form KEY=VALUE", kspan,
                                    "for example `--set train.population=64`"))
            continue
        vcol = start + len(key) + 1
        try:
            expr = _shift(parse_expr(value), vcol - len("const _ = ") - 1)
            if isinstance(expr, ir.Name) and expr.id not in ("true", "false"):
                expr = ir.Name(id=expr.id, span=expr.span)
        except SpecError:
            expr = ir.Str(value=value, span=Span(file="<command line>", line=1, col=vcol, end_line=1,
                                                 end_col=vcol + max(1, len(value))))
        out.append(Override(key, expr, kspan))
    return out, text[:-1], diags  # drop the last separator only: an empty `--set ""` keeps its column


def _shift(e, dcol: int):
    """Move an expression parsed from `const _ = VALUE` onto the command line."""
    def fix(d):
        if isinstance(d, dict):
            out = {k: fix(v) for k, v in d.items()}
            sp = out.get("span")
            if isinstance(sp, dict):
                out["span"] = {**sp, "col": sp["col"] + dcol, "end_col": (sp.get("end_col") or sp["col"]) + dcol}
            return out
        if isinstance(d, list):
            return [fix(x) for x in d]
        return d

    from pydantic import TypeAdapter

    return TypeAdapter(ir.Expr).validate_python(fix(e.model_dump()))


class SpecBuilder:
    def __init__(self, main: LoadedModule, modules: dict[Path, LoadedModule], overrides: list[Override] = ()):
        self.main = main
        self.rep = Reporter()
        self.scopes: dict[Path, ConstScope] = {}
        for path, mod in modules.items():
            self.scopes[path] = ConstScope(mod, self.scopes, self._task_sizes)
        self.scope = self.scopes[main.path.resolve()]
        self._sizes: dict | None = None
        self._task_block: ast.Block | None = None
        self.overrides = list(overrides)
        # names whose definition failed (already reported): references to them stay quiet
        self.broken: set[str] = set()
        for imp, child in main.imports:
            defs = child.definitions() if child is not None else {}
            self.broken |= {n.name for n in imp.names if n.name not in defs}

    # ---------------------------------------------------------------- helpers
    def error(self, code, msg, span, hint=None):
        self.rep.error(code, msg, span, hint)

    def eval(self, e, extra=None):
        return self.rep.run(self.scope.eval, e, extra)

    def _task_sizes(self) -> dict:
        if self._sizes is None:
            self._sizes = {}
            blk = self._task_block
            if blk is not None and blk.kind is not None:
                k = blk.kind.name
                if k == "brax":
                    env = self._setting_raw(blk, "env")
                    name = env.value if isinstance(env, StrV) else env.name if isinstance(env, Sym) else None
                    if name in BRAX_ENVS:
                        obs, act = BRAX_ENVS[name]
                        self._sizes = {"obs": obs, "action": act, "classes": None, "features": None}
                elif k in DATASET_SIZES:
                    f, c = DATASET_SIZES[k]
                    self._sizes = {"features": f, "classes": c, "obs": f, "action": None}
        return self._sizes

    def _setting_raw(self, blk: ast.Block, key: str):
        for it in blk.items:
            if isinstance(it, ast.Setting) and it.key.name == key:
                try:
                    return self.scope.eval(it.value)
                except ExprError:
                    return None
        return None

    def _settings(self, items, allowed, what: str) -> dict[str, tuple[object, ast.Setting]]:
        """Fold `key = value` items; report unknown keys, duplicates and anything else in the body."""
        out: dict[str, tuple[object, ast.Setting]] = {}
        for it in items:
            if not isinstance(it, ast.Setting):
                self.error("E205", f"not allowed in {what}", it.span, f"{what} holds `key = value` settings")
                continue
            k = it.key.name
            if k not in allowed:
                if it.from_command_line:  # `--set train.popsize=3`: answer in the same dotted form
                    head = what.split()[0]
                    keys = [f"{head}.{a}" for a in allowed]
                    close = suggest(k, allowed)
                    close = close and close.replace("`", f"`{head}.", 1)
                    prefixed = [f"`{head}.{a}`" for a in allowed if len(k) >= 3 and a.startswith(k[:3])]
                    if not close and prefixed:
                        close = f"did you mean {' or '.join(prefixed)}?"
                    self.error("E203", f"unknown key `{head}.{k}`: no setting `{k}` in {what}", it.key.span,
                               close or f"known keys: {', '.join(keys)}")
                    continue
                self.error("E203", f"unknown setting `{k}` in {what}", it.key.span,
                           suggest(k, allowed) or f"known settings: {', '.join(allowed)}")
                continue
            if k in out and not it.from_command_line:
                self.error("E202", f"`{k}` is set twice in {what}", it.key.span)
                continue
            v = self.eval(it.value)
            if v is not None:
                out[k] = (v, it)
        return out

    # ---------------------------------------------------------------- overrides
    def _apply_overrides(self) -> None:
        blocks = {b.keyword: b for b in self.main.ast.stmts if isinstance(b, ast.Block)}
        for ov in self.overrides:
            head, _, rest = ov.key.partition(".")
            setting = ast.Setting(ast.Ident(rest, ov.key_span), ov.value, ov.key_span, from_command_line=True)
            if head in ("train", "task", "time") and rest:
                blk = blocks.get(head)
                if blk is None:
                    if head == "time":
                        blk = ast.Block("time", None, [], ov.key_span)
                        self.main.ast.stmts.append(blk)
                        blocks["time"] = blk
                    else:
                        self.error("E203", f"the spec has no `{head}` block to set `{rest}` in", ov.key_span)
                        continue
                blk.items = [i for i in blk.items if not (isinstance(i, ast.Setting) and i.key.name == rest)]
                blk.items.append(setting)
            elif (head == "const" and rest in self.scope.consts) or (not rest and head in self.scope.consts):
                self.scope.overrides[rest or head] = ov.value
            else:
                keys = ["train.<setting>", "task.<setting>", "time.<setting>", *self.scope.consts]
                rule = blocks.get("train")
                if rule is not None and rule.kind and rule.kind.name in RULES:
                    keys += [f"train.{f}" for f in RULES[rule.kind.name].model_fields if f not in ("rule", "span")]
                keys += [f"time.{k}" for k in TIME_KEYS]
                self.error("E203", f"unknown key `{ov.key}`", ov.key_span,
                           suggest(ov.key, keys) or "keys look like `train.population`, `task.episode_length`, "
                           "`time.dt`, or a constant's name")

    # ---------------------------------------------------------------- entry point
    def build(self) -> ir.Spec | None:
        stmts = self.main.ast.stmts
        self._apply_overrides()
        self._check_duplicates(stmts)
        blocks: dict[str, list[ast.Block]] = {}
        for st in stmts:
            if isinstance(st, ast.Block):
                blocks.setdefault(st.keyword, []).append(st)
        for kw, bs in blocks.items():
            for extra in bs[1:]:
                self.error("E202", f"a spec has one `{kw}` block", extra.span)
        self._task_block = blocks.get("task", [None])[0]
        task = self._build_task(self._task_block)
        time = self._build_time(blocks.get("time", [None])[0], task)
        consts = {}
        for name in self.scope.consts:
            v = self.rep.run(self.scope.const, name, self.scope.consts[name].name.span)
            if isinstance(v, Q):
                consts[name] = v.value
        models = self._build_models()
        self.models = models
        pops = [p for p in (self._built(d, self._build_population) for d in self._decls("population")) if p]
        self.pops = {p.name: p for p in pops}
        self.groups: dict[str, ir.Group] = {}
        groups = [g for g in (self._built(d, self._build_group) for d in stmts if isinstance(d, ast.GroupDecl)) if g]
        for g in groups:
            for m in g.members:
                self.pops[m].group = g.name
        inputs = [i for i in (self._built(d, self._build_input, task) for d in self._decls("input")) if i]
        self.inputs = {i.name: i for i in inputs}
        outputs = [o for o in (self._built(d, self._build_output, task) for d in self._decls("output")) if o]
        self.outputs = {o.name: o for o in outputs}
        projections = [p for p in (self._build_projection(d) for d in stmts if isinstance(d, ast.ProjectDecl)) if p]
        network_ok = not any(d.is_error for d in self.rep.diags)
        train = self._build_train(blocks.get("train", [None])[0])
        if task is None and not blocks.get("task"):
            self.error("E206", "the spec has no `task` block", Span(file=self.main.name, line=1, col=1),
                       'add one, e.g. `task brax { env = "hopper" }` or `task digits { }`')
        if train is None and not blocks.get("train"):
            self.error("E206", "the spec has no `train` block", Span(file=self.main.name, line=1, col=1),
                       "add one, e.g. `train ec { generations = 100 }`")
        if task is None or train is None or not network_ok:
            return None
        # past here, any error is a bad train setting (replaced by its default): the spec is still
        # whole, so compile_spec runs the rule-compatibility checks on it and then rejects it
        imports = sorted({m.name for m in self._imported_modules()})
        return ir.Spec(
            file=self.main.name, name=Path(self.main.name).stem, imports=imports,
            neurons=[m for m in models.values() if isinstance(m, ir.NeuronModel)],
            encoders=[m for m in models.values() if isinstance(m, ir.EncoderModel)],
            readouts=[m for m in models.values() if isinstance(m, ir.ReadoutModel)],
            consts=consts, populations=pops, groups=groups, inputs=inputs, outputs=outputs,
            projections=projections, time=time, task=task, train=train,
            span=Span(file=self.main.name, line=1, col=1),
        )

    def _built(self, decl, build, *args):
        """Build one declaration; remember its name as broken if that fails."""
        out = build(decl, *args)
        if out is None:
            self.broken.add(decl.name.name)
        return out

    def _decls(self, keyword):
        return [d for d in self.main.ast.stmts if isinstance(d, ast.Declaration) and d.keyword == keyword]

    def _unique_items(self, items: list, what: str) -> list:
        """The items of a declaration body without repeats: a setting or a `learn` given twice is E202
        (the first one counts)."""
        seen, out = set(), []
        for it in items:
            if isinstance(it, ast.Setting):
                key, shown, span = ("set", it.key.name), f"`{it.key.name}`", it.key.span
            elif isinstance(it, ast.LearnDecl):
                key, shown, span = ("learn", it.target.name), f"`learn {it.target.name}`", it.span
            else:
                out.append(it)
                continue
            if key in seen:
                self.error("E202", f"{shown} is given twice in {what}", span, "keep one")
                continue
            seen.add(key)
            out.append(it)
        return out

    def _imported_modules(self):
        seen, todo = [], [self.main]
        while todo:
            m = todo.pop()
            for _, child in m.imports:
                if child is not None and child not in seen:
                    seen.append(child)
                    todo.append(child)
        return seen

    def _check_duplicates(self, stmts) -> None:
        seen: dict[str, Span] = {}
        imported: dict[str, Span] = {}
        for st in stmts:
            if isinstance(st, ast.Import):
                for n in st.names:
                    if n.name in imported:
                        self.error("E202", f"`{n.name}` is imported twice", n.span)
                    imported[n.name] = n.span
        for st in stmts:
            ident = None
            if isinstance(st, (ast.Const, ast.ModelDef, ast.Declaration, ast.GroupDecl)):
                ident = st.name
            if ident is None:
                continue
            if ident.name in seen or ident.name in imported:
                first = seen.get(ident.name) or imported.get(ident.name)
                self.error("E202", f"`{ident.name}` is already defined (line {first.line})", ident.span,
                           "give it another name")
            else:
                seen[ident.name] = ident.span

    # ---------------------------------------------------------------- task and time
    def _build_task(self, blk: ast.Block | None):
        if blk is None:
            return None
        kind = blk.kind.name
        if kind not in TASK_KINDS:
            self.error("E201", f"unknown task `{kind}`", blk.kind.span,
                       suggest(kind, TASK_KINDS) or f"tasks: {', '.join(TASK_KINDS)}")
            return None
        if kind == "brax":
            s = self._settings(blk.items, BRAX_KEYS, "task brax")
            vals = {}
            if "env" not in s:
                if not any(isinstance(i, ast.Setting) and i.key.name == "env" for i in blk.items):
                    self.error("E206", "task brax needs `env`", blk.kind.span, 'e.g. `env = "hopper"`')
                return None
            env = self.rep.run(as_symbol, s["env"][0], "env", list(BRAX_ENVS))
            if env is None:
                # a name or string that is not an environment is E701; a number or list stays E404
                if isinstance(s["env"][0], (Sym, StrV)):
                    d = self.rep.diags[-1]
                    d.code, d.message = "E701", f"unknown Brax environment: {d.message.split('got ')[-1]}"
                return None
            vals["env"] = env
            if "backend" in s:
                b = self.rep.run(as_symbol, s["backend"][0], "backend", BRAX_BACKENDS)
                if b is None:
                    if isinstance(s["backend"][0], (Sym, StrV)):
                        self.rep.diags[-1].code = "E702"
                    return None
                vals["backend"] = b
            for k in ("episode_length", "action_repeat"):
                if k in s:
                    v = self.rep.run(as_int, s[k][0], k)
                    if v is None:
                        return None
                    if v < 1:
                        self.error("E401", f"{k} must be at least 1", s[k][1].value.span)
                        return None
                    vals[k] = v
            obs, act = BRAX_ENVS[env]
            return ir.BraxTask(obs=obs, action=act, span=blk.span, **vals)
        s = self._settings(blk.items, dataset_keys(kind), f"task {kind}")
        vals = {}
        if "path" in s:
            v, it = s["path"]
            if not isinstance(v, StrV):
                self.error("E404", "path must be a string", it.value.span, 'e.g. `path = "data/mnist"`')
                return None
            vals["path"] = v.value
        if "test_fraction" in s:
            v = self.rep.run(as_number, s["test_fraction"][0], "test_fraction")
            if v is None:
                return None
            if not 0 < v < 1:
                self.error("E401", "test_fraction must be between 0 and 1", s["test_fraction"][1].value.span)
                return None
            vals["test_fraction"] = v
        f, c = DATASET_SIZES[kind]
        return ir.DatasetTask(dataset=kind, features=f, classes=c, span=blk.span, **vals)

    def _build_time(self, blk: ast.Block | None, task) -> ir.Time:
        t = ir.Time(span=blk.span if blk else None)
        if blk is None:
            return t
        s = self._settings(blk.items, list(TIME_KEYS), "time")
        if "dt" in s:
            v = self.rep.run(as_number, s["dt"][0], "dt", U.TIME)
            if v is not None:
                if v <= 0:
                    self.error("E402", "dt must be positive", s["dt"][1].value.span)
                else:
                    t.dt = v
        for k in ("substeps", "steps"):
            if k in s:
                v = self.rep.run(as_int, s[k][0], k)
                if v is not None:
                    if v < 1:
                        self.error("E403", f"{k} must be at least 1", s[k][1].value.span)
                    else:
                        setattr(t, k, v)
        return t

    # ---------------------------------------------------------------- models
    def _build_models(self) -> dict[str, object]:
        """Every model visible in the main spec: its own and the imported ones."""
        out: dict[str, object] = {}
        built: dict[tuple, object] = {}

        def build(defn: ast.ModelDef, mod: LoadedModule):
            key = (mod.path, defn.name.name)
            if key not in built:
                built[key] = BUILDERS[defn.kind](defn, mod.name, self.scopes[mod.path.resolve()], self.rep)
            return built[key]

        for st in self.main.ast.stmts:
            if isinstance(st, ast.ModelDef):
                out[st.name.name] = (build(st, self.main), st.kind)
        for imp, child in self.main.imports:
            if child is None:
                continue
            defs = child.definitions()
            for n in imp.names:
                d = defs.get(n.name)
                if isinstance(d, ast.ModelDef):
                    out[n.name] = (build(d, child), d.kind)
        self.model_kinds = {k: kind for k, (m, kind) in out.items()}
        return {k: m for k, (m, kind) in out.items() if m is not None}

    def _model(self, name_expr: ir.Expr, kind: str, what: str):
        """Resolve the model named in a declaration head; report E201/E205."""
        name = name_expr.id if isinstance(name_expr, ir.Name) else name_expr.func if isinstance(name_expr, ir.Call) else None
        if name is None:
            self.error("E404", f"{what} must name a {kind} model", name_expr.span)
            return None
        if name in self.broken:
            return None
        if name not in self.model_kinds:
            cands = [k for k, v in self.model_kinds.items() if v == kind]
            self.error("E201", f"undefined {kind} `{name}`", name_expr.span,
                       suggest(name, cands) or (f"import one: `from \"{kind}s\" import ...`" if kind != "neuron"
                                                else 'import one: `from "neurons" import LIF`'))
            return None
        if self.model_kinds[name] != kind:
            have = self.model_kinds[name]

            def a(w):
                return ("an " if w[0] in "aeiou" else "a ") + w

            self.error("E205", f"`{name}` is {a(have)}, not {a(kind)}", name_expr.span)
            return None
        return self.models.get(name)  # None if the model itself had errors (already reported)

    def _param_overrides(self, model, items_kw: list[tuple[str, object, Span]], params_out: dict[str, float], what: str):
        for key, v, span in items_kw:
            p = next((p for p in model.params if p.name == key), None)
            if p is None:
                self.error("E204", f"{what}: `{model.name}` has no parameter `{key}`", span,
                           suggest(key, [q.name for q in model.params]))
                continue
            x = self.rep.run(as_number, v, f"`{key}`", p.dims, self.scope.names())
            if x is not None:
                params_out[key] = x

    # ---------------------------------------------------------------- populations
    def _build_population(self, d: ast.Declaration) -> ir.Population | None:
        model = self._model(d.head, "neuron", f"population `{d.name.name}`")
        if model is None:
            return None
        head = d.head
        size_expr = None
        if isinstance(head, ir.Call):
            size_expr = head.args[0] if head.args else head.kwarg("size")
            extra = head.args[1:] + [k for k in head.kwargs if k.name != "size"]
            if extra:
                self.error("E305", "a population head is `Model(size)`", extra[0].span,
                           "set parameters in the body: `{ tau_m = 20 ms }`")
        if size_expr is None:
            self.error("E206", f"population `{d.name.name}` needs a size", head.span, f"write `{model.name}(128)`")
            return None
        size_v = self.eval(size_expr)
        size = size_v is not None and self.rep.run(as_int, size_v, "a population size", self.scope.names())
        size_ok = isinstance(size, int) and not isinstance(size, bool) and size >= 1
        if isinstance(size, int) and not isinstance(size, bool) and size < 1:
            self.error("E403", f"population size must be positive, not {size}", size_expr.span)
        if not size_ok:
            size = 1  # keep checking the body
        pop = ir.Population(name=d.name.name, model=model.name, size=size,
                            params={p.name: p.value for p in model.params},
                            inits={s.name: s.init for s in model.states}, span=d.span)
        names = _Names()
        for p in model.params:
            names.add(p.name, "param", p.dims)
        learn_items = []
        overrides = []
        for it in self._unique_items(d.items, f"population `{d.name.name}`"):
            if isinstance(it, ast.LearnDecl):
                learn_items.append(it)
                continue
            if not isinstance(it, ast.Setting):
                self.error("E205", "a population body holds settings and `learn`", it.span)
                continue
            k = it.key.name
            if k == "sign":
                v = self.eval(it.value)
                if v is not None:
                    x = self.rep.run(as_number, v, "sign")
                    if x is not None and x not in (1, -1):
                        self.error("E401", f"sign must be +1 (excitatory) or -1 (inhibitory), not {x:g}", it.value.span)
                    elif x is not None:
                        pop.sign = int(x)
            elif model.state(k) is not None:
                st = model.state(k)
                init = self.rep.run(resolve, it.value, names, self.scope, funcs=("uniform", "normal"))
                if init is not None:
                    from .build_models import _init_dims

                    dd = self.rep.run(_init_dims, init, names)
                    if dd is not None and tuple(dd) != tuple(st.dims) and not _zero(init):
                        self.error("E301", f"initial `{k}` has units of {U.describe(dd)}, the state has "
                                           f"{U.describe(st.dims)}", it.value.span)
                    else:
                        pop.inits[k] = init
            elif model.param(k) is not None:
                v = self.eval(it.value)
                if v is not None:
                    overrides.append((k, v, it.key.span))
            else:
                self.error("E204", f"`{model.name}` has no parameter or state `{k}`", it.key.span,
                           suggest(k, [p.name for p in model.params] + [s.name for s in model.states] + ["sign"]))
        self._param_overrides(model, overrides, pop.params, f"population `{pop.name}`")
        for it in learn_items:
            ln = self._build_learnable(it, model, pop)
            if ln is not None:
                pop.learn.append(ln)
        return pop if size_ok else None

    def _build_learnable(self, it: ast.LearnDecl, model: ir.NeuronModel, pop: ir.Population) -> ir.Learnable | None:
        name = it.target.name
        p = model.param(name)
        if p is None:
            hint = suggest(name, [q.name for q in model.params])
            if name in ("p", "w"):
                hint = f"`learn {name}` belongs in a `project` body"
            self.error("E204", f"`{model.name}` has no parameter `{name}` to learn", it.target.span, hint)
            return None
        sharing = "population"
        if it.per is not None:
            if it.per.name not in ("neuron", "population"):
                self.error("E203", f"`per {it.per.name}`: learn per `neuron` or per `population`", it.per.span,
                           suggest(it.per.name, ["neuron", "population"]))
                return None
            sharing = it.per.name
        role = "other"
        if name == model.threshold:
            role = "threshold"
        elif name in time_constant_params(model):
            role = "time_constant"
        ln = ir.Learnable(param=name, sharing=sharing, role=role, span=it.span)
        s = self._settings(it.body, ["bounds"], f"learn {name}")
        if "bounds" in s:
            ln.bounds = self._bounds(s["bounds"], p.dims)
        if role == "time_constant" and pop.params[name] <= 0:
            self.error("E402", "a learnable time constant must start positive", it.span)
        return ln

    def _bounds(self, sv, dims):
        v, it = sv
        if not isinstance(v, ListV) or len(v.items) != 2:
            self.error("E404", "bounds must be a list `[low, high]`", it.value.span)
            return None
        lo = self.rep.run(as_number, v.items[0], "the lower bound", dims)
        hi = self.rep.run(as_number, v.items[1], "the upper bound", dims)
        if lo is None or hi is None:
            return None
        if lo >= hi:
            self.error("E401", f"bounds [{lo:g}, {hi:g}] are empty: the lower bound must be below the upper",
                       it.value.span)
            return None
        return (lo, hi)

    # ---------------------------------------------------------------- groups
    def _build_group(self, d: ast.GroupDecl) -> ir.Group | None:
        e = d.members
        items = e.items if isinstance(e, ir.ListExpr) else [e]
        members = []
        for m in items:
            if not isinstance(m, ir.Name):
                self.error("E404", "a group lists populations: `group hidden = [exc, inh]`", m.span)
                return None
            if m.id not in self.pops:
                if m.id in self.broken:
                    return None
                if m.id in self.groups:
                    self.error("E503", f"`{m.id}` is a group; groups hold populations", m.span)
                else:
                    self.error("E201", f"undefined population `{m.id}`", m.span, suggest(m.id, self.pops))
                return None
            members.append(m.id)
        if not members:
            self.error("E503", f"group `{d.name.name}` has no populations", d.members.span,
                       "list its populations: `group hidden = [exc, inh]`")
            return None
        models = {self.pops[m].model for m in members}
        if len(models) > 1:
            self.error("E503", f"group `{d.name.name}` mixes neuron models ({', '.join(sorted(models))})", d.members.span,
                       "a group is simulated as one array: its populations must share a neuron model")
            return None
        for m in members:
            taken = next((g for g in self.groups.values() if m in g.members), None)
            if taken is not None or members.count(m) > 1:
                self.error("E503", f"population `{m}` is already in group `{taken.name if taken else d.name.name}`",
                           d.members.span)
                return None
        g = ir.Group(name=d.name.name, members=members, span=d.span)
        self.groups[g.name] = g
        return g

    # ---------------------------------------------------------------- inputs and outputs
    def _head_kwargs(self, head: ir.Expr) -> list[tuple[str, object, Span]]:
        out = []
        if isinstance(head, ir.Call):
            for k in head.kwargs:
                v = self.eval(k.value)
                if v is not None:
                    out.append((k.name, v, k.span))
        return out

    def _build_input(self, d: ast.Declaration, task) -> ir.Input | None:
        enc = self._model(d.head, "encoder", f"input `{d.name.name}`")
        if enc is None:
            return None
        if isinstance(d.head, ir.Call) and d.head.args:
            self.error("E305", "encoder parameters are passed by name: `poisson(max_rate = 200 Hz)`", d.head.args[0].span)
        params = {p.name: p.value for p in enc.params}
        kwargs = self._head_kwargs(d.head)
        normalize = "none"
        in_size = None
        for it in self._unique_items(d.items, f"input `{d.name.name}`"):
            if not isinstance(it, ast.Setting):
                self.error("E205", "an input body holds settings", it.span)
                continue
            v = self.eval(it.value)
            if v is None:
                continue
            if it.key.name == "normalize":
                if isinstance(v, Sym) and v.name in ("true", "false"):
                    normalize = "running" if v.name == "true" else "none"
                else:
                    normalize = self.rep.run(as_symbol, v, "normalize", ("running", "none")) or normalize
            elif it.key.name == "size":
                in_size = self.rep.run(as_int, v, "size")
            else:
                kwargs.append((it.key.name, v, it.key.span))
        for k, v, s in kwargs:
            if not any(p.name == k for p in enc.params):
                self.error("E204", f"encoder `{enc.name}` has no parameter `{k}`", s,
                           suggest(k, [p.name for p in enc.params] + ["normalize", "size"]))
        self._param_overrides(enc, [kw for kw in kwargs if any(p.name == kw[0] for p in enc.params)], params,
                              f"input `{d.name.name}`")
        if in_size is None:
            if task is None:
                return None
            in_size = task.obs if isinstance(task, ir.BraxTask) else task.features
        if in_size < 1:
            self.error("E403", "input size must be positive", d.span)
            return None
        return ir.Input(name=d.name.name, encoder=enc.name, params=params, in_size=in_size,
                        size=in_size * enc.size_factor, normalize=normalize, span=d.span)

    def _build_output(self, d: ast.Declaration, task) -> ir.Output | None:
        ro = self._model(d.head, "readout", f"output `{d.name.name}`")
        if ro is None:
            return None
        head = d.head
        if not isinstance(head, ir.Call) or not head.args or not isinstance(head.args[0], ir.Name):
            self.error("E206", f"output `{d.name.name}` needs the population it reads", head.span,
                       f"write `{ro.name}(hidden)`")
            return None
        src = head.args[0]
        if src.id in self.broken:
            return None
        if src.id in self.inputs:
            self.error("E205", f"`{src.id}` is an input; an output reads a population or a group", src.span,
                       suggest(src.id, [*self.pops, *self.groups]))
            return None
        if src.id not in self.pops and src.id not in self.groups:
            self.error("E201", f"undefined population `{src.id}`", src.span, suggest(src.id, [*self.pops, *self.groups]))
            return None
        if len(head.args) > 1:
            self.error("E305", f"a readout takes one population: `{ro.name}({src.id})`", head.args[1].span,
                       f"set readout parameters by name: `{ro.name}({src.id}, tau = 10 ms)` or in the body")
            return None
        params = {p.name: p.value for p in ro.params}
        kwargs = self._head_kwargs(head)
        clip = None
        size = None
        for it in self._unique_items(d.items, f"output `{d.name.name}`"):
            if not isinstance(it, ast.Setting):
                self.error("E205", "an output body holds settings", it.span)
                continue
            v = self.eval(it.value)
            if v is None:
                continue
            if it.key.name == "clip":
                if isinstance(v, ListV):
                    b = self._bounds((v, it), U.DIMENSIONLESS)
                    clip = b
                else:
                    c = self.rep.run(as_number, v, "clip")
                    if c is not None:
                        if c <= 0:
                            self.error("E401", "clip must be positive", it.value.span)
                        else:
                            clip = (-c, c)
            elif it.key.name == "size":
                size = self.rep.run(as_int, v, "size")
                if size is not None and size < 1:
                    self.error("E403", f"output size must be positive, not {size}", it.value.span)
                    return None
            else:
                kwargs.append((it.key.name, v, it.key.span))
        for k, v, s in kwargs:
            if not any(p.name == k for p in ro.params):
                self.error("E204", f"readout `{ro.name}` has no parameter `{k}`", s,
                           suggest(k, [p.name for p in ro.params] + ["clip", "size"]))
        self._param_overrides(ro, [kw for kw in kwargs if any(p.name == kw[0] for p in ro.params)], params,
                              f"output `{d.name.name}`")
        # the readout may read the source's state variables
        members = self.groups[src.id].members if src.id in self.groups else [src.id]
        model = self.models.get(self.pops[members[0]].model)
        if model is not None:
            exprs = [ro.value] + [o.rhs for o in ro.odes]
            for n in (n for e in exprs for n in names_in(e) if n.ref == "source"):
                if model.state(n.id) is None:
                    self.error("E204", f"readout `{ro.name}` reads `{n.id}`, but `{model.name}` has no state `{n.id}`",
                               head.span, suggest(n.id, [s.name for s in model.states]))
                    return None
            if "s" in {n.id for e in exprs for n in names_in(e)} and not model.spiking:
                self.error("E502", f"readout `{ro.name}` reads spikes, but `{model.name}` does not spike", head.span,
                           "read a non-spiking layer with `membrane`")
                return None
        if size is None:
            if task is None:
                return None
            size = task.action if isinstance(task, ir.BraxTask) else task.classes
        return ir.Output(name=d.name.name, readout=ro.name, source=src.id, params=params, size=size, clip=clip,
                         span=d.span)

    # ---------------------------------------------------------------- projections
    def _projection_body(self, d: ast.ProjectDecl):
        """weights, gain and learn of a projection: (connectivity, gain value, gain span) or None."""
        conn, gain_v, gain_span, learn = None, None, None, []
        for it in self._unique_items(d.items, f"projection `{d.source.node.name} -> {d.target.node.name}`"):
            if isinstance(it, ast.LearnDecl):
                learn.append(it)
                continue
            if not isinstance(it, ast.Setting):
                self.error("E205", "a projection body holds `weights`, `gain` and `learn`", it.span)
                continue
            if it.key.name == "weights":
                conn = self._connectivity(it)
                if conn is None:
                    return None
            elif it.key.name == "gain":
                gain_v, gain_span = self.eval(it.value), it.value.span
                if gain_v is None:
                    return None
            else:
                self.error("E203", f"unknown projection setting `{it.key.name}`", it.key.span,
                           suggest(it.key.name, ["weights", "gain"]) or "a projection sets `weights`, `gain`, `learn`")
                return None
        if conn is None:
            self.error("E206", f"projection `{d.source.node.name} -> {d.target.node.name}` needs `weights = ...`",
                       d.span, "e.g. `weights = bernoulli(p = 0.5)` or `weights = dense(init = kaiming)`")
            return None
        for ln in learn:
            want = "p" if conn.kind == "bernoulli" else "w"
            if ln.target.name != want:
                self.error("E204", f"{conn.kind} connections learn `{want}`, not `{ln.target.name}`", ln.target.span,
                           f"write `learn {want}`")
                return None
            if ln.per is not None:
                self.error("E205", "connection parameters are learned per synapse; drop `per`", ln.per.span)
                return None
            conn.learn = True
            s_ = self._settings(ln.body, ["bounds"] if want == "w" else [], f"learn {want}")
            if "bounds" in s_:
                conn.bounds = self._bounds(s_["bounds"], U.DIMENSIONLESS)
        return conn, gain_v, gain_span

    def _build_projection(self, d: ast.ProjectDecl) -> ir.Projection | None:
        body = self._projection_body(d)
        s, t = d.source, d.target
        sname, tname = s.node.name, t.node.name
        known = [*self.pops, *self.groups, *self.inputs, *self.outputs]
        kinds = {**{k: "population" for k in self.pops}, **{k: "group" for k in self.groups},
                 **{k: "input" for k in self.inputs}, **{k: "output" for k in self.outputs}}
        ok = True
        for ep in (s, t):
            if ep.node.name in self.broken:
                ok = False
            elif ep.node.name not in kinds:
                self.error("E201", f"undefined node `{ep.node.name}`", ep.node.span, suggest(ep.node.name, known))
                ok = False
        if not ok or body is None:
            return None
        conn, gain_v, gain_span = body
        sk, tk = kinds[sname], kinds[tname]
        if sk == "output":
            self.error("E502", f"`{sname}` is an output; projections start at an input or a population", s.node.span)
            return None
        if tk == "input":
            self.error("E502", f"`{tname}` is an input; projections end at a population or an output", t.node.span)
            return None
        if s.var is not None:
            self.error("E502", "the source of a projection is a whole node", s.var.span,
                       f"write `project {sname} -> ...`")
            return None
        target_var = None
        if tk == "output":
            if t.var is not None:
                self.error("E502", f"an output has no variables; write `-> {tname}`", t.var.span)
                return None
            out = self.outputs[tname]
            if out.source != sname:
                self.error("E502", f"output `{tname}` reads `{out.source}`, but this projection comes from `{sname}`",
                           s.node.span, f"project from `{out.source}`, or change the output's readout")
                return None
            n_in, n_out = self._size(sname), out.size
        else:
            members = self.groups[tname].members if tk == "group" else [tname]
            model = self.models.get(self.pops[members[0]].model)
            if model is None:
                return None
            targets = [st.name for st in model.states] + [p.name for p in model.ports]
            if t.var is None:
                self.error("E502", f"say which variable of `{tname}` the projection drives", t.node.span,
                           f"for example `{tname}.{targets[0]}`; `{model.name}` has: {', '.join(targets)}")
                return None
            if t.var.name not in targets:
                self.error("E204", f"`{model.name}` has no state or input `{t.var.name}`", t.var.span,
                           suggest(t.var.name, targets) or f"it has: {', '.join(targets)}")
                return None
            target_var = t.var.name
            n_in, n_out = self._size(sname), self._size(tname)
        name = f"{sname}->{tname}" + (f".{target_var}" if target_var else "")
        proj = ir.Projection(name=name, source=sname, target=tname, target_var=target_var, connectivity=conn,
                             gain=1.0, n_in=n_in, n_out=n_out, span=d.span)
        self._gain(proj, gain_v, gain_span, sk)
        return proj

    def _size(self, name: str) -> int:
        if name in self.inputs:
            return self.inputs[name].size
        if name in self.outputs:
            return self.outputs[name].size
        members = self.groups[name].members if name in self.groups else [name]
        return sum(self.pops[m].size for m in members)

    def _init(self, v, span) -> ir.Init | None:
        if isinstance(v, Q):
            return ir.Init(dist="constant", a=self.rep.run(as_number, v, "a constant weight") or 0.0, span=span)
        if isinstance(v, Sym) and v.name in ("kaiming", "lecun"):
            return ir.Init(dist=v.name, span=span)
        if isinstance(v, CallV) and v.func in ("normal", "uniform"):
            if len(v.args) != 2 or v.kwargs:
                self.error("E305", f"`{v.func}` takes two numbers", v.span)
                return None
            a, b = (self.rep.run(as_number, x, f"{v.func} argument") for x in v.args)
            if a is None or b is None:
                return None
            if v.func == "normal" and b < 0:
                self.error("E401", "a standard deviation cannot be negative", v.span)
                return None
            if v.func == "uniform" and a > b:
                self.error("E401", "uniform(low, high) needs low <= high", v.span)
                return None
            return ir.Init(dist=v.func, a=a, b=b, span=span)
        self.error("E404", "an initialiser is normal(mean, std), uniform(low, high), kaiming, lecun or a number",
                   getattr(v, "span", span), suggest(getattr(v, "name", getattr(v, "func", "")) or "",
                                                     ["normal", "uniform", "kaiming", "lecun"]))
        return None

    def _connectivity(self, it: ast.Setting):
        v = self.eval(it.value)
        if v is None:
            return None
        kinds = ("bernoulli", "dense", "sparse")
        if isinstance(v, Sym) and v.name == "dense":
            return ir.Dense(init=ir.Init(dist="kaiming", span=it.value.span), span=it.value.span)
        if not isinstance(v, CallV) or v.func not in kinds:
            name = getattr(v, "func", getattr(v, "name", ""))
            self.error("E404", "weights are bernoulli(p = ...), dense(init = ...) or sparse(p = ..., init = ...)",
                       it.value.span, suggest(name, kinds) if name else None)
            return None
        allowed = {"bernoulli": ["p"], "dense": ["init"], "sparse": ["p", "init"]}[v.func]
        args = dict(zip(allowed, v.args))
        if len(v.args) > len(allowed):
            self.error("E305", f"{v.func}() takes {', '.join(allowed)}", v.span)
            return None
        for k, val in v.kwargs.items():
            if k not in allowed:
                self.error("E203", f"{v.func}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                           suggest(k, allowed) or f"it takes: {', '.join(allowed)}")
                return None
            args[k] = val
        p = None
        if "p" in allowed:
            if "p" not in args:
                self.error("E206", f"{v.func}() needs `p`", v.span, f"e.g. `{v.func}(p = 0.5)`")
                return None
            p = self.rep.run(as_number, args["p"], "p")
            if p is None:
                return None
            if not 0 <= p <= 1:
                self.error("E401", f"a connection probability must be in [0, 1], not {p:g}",
                           getattr(args["p"], "span", None) or v.span)
                return None
        if v.func == "bernoulli":
            return ir.Bernoulli(p=p, span=it.value.span)
        init = self._init(args["init"], it.value.span) if "init" in args else ir.Init(dist="kaiming", span=it.value.span)
        if init is None:
            return None
        if v.func == "dense":
            return ir.Dense(init=init, span=it.value.span)
        return ir.Sparse(p=p, init=init, span=it.value.span)

    def _gain(self, proj: ir.Projection, v, span, source_kind: str) -> None:
        """Set proj.gain: a number, or `auto` / `auto(k = ...)` (the EC reference's formula)."""
        if v is None:
            return
        if isinstance(v, Q):
            x = self.rep.run(as_number, v, "gain")  # a plain number: a gain with units is E301
            if x is not None:
                proj.gain = x
            return
        is_auto = (isinstance(v, Sym) and v.name == "auto") or (isinstance(v, CallV) and v.func == "auto")
        if not is_auto:
            self.error("E404", "gain is a number, `auto` or `auto(k = ...)`", span, suggest(getattr(v, "name", ""), ["auto"]))
            return
        kind = "output" if proj.target_var is None else ("input" if source_kind == "input" else "population")
        k = AUTO_K[kind]
        if isinstance(v, CallV):
            extra = [n for n in v.kwargs if n != "k"]
            if extra:
                self.error("E203", f"auto() has no argument `{extra[0]}`", v.kw_spans.get(extra[0], v.span),
                           "its one argument is the factor `k`: `auto(k = 0.5)`")
                return
            if len(v.args) > 1 or (v.args and v.kwargs):
                self.error("E305", "auto() takes one argument, the factor `k`", v.span, "write `auto(k = 0.5)`")
                return
            kv = v.kwargs.get("k", v.args[0] if v.args else None)
            if kv is not None:
                k = self.rep.run(as_number, kv, "k")
                if k is None:
                    return
        conn = proj.connectivity
        p = conn.p if conn.kind in ("bernoulli", "sparse") else 1.0
        if p <= 0:
            self.error("E401", "gain = auto needs p > 0", span)
            return
        n = self.inputs[proj.source].in_size if source_kind == "input" else proj.n_in
        if kind == "output":
            proj.gain, proj.gain_rule = k * math.sqrt(1.0 / (p * n)), "auto"
            return
        members = self.groups[proj.target].members if proj.target in self.groups else [proj.target]
        pop = self.pops[members[0]]
        model = self.models[pop.model]
        theta_name, mem = model.threshold, model.membrane
        taus = decay_times(model, pop.params)
        if theta_name is None or mem is None or mem not in taus:
            if any(pop.params[n] <= 0 for n in time_constant_params(model)):
                return  # a zero time constant: checks.py reports E402 at the population
            self.error("E206", f"gain = auto needs a neuron with a threshold and a leaky membrane; "
                               f"`{model.name}` has none", span, "give the gain as a number")
            return
        theta = abs(pop.params[theta_name])
        tau_m = taus[mem]
        if kind == "input" and model.port(proj.target_var) is not None:
            scale = theta * tau_m  # a current held over the step (ms, as in the reference)
        elif proj.target_var != mem and proj.target_var in taus:
            scale = theta * tau_m / taus[proj.target_var]  # a synaptic current with its own decay
        else:
            scale = theta
        proj.gain, proj.gain_rule = k * scale * math.sqrt(2.0 / (p * n)), "auto"

    # ---------------------------------------------------------------- learning rule
    def _build_train(self, blk: ast.Block | None):
        if blk is None:
            return None
        rule = blk.kind.name
        if rule not in RULES:
            self.error("E201", f"unknown learning rule `{rule}`", blk.kind.span,
                       suggest(rule, RULES) or f"rules: {', '.join(RULES)}")
            return None
        model = RULES[rule]
        fields = {k: f for k, f in model.model_fields.items() if k not in ("rule", "span")}
        dotted, whole = [], []  # `optimizer.lr = ...` (from --set) sets one field of a grouped setting
        for it in blk.items:
            group, dot, _ = it.key.name.partition(".") if isinstance(it, ast.Setting) else ("", "", "")
            (dotted if dot and group in GROUPED and group in fields else whole).append(it)
        s = self._settings(whole, list(fields), f"train {rule}")
        values, spans = {}, {}
        for k, (v, it) in s.items():
            x = self.rep.run(convert, v, k, fields[k].annotation, self.scope.names())
            if x is not None:
                values[k], spans[k] = x, it.value.span
        for it in dotted:
            group, _, name = it.key.name.partition(".")
            v = self.eval(it.value)
            base = values.get(group, fields[group].default)
            x = None if v is None else self.rep.run(_set_field, base, name, v, it.key.span)
            if x is not None:
                values[group], spans[group] = x, it.value.span
        try:  # a setting that failed to convert was reported and is left at its default
            return model(rule=rule, span=blk.span, **values)
        except ValidationError as e:
            for er in e.errors():
                key = er["loc"][0] if er["loc"] else None
                msg = er["msg"].replace("Input should be", "must be").replace("Value error, ", "")
                if key is None:  # a rule across settings: point at the ones set in the spec
                    span = next((spans[k] for k in ("population", "eval_copies") if k in spans), blk.kind.span)
                    self.error("E401", f"train {rule}: {msg}", span)
                else:
                    self.error("E401", f"train.{key}: {msg}", spans.get(key, blk.kind.span))
            return model(rule=rule, span=blk.span)


def decay_times(model: ir.NeuronModel, params: dict[str, float]) -> dict[str, float]:
    """State -> its decay time constant -d/a in ms, for linear ODEs with parameter coefficients."""
    out = {}
    env = {k: Q(v) for k, v in params.items()}
    for ode in model.odes:
        lf = ode.linear
        if lf is None or ode.method != "exact":
            continue
        try:
            a = evaluate(lf.a, lambda n: env.get(n.id, Q(1.0)))
            d = evaluate(lf.d, lambda n: env.get(n.id, Q(1.0)))
        except ExprError:
            continue
        if a.value < 0 and d.value != 0:
            out[ode.var] = -d.value / a.value
    return out


# ---------------------------------------------------------------- typed settings


def convert(v, key: str, annotation, names=()):
    """A folded value -> the Python value a settings field wants."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        if isinstance(v, Sym) and v.name == "none":
            return None
        annotation = next(a for a in args if a is not type(None))
        return convert(v, key, annotation, names)
    if annotation is bool:
        return as_bool(v, key)
    if annotation is int:
        return as_int(v, key, names)
    if annotation is float:
        return as_number(v, key, names=names)
    if annotation is str:
        if isinstance(v, StrV):
            return v.value
        if isinstance(v, Sym):
            return v.name
        raise err("E404", f"{key} must be a string", getattr(v, "span", None))
    if origin is typing.Literal:
        return as_symbol(v, key, args)
    if annotation is Surrogate:
        return _surrogate(v)
    if annotation is Optimizer:
        return _optimizer(v)
    raise err("E404", f"cannot read {key}", getattr(v, "span", None))


GROUPED = ("optimizer", "surrogate")  # settings with fields of their own: train.optimizer.lr


def _set_field(base, name: str, v, span):
    """A copy of an Optimizer or Surrogate with one field set, checked like the whole setting."""
    if isinstance(base, Surrogate):
        pname = SURROGATE_PARAM[base.family][0]
        if name == "family":  # another family, with its default parameter
            return _surrogate(v)
        if name not in (pname, "scale"):
            raise err("E203", f"surrogate {base.family}() has no field `{name}`", span, f"its parameter is `{pname}`")
        return _surrogate(CallV(base.family, [v], {}, getattr(v, "span", span)))
    fields = list(Optimizer.model_fields)
    if name not in fields:
        raise err("E203", f"optimizer has no field `{name}`", span, suggest(name, fields) or f"fields: {', '.join(fields)}")
    x = convert(v, name, Optimizer.model_fields[name].annotation)
    try:
        return Optimizer(**{**base.model_dump(), name: x})
    except ValidationError as e:
        er = e.errors()[0]
        raise err("E401", f"optimizer.{name} {er['msg'].replace('Input should be', 'must be')}",
                  getattr(v, "span", span)) from None


def _surrogate(v) -> Surrogate:
    families = list(SURROGATE_PARAM)
    name = v.name if isinstance(v, Sym) else v.func if isinstance(v, CallV) else None
    if name not in SURROGATE_PARAM:
        raise err("E404", f"surrogate must be one of {', '.join(families)}", getattr(v, "span", None),
                  suggest(name or "", families))
    pname, default = SURROGATE_PARAM[name]
    scale = default
    if isinstance(v, CallV):
        if len(v.args) > 1 or (v.args and v.kwargs):
            raise err("E305", f"{name}() takes one argument, `{pname}`", v.span)
        for k in v.kwargs:
            if k != pname:
                raise err("E203", f"{name}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                          f"its parameter is `{pname}`")
        val = v.args[0] if v.args else v.kwargs.get(pname)
        if val is not None:
            scale = as_number(val, pname)
            if scale <= 0:
                raise err("E401", f"{pname} must be positive", v.span)
    return Surrogate(family=name, scale=scale)


def _optimizer(v) -> Optimizer:
    names = ["adam", "adamw", "sgd"]
    name = v.name if isinstance(v, Sym) else v.func if isinstance(v, CallV) else None
    if name not in names:
        raise err("E404", f"optimizer must be one of {', '.join(names)}", getattr(v, "span", None),
                  suggest(name or "", names))
    kw = {}
    if isinstance(v, CallV):
        if len(v.args) > 1:
            raise err("E305", f"{name}() takes the learning rate by position, the rest by name", v.span)
        if v.args:
            kw["lr"] = as_number(v.args[0], "lr")
        fields = [f for f in Optimizer.model_fields if f != "name"]
        for k, x in v.kwargs.items():
            if k not in fields:
                raise err("E203", f"{name}() has no argument `{k}`", v.kw_spans.get(k, v.span),
                          suggest(k, fields) or f"arguments: {', '.join(fields)}")
            kw[k] = convert(x, k, Optimizer.model_fields[k].annotation)
    try:
        return Optimizer(name=name, **kw)
    except ValidationError as e:
        er = e.errors()[0]
        raise err("E401", f"{name}(): {er['loc'][0]} {er['msg'].replace('Input should be', 'must be')}",
                  getattr(v, "span", None)) from None

