"""Render one standalone training module for a spec.

    module_text = generate(spec)

One template per concern (templates/): the network (shared by every rule), initial weights,
the task (Brax or dataset), the learning rule, the driver; the runtime helpers in
snndsl/runtime/ are pasted in verbatim.  The result imports jax, numpy, optax and the task's
library, never snndsl.
"""

from __future__ import annotations

import hashlib
import pprint
import re
from functools import lru_cache
from pathlib import Path

import jinja2

from .. import ir
from ..lower import Plan, lower
from ..runtime import INLINE_ORDER
from ..settings import RULES, applies_to, is_structural
from .network import build_network

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME = Path(__file__).resolve().parent.parent / "runtime"

RULE_TEMPLATES = {  # (rule, task kind) -> templates
    ("ec", "brax"): ("evolution.py.jinja", "rule_ec.py.jinja"),
    ("es", "brax"): ("evolution.py.jinja", "rule_es.py.jinja"),
    ("stop", "dataset"): ("surrogate.py.jinja", "classification.py.jinja", "rule_stop.py.jinja"),
    ("surrogate", "dataset"): ("surrogate.py.jinja", "classification.py.jinja", "rule_surrogate.py.jinja"),
    ("surrogate", "brax"): ("surrogate.py.jinja", "rule_ppo.py.jinja"),
}
RULE_TITLES = {
    "ec": "Evolving Connectivity (natural ES over Bernoulli connection probabilities)",
    "es": "evolution strategies on real weights",
    "stop": "STOP (forward-in-time traces for weights, thresholds and leaks)",
    "surrogate": "surrogate-gradient backpropagation through time",
    "ppo": "PPO with truncated surrogate-gradient BPTT through the spiking policy",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import shlex

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["shell_quote"] = shlex.quote
    return env


_IMPORT = re.compile(r"^(import \S+( as \w+)?|from \S+ import .*)$")  # a module-level import line


def _runtime_files(task_kind: str) -> list[str]:
    return [n for n in INLINE_ORDER if n != "datasets" or task_kind == "dataset"]


def runtime_source(task_kind: str) -> str:
    """The runtime helpers, in order, without their sibling imports."""
    parts = []
    for name in _runtime_files(task_kind):
        text = (RUNTIME / f"{name}.py").read_text()
        text = "\n".join(line for line in text.splitlines() if not line.rstrip().endswith("# inline: drop"))
        text = re.sub(r'^"""(.*?)"""\n', lambda m: "".join(f"# {ln}".rstrip() + "\n" for ln in m.group(1).splitlines()),
                      text, count=1, flags=re.S)  # module docstring -> comment
        body = [ln for ln in text.splitlines() if not _IMPORT.match(ln)]
        parts.append(f"# ============================================================================ runtime: {name}\n"
                     + "\n".join(body).strip() + "\n")
    return "\n\n".join(parts)


def runtime_imports(task_kind: str) -> list[str]:
    """Module-level imports the runtime helpers need (merged into the module's header)."""
    out = []
    for name in _runtime_files(task_kind):
        for ln in (RUNTIME / f"{name}.py").read_text().splitlines():
            if _IMPORT.match(ln) and not ln.rstrip().endswith("# inline: drop"):
                out.append(ln)
    return out


_THIRD_PARTY = ("jax", "numpy", "optax")


def _stdlib_imports(task_kind: str) -> list[str]:
    base = ["import argparse", "import io", "import json", "import os", "import shutil", "import sys", "import time"]
    if task_kind == "brax":  # quieting brax's and mujoco's import-time output
        base += ["import contextlib", "import warnings"]
    extra = [ln for ln in runtime_imports(task_kind) if ln.split()[1].split(".")[0] not in _THIRD_PARTY]
    return sorted(set(base + extra))


def config_of(spec: ir.Spec) -> dict:
    """The module's runtime settings: train.*, task.*, time.* as plain JSON values (the train
    settings that mean something for this task)."""
    model, kind = RULES[spec.train.rule], spec.task.kind
    train = spec.train.model_dump(mode="json", exclude={"span", "rule"})
    train = {k: v for k, v in train.items() if applies_to(model, k, kind)}
    task = spec.task.model_dump(mode="json", exclude={"span", "kind"})
    if isinstance(spec.task, ir.DatasetTask):
        from ..ir.tables import DATASET_KEYS, dataset_keys

        task = {k: v for k, v in task.items() if k not in DATASET_KEYS or k in dataset_keys(spec.task.dataset)}
    time = spec.time.model_dump(mode="json", exclude={"span"})
    return {"train": train, "task": task, "time": time}


def structural_keys(spec: ir.Spec) -> list[str]:
    model = RULES[spec.train.rule]
    keys = [f"train.{k}" for k in model.model_fields if is_structural(model, k)]
    keys += [f"train.surrogate.{k}" for k in ("family", "scale")]
    keys += ["time.dt", "time.substeps", "time.steps"]
    keys += ["task.env", "task.obs", "task.action"] if isinstance(spec.task, ir.BraxTask) else \
        ["task.dataset", "task.features", "task.classes"]
    return sorted(keys)


def limits_of(spec: ir.Spec) -> dict:
    """Allowed values of every runtime setting (choices, bounds, type where the default is None),
    read from the pydantic models, for the emitted file's --set checks."""
    import typing

    from pydantic import BaseModel

    def walk(model, prefix, config):
        out = {}
        for name, f in model.model_fields.items():
            key = prefix + name
            if name not in config or key in structural:
                continue
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out.update(walk(ann, key + ".", config[name]))
                continue
            rule = {}
            if typing.get_origin(ann) is typing.Literal:
                rule["choices"] = list(typing.get_args(ann))
            if config[name] is None and float in typing.get_args(ann):
                rule["type"] = "number"
            for m in f.metadata:
                rule.update({b: getattr(m, b) for b in ("gt", "ge", "lt", "le") if getattr(m, b, None) is not None})
            if rule:
                out[key] = rule
        return out

    structural = set(structural_keys(spec))
    config = config_of(spec)
    limits = walk(RULES[spec.train.rule], "train.", config["train"])
    limits.update(walk(type(spec.task), "task.", config["task"]))
    if isinstance(spec.task, ir.BraxTask):
        from ..ir.tables import BRAX_BACKENDS

        limits["task.backend"] = {"choices": list(BRAX_BACKENDS)}
    return limits


def spec_hash(spec: ir.Spec) -> str:
    return hashlib.sha256(spec.model_dump_json(exclude={"span"}).encode()).hexdigest()[:16]


def _surrogate_doc(spec: ir.Spec) -> str:
    """The formula line of the chosen surrogate, from settings.Surrogate's docstring."""
    sg = getattr(spec.train, "surrogate", None)
    if sg is None:
        return ""
    from ..settings import Surrogate

    line = next(ln.strip() for ln in Surrogate.__doc__.splitlines() if ln.strip().startswith(sg.family + "("))
    return line.replace("  ", " ")


def _fmt(obj) -> str:
    return pprint.pformat(obj, indent=1, width=110, sort_dicts=False)


def generate(spec: ir.Spec, plan: Plan | None = None) -> str:
    plan = plan if plan is not None else lower(spec)  # callers that compiled the spec pass its plan
    net = build_network(plan)
    env = _env()
    task_kind = spec.task.kind
    ctx = dict(spec=spec, plan=plan, net=net, task_kind=task_kind, surrogate_doc=_surrogate_doc(spec),
               spiking_blocks=[b.name for b in plan.blocks if b.model.spiking])
    rule_parts = [env.get_template(t).render(**ctx) for t in RULE_TEMPLATES[spec.train.rule, task_kind]]
    text = env.get_template("module.py.jinja").render(
        spec=spec, task_kind=task_kind, spec_hash=spec_hash(spec), rule_title=RULE_TITLES["ppo" if (spec.train.rule, task_kind) == ("surrogate", "brax") else spec.train.rule],
        config=_fmt(config_of(spec)),
        network=env.get_template("network.py.jinja").render(**ctx),
        weights=env.get_template("weights.py.jinja").render(**ctx),
        task=env.get_template(f"task_{task_kind}.py.jinja").render(**ctx),
        rule="\n\n".join(rule_parts),
        runtime=runtime_source(task_kind),
        stdlib_imports=_stdlib_imports(task_kind),
        driver=env.get_template("driver.py.jinja").render(
            structural=_fmt(structural_keys(spec)), limits=_fmt(limits_of(spec)), **ctx),
    )
    return _tidy(text)


def _tidy(text: str) -> str:
    """At most two blank lines in a row; a single trailing newline."""
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.rstrip() + "\n"
