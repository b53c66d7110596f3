"""`snndsl sim` and `snndsl.simulate`: load a spec (or a trained run), turn the input forms of the
command line into arrays, and run snndsl_runtime.simulate on the model.

Input forms are parsed with the spec language's expression parser and folded with its units, so
`1 nA`, `[0.5 nA, 1 nA]`, `step(0 nA, 1 nA, at = 100 ms)`, `sine(0.2 nA, 10 Hz, offset = 0.3 nA)`,
`poisson(20 Hz)`, `spikes(neuron = 0, times = [10 ms, 20 ms])` and `path.npy` read as in a spec.
Every mistake is a diagnostic located in the reconstructed command line (`<command line>:1:COL`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass

import numpy as np

from . import ir
from .diagnostics import Diagnostic, Sources, Span, SpecError
from .elaborate import units as U
from .elaborate.expr import CallV, ExprError, ListV, Q, StrV, Sym, err, evaluate
from .elaborate.scope import as_number

CMDLINE = "<command line>"
FORMS = ("step", "sine", "poisson", "spikes")
NEURON_KW = "nrn___"


@dataclass
class InputArg:
    name: str
    form: str
    name_span: Span
    form_span: Span


@dataclass
class CommandLine:
    """The reconstructed command line: its text, the --input arguments and the --record names with spans."""

    text: str
    inputs: list[InputArg]
    record: list[tuple[str, Span]] | None
    duration_span: Span | None = None


def _span(col: int, length: int) -> Span:
    return Span(file=CMDLINE, line=1, col=col, end_line=1, end_col=col + max(1, length))


def command_line(sets=(), inputs=(), record=None, duration=None) -> CommandLine:
    """The text the diagnostics quote: `--set ... --input NAME=FORM ... --record a,b --duration D`
    (the --set part exactly as compile_program writes it, so its spans stay valid)."""
    text = " ".join(f"--set {s}" for s in sets)
    args, rec, dspan = [], None, None

    def add(part: str) -> int:
        nonlocal text
        text += (" " if text else "") + part
        return len(text) - len(part) + 1  # the column where part starts

    for pair in inputs:
        col = add(f"--input {pair}") + len("--input ")
        name, _, form = pair.partition("=")
        args.append(InputArg(name.strip(), form, _span(col, len(name)), _span(col + len(name) + 1, len(form))))
    if record is not None:
        col = add(f"--record {record}") + len("--record ")
        rec = []
        for part in record.split(","):
            if part.strip():
                rec.append((part.strip(), _span(col + len(part) - len(part.lstrip()), len(part.strip()))))
            col += len(part) + 1
    if duration is not None:
        col = add(f"--duration {duration}") + len("--duration ")
        dspan = _span(col, len(str(duration)))
    return CommandLine(text, args, rec, dspan)


def parse_duration(text: str | float, span: Span | None) -> float:
    """A duration in ms: a number (ms) or a time such as `500 ms`, `0.5 s`."""
    if isinstance(text, (int, float)):
        return float(text)
    v = _fold(text, span)
    if isinstance(v, Q) and v.dims == U.DIMENSIONLESS:
        return v.value  # a bare number is in ms
    return _raise(lambda: as_number(v, "the duration", U.TIME))


def _raise(fn):
    try:
        return fn()
    except ExprError as e:
        raise SpecError([e.diag]) from None


def _fold(text: str, span: Span | None):
    """The expression `text`, folded with units, its spans moved to `span`'s place on the command line."""
    from .elaborate.overrides import _shift
    from .syntax.parser import parse_expr

    if "\n" in text or "\r" in text or not text.strip():
        raise SpecError([Diagnostic("E404", "an input form is one line, not empty", span,
                                    "e.g. `--input hidden.i_ext=\"1 nA\"`")])
    # `neuron` is a keyword of the language; as spikes()'s argument it is renamed, same length,
    # so that the columns of the diagnostics stay right
    text = re.sub(r"\bneuron(?=\s*=)", NEURON_KW, text)
    try:
        expr = parse_expr(text)
        if span is not None:
            expr = _shift(expr, span.col - len("const _ = ") - 1)
    except SpecError as e:
        raise SpecError([dataclasses.replace(d, span=span) for d in e.diagnostics]) from None

    def lookup(e):
        name = e.id if isinstance(e, ir.Name) else f"{e.obj}.{e.attr}"
        if name in ("pi", "e"):
            import math

            return Q(math.pi if name == "pi" else math.e, U.DIMENSIONLESS, e.span)
        return Sym(name, e.span)

    return _raise(lambda: evaluate(expr, lookup, ("pi", "e")))


