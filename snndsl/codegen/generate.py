"""Render the model file of a spec: its network, and a call into snndsl_runtime.

    model_text = generate(spec)

templates/model.py.jinja holds the file's frame (identity, settings, sizes, the spike function),
templates/network.py.jinja the network (constants, neuron models, block parameters, the network
step).  Training lives in snndsl_runtime, which the model imports and `snndsl emit` copies beside it.
"""

from __future__ import annotations

import hashlib
import json
import pprint
import re
import shlex
from functools import lru_cache
from pathlib import Path

import jinja2

import snndsl_runtime

from .. import ir
from ..lower import Plan, lower
from ..settings import RULES, applies_to, is_structural
from .network import build_network
from .printer import py_literal

TEMPLATES = Path(__file__).resolve().parent / "templates"

RULE_TITLES = {
    "ec": "Evolving Connectivity (natural ES over Bernoulli connection probabilities)",
    "es": "evolution strategies on real weights",
    "stop": "STOP (forward-in-time traces for weights, thresholds and leaks)",
    "surrogate": "surrogate-gradient backpropagation through time",
    "ppo": "PPO with truncated surrogate-gradient BPTT through the spiking policy",
}


def escaped(text: str) -> str:
    """Text safe inside a comment or a docstring: no line break, quote or backslash survives
    (JSON's escapes, which Python reads the same way)."""
    return json.dumps(str(text), ensure_ascii=True)[1:-1]


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["escaped"] = escaped
    env.filters["py"] = py_literal
    return env


def regenerate_command(spec: ir.Spec) -> str:
    """The shell command that writes this program again."""
    sets = [a for s in spec.overrides for a in ("--set", s)]
    return shlex.join(["snndsl", "emit", spec.file, *sets, "-o", "FILE"])


def config_of(spec: ir.Spec) -> dict:
    """The module's runtime settings: train.*, task.*, time.* as plain JSON values (the train
    settings that mean something for this task)."""
    time = spec.time.model_dump(mode="json", exclude={"span"})
    if not spec.trainable:  # a model to simulate: nothing to train it with
        return {"train": {}, "task": {}, "time": time}
    model, kind = RULES[spec.train.rule], spec.task.kind
    train = spec.train.model_dump(mode="json", exclude={"span", "rule"})
    train = {k: v for k, v in train.items() if applies_to(model, k, kind)}
    task = spec.task.model_dump(mode="json", exclude={"span", "kind"})
    if isinstance(spec.task, ir.DatasetTask):
        from ..ir.tables import DATASET_KEYS, config_keys

        task = {k: v for k, v in task.items() if k not in DATASET_KEYS or k in config_keys(spec.task.dataset)}
    return {"train": train, "task": task, "time": time}


def structural_keys(spec: ir.Spec) -> list[str]:
    from ..ir.tables import config_keys

    if not spec.trainable:
        return ["time.dt", "time.steps", "time.substeps"]
    model = RULES[spec.train.rule]
    keys = [f"train.{k}" for k in model.model_fields if is_structural(model, k)]
    keys += [f"train.surrogate.{k}" for k in ("family", "scale")]
    keys += ["time.dt", "time.substeps", "time.steps"]
    keys += ["task.env", "task.obs", "task.action"] if isinstance(spec.task, ir.BraxTask) else \
        ["task.dataset", "task.features", "task.classes"] + (["task.frames"] if spec.task.dataset == "arrays" else []) + \
        [f"task.{k}" for k in ("labels", "size", "shape") if k in config_keys(spec.task.dataset)]  # they set the sizes
    return sorted(keys)


def spec_hash(spec: ir.Spec) -> str:
    return hashlib.sha256(spec.model_dump_json(exclude={"span"}).encode()).hexdigest()[:16]


def _surrogate_doc(spec: ir.Spec) -> str:
    """The formula line of the chosen surrogate, from settings.Surrogate's docstring."""
    from ..settings import Surrogate

    family = spec.train.surrogate.family
    line = next(ln.strip() for ln in Surrogate.__doc__.splitlines() if ln.strip().startswith(family + "("))
    return line.replace("  ", " ")


