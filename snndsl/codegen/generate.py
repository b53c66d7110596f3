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
from ..lowering import lower
from ..runtime import INLINE_ORDER
from ..settings import RULES, is_structural
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
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


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
        body = [ln for ln in text.splitlines() if not re.match(r"^(import|from) \S+( import .*)?$", ln)]
        parts.append(f"# ============================================================================ runtime: {name}\n"
                     + "\n".join(body).strip() + "\n")
    return "\n\n".join(parts)


def runtime_imports(task_kind: str) -> list[str]:
    """Module-level imports the runtime helpers need (merged into the module's header)."""
    out = []
    for name in _runtime_files(task_kind):
        for ln in (RUNTIME / f"{name}.py").read_text().splitlines():
            if re.match(r"^(import|from) \S+( import .*)?$", ln) and not ln.rstrip().endswith("# inline: drop"):
                out.append(ln)
    return out


_THIRD_PARTY = ("jax", "numpy", "optax")


def _stdlib_imports(task_kind: str) -> list[str]:
    base = ["import argparse", "import contextlib", "import io", "import json", "import os", "import sys",
            "import time", "import warnings"]
    extra = [ln for ln in runtime_imports(task_kind) if ln.split()[1].split(".")[0] not in _THIRD_PARTY]
    return sorted(set(base + extra))


def config_of(spec: ir.Spec) -> dict:
    """The module's runtime settings: train.*, task.*, time.* as plain JSON values."""
    train = spec.train.model_dump(mode="json", exclude={"span", "rule"})
    task = spec.task.model_dump(mode="json", exclude={"span", "kind"})
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


def choices_of(spec: ir.Spec) -> dict:
    """Allowed values of enumerated settings, for the emitted file's --set checks."""
    import typing

    out = {}
    model = RULES[spec.train.rule]
    for k, f in model.model_fields.items():
        if typing.get_origin(f.annotation) is typing.Literal and k != "rule":
            out[f"train.{k}"] = list(typing.get_args(f.annotation))
    if isinstance(spec.task, ir.BraxTask):
        from ..frontend.build_network import BRAX_BACKENDS

        out["task.backend"] = list(BRAX_BACKENDS)
    return out


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


def generate(spec: ir.Spec) -> str:
    plan = lower(spec)
    net = build_network(plan)
    env = _env()
    task_kind = "brax" if isinstance(spec.task, ir.BraxTask) else "dataset"
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
            structural=_fmt(structural_keys(spec)), choices=_fmt(choices_of(spec)), **ctx),
    )
    return _tidy(text)


def _tidy(text: str) -> str:
    """At most two blank lines in a row; a single trailing newline."""
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.rstrip() + "\n"