def _quantity(v, dims, what: str) -> float:
    if isinstance(v, Q) and v.dims == U.DIMENSIONLESS and dims != U.DIMENSIONLESS:
        raise err("E301", f"{what} needs units of {U.describe(dims)}, not a bare number", v.span,
                  f"write it with a unit, e.g. `{v.value:g} {U.base_unit(dims)}`")
    return as_number(v, what, dims)


def _values(v, dims, size: int, what: str) -> np.ndarray:
    """A number (for every neuron) or a list of one number per neuron."""
    if isinstance(v, ListV):
        if len(v.items) != size:
            raise err("E501", f"{what} has {len(v.items)} values but drives {size}", v.span,
                      f"give one number for all, or a list of {size}")
        return np.array([_quantity(i, dims, what) for i in v.items], np.float64)
    return np.full(size, _quantity(v, dims, what), np.float64)


def _times(v, what: str) -> list[float]:
    items = v.items if isinstance(v, ListV) else [v]
    return [_quantity(i, U.TIME, what) for i in items]


def input_array(arg: InputArg, target: dict, steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    """The array of one --input form: (size,) for a constant, (steps, size) otherwise."""
    size, dims, form = target["size"], tuple(target["dims"]), arg.form.strip()
    if form.endswith(".npy"):
        return _npy(arg, form, target, steps)
    v = _fold(form, arg.form_span)
    what = f"`{arg.name}`"
    t = np.arange(steps) * dt  # each step's start

    def build():
        if not isinstance(v, CallV):
            if isinstance(v, (Sym, StrV)):
                raise err("E305", f"unknown input form `{form}`", arg.form_span,
                          "a number with units, a list, step(...), sine(...), poisson(...), spikes(...) or a .npy file")
            return _values(v, dims, size, what)
        kw = {"neuron" if k == NEURON_KW else k: x for k, x in v.kwargs.items()}
        if v.func == "step" and len(v.args) == 2 and set(kw) == {"at"}:
            before, after = _values(v.args[0], dims, size, what), _values(v.args[1], dims, size, what)
            return np.where((t >= _quantity(kw["at"], U.TIME, "at"))[:, None], after, before).astype(np.float64)
        if v.func == "sine" and len(v.args) == 2 and set(kw) <= {"offset"}:
            amp = _values(v.args[0], dims, size, what)
            freq = _quantity(v.args[1], U.FREQUENCY, "the frequency")
            off = _values(kw["offset"], dims, size, what) if "offset" in kw else 0.0
            return (amp * np.sin(2 * np.pi * freq * t)[:, None] + off).astype(np.float64)
        if v.func == "poisson" and len(v.args) == 1 and not kw:
            rate = _values(v.args[0], U.FREQUENCY, size, "the rate")
            return (rng.random((steps, size)) < rate * dt).astype(np.float64)
        if v.func == "spikes" and not v.args and "times" in kw and set(kw) <= {"times", "neuron"}:
            out = np.zeros((steps, size), np.float64)
            cols = slice(None)
            if "neuron" in kw:
                i = as_number(kw["neuron"], "neuron")
                if i != int(i) or not 0 <= i < size:
                    raise err("E401", f"neuron {i:g} is not one of the {size} (0 to {size - 1})", kw["neuron"].span)
                cols = int(i)
            for tm in _times(kw["times"], "a spike time"):
                k = int(round(tm / dt))
                if not 0 <= k < steps:
                    raise err("E401", f"spike time {tm:g} ms is outside the simulation (0 to {steps * dt:g} ms)",
                              kw["times"].span)
                out[k, cols] = 1.0
            return out
        forms = "step(before, after, at = T), sine(amplitude, frequency, offset = 0), poisson(rate), " \
                "spikes(times = [...]) or spikes(neuron = i, times = [...])"
        known = v.func in FORMS
        raise err("E305", f"{'wrong arguments to' if known else 'unknown input form'} `{v.func}(...)`", v.span,
                  f"the forms are {forms}")

    return _raise(build)


def _npy(arg: InputArg, path: str, target: dict, steps: int) -> np.ndarray:
    size = target["size"]
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SpecError([Diagnostic("E003", f"cannot read {path}: {getattr(e, 'strerror', None) or e}",
                                    arg.form_span, "give a .npy file saved with numpy.save")]) from None
    if a.shape == (size,) or (a.ndim == 2 and a.shape[1] == size and a.shape[0] >= steps):
        return a.astype(np.float64)
    raise SpecError([Diagnostic("E501", f"{path} has shape {a.shape}, but `{arg.name}` takes ({size},) for a "
                                        f"constant or ({steps}, {size}) for {steps} network steps", arg.form_span,
                                "rows are network steps, columns neurons (or the input's values)")])


def _located(e, cl: CommandLine) -> Diagnostic:
    """A RunError from the runtime, located at the --input / --record name it names."""
    span = None
    node = getattr(e, "node", None) or ""
    kind, _, name = node.partition(":")
    if kind == "input":
        span = next((a.name_span for a in cl.inputs if a.name == name), None)
    elif kind == "record":
        span = next((s for n, s in cl.record or [] if n == (name or n)), None)
    elif kind == "duration":
        span = cl.duration_span
    return Diagnostic(e.code, e.message, span, e.hint)


@dataclass
class Loaded:
    model: object
    params: object  # None (initial parameters) or (weights, block parameters, step factors)
    sources: Sources
    name: str
    trainer: object = None  # a trained run's trainer (with its test set), else None


def load(spec_or_run: str, sets=(), import_path=()) -> Loaded:
    """The model of a spec (compiled, cached) or of a run folder (its own train.py and checkpoint)."""
    if os.path.isdir(spec_or_run):
        return _load_run(spec_or_run)
    from .driver.build import import_module, load_plan, module_text

    plan, sources = load_plan(spec_or_run, list(sets), import_path=list(import_path))
    model, _ = import_module(module_text(plan.spec, plan), plan.spec.name)
    return Loaded(model, None, sources, plan.spec.name)


def _load_run(run_dir: str) -> Loaded:
    from snndsl_runtime.checkpoint import load_checkpoint
    from snndsl_runtime.config import check_config
    from snndsl_runtime.errors import RunError
    from snndsl_runtime.loop import read_run_config
    from snndsl_runtime.trainers import trainer_class

    from .driver.build import import_file

    path = os.path.join(run_dir, "train.py")
    if not os.path.exists(path):
        raise RunError("E821", f"{run_dir} is not a run folder (no train.py)", "give the --out folder of a `snndsl run`")
    saved = read_run_config(run_dir)
    try:
        model = import_file(path)
    except Exception as e:  # the folder's program is not one this snndsl can load
        raise RunError("E822", f"{path} cannot be loaded as an snndsl model: {type(e).__name__}: {e}",
                       "re-run the spec to make a run folder this version can simulate") from None
    cfg = saved["config"]
    check_config(cfg, model.CONFIG, model.RULE, model.TASK_KIND, os.path.join(run_dir, "config.json"))
    if "population" in cfg["train"]:  # as `snndsl eval`: the simulated network does not depend on it
        cfg = {**cfg, "train": {**cfg["train"], "population": cfg["train"]["eval_copies"] + 2}}
    trainer = trainer_class(model.RULE, model.TASK_KIND)(model, cfg, saved.get("seed", 0))
    state, meta = load_checkpoint(os.path.join(run_dir, "checkpoint.npz"), trainer.snapshot())
    trainer.restore(state, meta)
    return Loaded(model, trainer.deterministic(trainer.state), Sources(), model.SPEC_NAME, trainer)


def prepare_inputs(loaded: Loaded, cl: CommandLine, steps: int, seed: int) -> dict:
    """{name: array} from the --input arguments; SpecError with every mistake."""
    from snndsl_runtime.errors import RunError
    from snndsl_runtime.simulate import input_target

    rng = np.random.default_rng(seed)
    out, diags = {}, []
    for arg in cl.inputs:
        if not arg.name or not arg.form.strip():
            diags.append(Diagnostic("E203", f"`--input {arg.name + '=' + arg.form if arg.form else arg.name}` needs the form NAME=FORM",
                                    arg.name_span, 'e.g. `--input "hidden.i_ext=1 nA"`'))
            continue
        try:
            target = input_target(loaded.model, arg.name)
            a = input_array(arg, target, steps, loaded.model.DT, rng)
            out[arg.name] = out[arg.name] + a if arg.name in out else a
        except RunError as e:
            diags.append(_located(e, cl))
        except SpecError as e:
            diags.extend(e.diagnostics)
    if diags:
        raise SpecError(diags)
    return out


def simulate(spec_or_run, inputs=None, duration="100 ms", record=None, sets=(), seed=0, sample=None,
             import_path=()):
    """Simulate a spec or a trained run folder; returns the recording (a dict of numpy arrays).

    inputs: {name: form}, a form being text as on the command line (`"1 nA"`, `"step(0 nA, 1 nA, at = 50 ms)"`,
    `"data.npy"`) or an array in base units (ms, mV, nA).  duration: "500 ms" or a float in ms.
    record: names such as "hidden.v", "hidden.spikes", "logits.value" (default: spikes and membranes).
    Raises SpecError (diagnostics) or snndsl_runtime.RunError on bad input."""
    from snndsl_runtime.simulate import simulate as run

    loaded = load(str(spec_or_run), sets, import_path)
    texts = {k: v for k, v in (inputs or {}).items() if isinstance(v, str)}
    arrays = {k: v for k, v in (inputs or {}).items() if not isinstance(v, str)}
    cl = command_line(sets, [f"{k}={v}" for k, v in texts.items()])
    ms = parse_duration(duration, None)
    steps = int(round(ms / loaded.model.DT))
    given = {**prepare_inputs(loaded, cl, steps, seed), **arrays}
    if sample is not None:
        given[loaded.model.INPUT] = sample_input(loaded, sample)[0]
    return run(loaded.model, loaded.params, given, ms, record, seed)


def sample_input(loaded: Loaded, k: int) -> tuple[np.ndarray, int]:
    """Test sample k of a dataset run: (its features, its label)."""
    from snndsl_runtime.errors import RunError

    tr = loaded.trainer
    if tr is None or not hasattr(tr, "x_test"):
        raise RunError("E206", "--sample needs a run folder of a dataset task",
                       "give the run folder of a `snndsl run` on digits, MNIST, ...", node="sample")
    if not 0 <= k < len(tr.x_test):
        raise RunError("E401", f"--sample {k}: the test set has {len(tr.x_test)} samples (0 to {len(tr.x_test) - 1})",
                       None, node="sample")
    return np.asarray(tr.x_test[k], np.float32), int(tr.y_test[k])


def initial_params(model, seed: int):
    """The network of a spec's initial parameters (what simulate uses without params)."""
    import jax

    from snndsl_runtime.network import init_parameters, network

    return network(model, *init_parameters(model, jax.random.PRNGKey(seed)))


def predicted_class(model, values: np.ndarray) -> int:
    """The class a dataset run predicts from its output's values, as training's predict does: the
    values at the end of each time step (every SUBSTEPS network steps), summed (per_step loss) or
    the last (final)."""
    per_step = values[model.SUBSTEPS - 1::model.SUBSTEPS]
    loss = model.CONFIG.get("train", {}).get("loss", "per_step")
    return int(np.argmax(per_step.sum(0) if loss == "per_step" else per_step[-1]))
