"""The short human summary `snndsl check` prints for a valid spec."""

from __future__ import annotations

import os

from snndsl_runtime.settings import fitness_of

from . import ir
from .elaborate.units import base_unit
from .ir.tables import EVENT_DATASETS, dataset_shape
from .lower import Plan, estimate, lower
from .settings import SURROGATE_PARAM, Surrogate, applies_to


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _method(m: ir.NeuronModel) -> str:
    """`dv/dt, du/dt euler` or `step: i_syn, v`: what advances each state."""
    if m.integration.method == "step":
        return "step: " + ", ".join(dict.fromkeys(u.var for u in m.steps))
    if not m.odes:
        return "no equations"
    return ", ".join(f"d{o.var}/dt" for o in m.odes) + " " + m.integration.method.replace("_", " ")


def _table(rows: list[list[str]], indent: str = "    ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    return [indent + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]


def _event_frames(t: ir.DatasetTask, steps: int) -> str:
    c, h, w = dataset_shape(t.dataset, t.size)
    return f"{steps} frames of {h}x{w} pixels x {c} polarities per recording"


def summarize(spec: ir.Spec, plan: Plan | None = None) -> str:
    """A readable account of the spec; pass its plan if the caller has it (else it is lowered here)."""
    t = spec.task
    if t is None:
        task = "none"
    elif isinstance(t, ir.BraxTask):
        task = f"brax {t.env} ({t.backend} backend, episodes of {t.episode_length} steps, obs {t.obs}, action {t.action})"
    else:
        task = f"dataset {t.dataset} ({t.features} features, {t.classes} classes"
        task += (f", {t.frames} time steps per sample" if t.frames else "") + \
            (f", {_event_frames(t, spec.time.steps)}" if t.dataset in EVENT_DATASETS else "") + \
            (f", {t.validation:g} of train held out for validation" if t.validation else "") + \
            (f", training batches cropped from {t.crop}-pixel padding" if t.crop else "") + \
            (", half of each training batch flipped" if t.flip else "") + ")"
        if t.dataset == "arrays":
            task += f" from {t.path}" + (f", images {list(t.shape)} stored {t.layout}" if t.shape else "")
    ok = "ok" if spec.trainable else "ok, can be simulated (`snndsl sim`) but not trained: " + \
        " and ".join(f"no `{b}` block" for b in ("task", "train") if getattr(spec, b) is None)
    lines = [f"{spec.file}: {ok}", f"  task      {task}"]
    tm = spec.time
    per = "environment step" if isinstance(t, ir.BraxTask) else "time step"
    time = f"dt {_fmt(tm.dt)} ms, {tm.substeps} network step{'s' if tm.substeps > 1 else ''} per {per}"
    if isinstance(t, ir.DatasetTask):
        time += f", {tm.steps} time step{'s' if tm.steps > 1 else ''} per sample"
    if tm.precision != "float32":
        time += f", {tm.precision}"
    lines.append(f"  time      {time}")

    lines.append("  neuron models")
    used = {p.model for p in spec.populations}
    rows = []
    for m in spec.neurons:
        if m.name not in used:
            continue
        reset = "no spikes" if not m.spiking else ("soft reset" if m.soft_reset else "hard reset")
        rows.append([m.name, _method(m), reset] + ([f"refractory {_fmt(m.refractory)} ms"] if m.refractory else []))
    lines += _table(rows)
    for m in spec.neurons:
        if m.name in used:
            lines.append(f"    {m.name}: {m.integration.method.replace('_', ' ')}, {m.integration.reason}")

    lines.append("  populations")
    rows = []
    for p in spec.populations:
        sign = "excitatory" if p.sign == 1 else "inhibitory"
        learn = ", ".join(f"learn {ln.param} per {ln.sharing}" for ln in p.learn)
        grp = f"in {p.group}" if p.group else ""
        size = f"{_shape_text(p.shape)} = {p.size}" if p.shape else str(p.size)
        rows.append([p.name, p.model, size, sign, grp, learn])
    lines += _table(rows)
    for p in spec.populations:
        for name, d in p.draws.items():
            dims = spec.neuron(p.model).param(name).dims
            unit = "" if tuple(dims) == (0, 0, 0) else " " + base_unit(dims)
            shown = f'file("{os.path.basename(d.path or "")}", "{d.key}")' if d.dist == "file" else \
                f"{d.dist}({d.a:g}{unit}, {d.b:g}{unit})"
            lines.append(f"    {p.name}.{name} drawn per neuron: {shown}, mean {p.params[name]:g}{unit}")
    for g in spec.groups:
        lines.append(f"    group {g.name} = {' + '.join(g.members)} ({spec.size_of(g.name)} neurons)")

    lines.append("  inputs and outputs")
    rows = []
    for i in spec.inputs:
        norm = "running normaliser" if i.normalize == "running" else ""
        size = f"{i.in_size} -> {i.size}" + (f" {_shape_text(i.shape)}" if i.shape else "")
        rows.append(["input", i.name, i.encoder, size, norm])
    for o in spec.outputs:
        clip = f"clip [{_fmt(o.clip[0])}, {_fmt(o.clip[1])}]" if o.clip else ""
        rows.append(["output", o.name, f"{o.readout}({o.source})", str(o.size), clip])
    lines += _table(rows)

    lines.append("  projections")
    rows = []
    plan = plan if plan is not None else lower(spec)
    for pp in plan.projections:
        pr = pp.ir
        c = pr.connectivity
        if c.kind == "bernoulli":
            conn = f"bernoulli p={_fmt(c.p)}"
        elif c.kind == "dense":
            conn = f"dense {c.init.dist}"
        elif c.kind == "conv2d":
            pad = c.padding_rule if isinstance(c.padding_rule, str) else f"padding={c.padding_rule}"
            conn = f"conv2d {c.kernel}x{c.kernel}/{c.stride} {pad} {c.init.dist}"
        elif c.kind == "pool":
            conn = c.op if c.op == "global_avg_pool" else f"{c.op} {c.size}"
        else:
            conn = f"sparse p={_fmt(c.p)} {c.init.dist}"
        if pr.pool is not None:
            conn = (pr.pool.op if pr.pool.op == "global_avg_pool" else f"{pr.pool.op} {pr.pool.size}") + " + " + conn
        if pr.norm is not None:
            conn += f" + batch norm ({pr.norm_channels[0]} channels)"
        gain = f"gain {_fmt(pr.gain)}" + (" (auto)" if pr.gain_rule == "auto" else "")
        learn = f"learn {'p' if c.kind == 'bernoulli' else 'w'}" if c.learn else "fixed"
        note = f"spikes of {pp.steps} steps back" if pp.steps >= 2 else "previous step's spikes" if pp.delayed else ""
        rows.append([pr.name, conn, gain, _layer_sizes(pr), learn, note])
    lines += _table(rows)

    counts = spec.parameter_counts()
    names = {"neuron": "neuron parameters", "norm": "batch norm scales and shifts"}
    parts = [f"{v:,} {names.get(k, k)}" for k, v in counts.items() if v]
    lines.append(f"  learnable {', '.join(parts) if parts else 'nothing'}")
    tr = spec.train
    if tr is None:
        lines.append("  learning rule none")
        lines.append(f"  memory    {estimate(plan).describe()} for the network, estimated (plus what `snndsl sim` records)")
        return "\n".join(lines)
    values = {f: getattr(tr, f) for f in type(tr).model_fields}
    if "fitness" in values and values["fitness"] is None and t is not None:  # the task's default
        values["fitness"] = fitness_of({}, t.kind)
    shown = [f"{f}={_setting_text(values[f])}" for f in type(tr).model_fields
             if f not in ("rule", "span") and (t is None or applies_to(type(tr), f, t.kind))]
    lines.append(f"  learning rule {tr.rule}: " + ", ".join(shown))
    lines.append(f"  memory    at its peak at least {estimate(plan).describe()}, estimated")
    return "\n".join(lines)


def _shape_text(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _layer_sizes(pr) -> str:
    """Inputs x outputs, with the shapes of a shaped layer and its weight count:
    `[1, 8, 8] -> [8, 8, 8], 72 weights`."""
    if pr.in_shape is None and pr.out_shape is None:
        return f"{pr.n_in} x {pr.n_out}"
    src = _shape_text(pr.in_shape) if pr.in_shape else str(pr.n_in)
    if pr.pool is not None:  # `[64, 32, 32] avg_pool(2) [64, 16, 16] -> ...`
        src = f"{_shape_text(pr.source_shape)} {pr.pool.op}({pr.pool.size or ''}) {src}"
    dst = _shape_text(pr.out_shape) if pr.out_shape else str(pr.n_out)
    return f"{src} -> {dst}, {pr.n_weights:,} weights"


def _setting_text(v) -> str:
    """A setting as the spec writes it: `triangle(width=1.0)`, `adam(lr=0.002, schedule=cosine)`."""
    if isinstance(v, Surrogate):
        return f"{v.family}({SURROGATE_PARAM[v.family][0]}={v.scale})"
    if hasattr(v, "model_dump"):
        d = v.model_dump()
        name = d.pop("name", "")
        return f"{name}(" + ", ".join(f"{k}={x}" for k, x in d.items() if x not in (None, 0.0, "constant")) + ")"
    return str(v)