def spike_lines(spec: ir.Spec) -> str:
    """The spike function and the reset gate the network uses, chosen by the rule."""
    train = spec.train
    if train is None or train.rule in ("ec", "es"):
        return ("spike = heaviside_spike  # evolution (or a simulation) needs no gradient\n"
                "reset_gate = identity_reset")
    sg = train.surrogate
    detach = train.rule == "stop" or train.detach_reset  # STOP's traces treat the reset as a constant
    return (f"# the spike: a Heaviside step forward; backward, with x = membrane - threshold: {_surrogate_doc(spec)}\n"
            f"spike = surrogate_spike({sg.family!r}, {sg.scale!r})\n"
            f"reset_gate = {'detached_reset' if detach else 'identity_reset'}")


RUNTIME_NAMES = {"snndsl_runtime.network": ("probe", "project", "sample_init", "spikes_of", "tau_from_raw"),
                 "snndsl_runtime.layers": ("apply_projection", "batch_norm", "per_channel"),
                 "snndsl_runtime.integrators": ("exponential_euler", "linear_propagator", "linear_step", "rk2", "rk4"),
                 "snndsl_runtime.spikes": ("detached_reset", "hard_reset", "heaviside_spike", "identity_reset",
                                           "surrogate_spike")}


def _runtime_imports(text: str) -> list[str]:
    """`from snndsl_runtime... import` lines for the runtime names the model's text uses."""
    lines = []
    for module, names in RUNTIME_NAMES.items():
        used = [n for n in names if re.search(rf"\b{n}\b", text)]
        if used:
            lines.append(f"from {module} import {', '.join(used)}")
    return lines


def _fmt(obj) -> str:
    return pprint.pformat(obj, indent=1, width=110, sort_dicts=False)


def generate(spec: ir.Spec, plan: Plan | None = None) -> str:
    plan = plan if plan is not None else lower(spec)  # callers that compiled the spec pass its plan
    net = build_network(plan)
    env = _env()
    task_kind = spec.task.kind if spec.task is not None else None
    rule = spec.train.rule if spec.train is not None else None
    ctx = dict(spec=spec, plan=plan, net=net, task_kind=task_kind, stop=rule == "stop", norm=any(p.ir.norm is not None for p in plan.projections),
               spiking_blocks=[b.name for b in plan.blocks if b.model.spiking],
               time_constants=lambda model: list(ir.time_constant_params(model)))
    network = env.get_template("network.py.jinja").render(**ctx)
    spikes = spike_lines(spec)
    # a spec to simulate may have no input or output: INPUT None, sizes 0
    inp = plan.inputs[0] if plan.inputs else None
    out = plan.outputs[0] if plan.outputs else None
    text = env.get_template("model.py.jinja").render(
        spec=spec, task_kind=task_kind, spec_hash=spec_hash(spec), regenerate=regenerate_command(spec),
        network_hash=hashlib.sha256((spikes + network).encode()).hexdigest()[:16],
        rule=rule, rule_title="simulation only (no task or train block)" if rule is None or task_kind is None
        else RULE_TITLES["ppo" if (rule, task_kind) == ("surrogate", "brax") else rule],
        runtime_version=snndsl_runtime.__version__, runtime_imports=_runtime_imports(spikes + network),
        config=_fmt(config_of(spec)), structural=_fmt(structural_keys(spec)),
        input_name=inp.name if inp else None, in_size=inp.in_size if inp else 0, out_size=out.ir.size if out else 0,
        normalize=task_kind == "brax" and inp is not None and inp.normalize == "running",
        spike_lines=spikes, network=network,
    )
    return _tidy(text)


def _tidy(text: str) -> str:
    """At most two blank lines in a row; a single trailing newline."""
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.rstrip() + "\n"
