"""One training run of a spec, as `snndsl run` does it: compile with the --set list (the run's own
one first when resuming), refuse what cannot be trained or does not fit, import the model, train it
with the live display, and word every failure as a diagnostic.  `snndsl run` is this function;
`snndsl compare` and `snndsl sweep` call it once per run folder."""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from ..diagnostics import Diagnostic, Span, SpecError
from ..diagnostics.render import report

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


@dataclass
class RunOutcome:
    status: int  # the exit status `snndsl run` would have
    out_dir: str | None = None
    rows: list[dict] = field(default_factory=list)  # the metrics rows this call trained (none if finished before)
    unit: str | None = None  # generation, epoch or iteration
    plan: object = None  # the compiled plan, when the spec compiled


def train_spec(file: str, sets: list[str], out_dir: str | None = None, seed: int = 0, resume: bool = False,
               import_path: list[str] = (), console=None, summary: bool = True, sample: int | None = None) -> RunOutcome:
    """Train `file` with `sets` into `out_dir` (default runs/<spec>-<time>), or continue the run
    there (`resume`); after a dataset run, raster.png of test sample `sample` (default 0).
    Diagnostics go to stderr; the outcome says how it ended."""
    import snndsl_runtime as runtime
    from snndsl_runtime import distributed
    from snndsl_runtime.loop import changed_settings
    from snndsl_runtime.trainers import trainer_class

    from .build import import_module, load_plan, load_spec, module_text
    from .progress import LiveProgress, console_for_logs, print_summary

    new_sets = list(sets)
    writer = distributed.is_writer()  # one process of several: only process 0 shows warnings and progress
    if resume and out_dir is None:
        out_dir = distributed.from_writer("latest run", latest_run(Path(file).stem))
        if out_dir is None:
            report([Diagnostic("E821", f"no earlier run of `{Path(file).stem}` with a checkpoint under runs/",
                               None, "give the run folder with --out DIR")], None)
            return RunOutcome(EXIT_BAD_INPUT)
    # a resumed run keeps the --set list it was made with; this command's come after it
    made_by, recorded = recorded_run(out_dir) if resume else ("", [])
    if made_by and made_by != Path(file).stem:  # before its --set list meets a spec it was not made for
        report([Diagnostic("E822", f"the run in {out_dir} was made by `{made_by}`, not by {file}", None,
                           f"resume it with {made_by}.snn, or start a new run in another --out folder")], None)
        return RunOutcome(EXIT_BAD_INPUT, out_dir)
    try:
        plan, sources = load_plan(file, recorded + new_sets, on_warnings=report if writer else lambda *_: None,
                                  import_path=import_path)
    except SpecError as e:
        report(e.diagnostics, getattr(e, "sources", None))
        return RunOutcome(EXIT_BAD_INPUT, out_dir)
    spec = plan.spec
    refusal = untrainable(spec, "train") or too_big(plan)
    if refusal:
        report([refusal], sources)
        return RunOutcome(EXIT_BAD_INPUT, out_dir, plan=plan)
    out_dir = out_dir or distributed.from_writer("out", os.path.join("runs", f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"))
    console = console or (console_for_logs() if writer else quiet_console())
    console.print(f"[bold]{escape(spec.file)}[/]: {spec.train.rule} -> {escape(str(out_dir))}")
    text = module_text(spec, plan)
    try:  # the run folder keeps a copy of the spec and its local modules (snndsl export finds it there)
        copied = spec_files(file, sources)
    except OSError as e:
        report([Diagnostic("E003", f"cannot read {file} again: {e.strerror or e}", None,
                           "keep the spec in place while it starts")], None)
        return RunOutcome(EXIT_BAD_INPUT, out_dir, plan=plan)
    with console.status("importing JAX and the generated model..."):
        model, _ = import_module(text, spec.name)
    if sample is not None and model.TASK_KIND != "dataset":
        report([Diagnostic("E871", f"--sample is for a dataset run; this one is a {model.TASK_KIND} run", None,
                           "drop --sample")], None)
        return RunOutcome(EXIT_BAD_INPUT, str(out_dir), plan=plan)
    unit = trainer_class(model.RULE, model.TASK_KIND).UNIT
    changes = []  # the run-time settings this command changes on top of the run's own
    if resume and new_sets:
        from ..codegen.generate import config_of

        before, _ = load_spec(file, recorded, import_path=import_path)
        changes = [f"{k}={json.dumps(b)}" for k, _, b in changed_settings(config_of(before), model.CONFIG)
                   if k not in model.STRUCTURAL]
    done = RunOutcome(EXIT_OK, str(out_dir), unit=unit, plan=plan)
    try:
        with LiveProgress(unit, console) as live:
            done.rows = runtime.train(model, None, out_dir, seed, resume, live, sets=changes,
                                      spec_source=(file, copied))
    except runtime.NonFiniteError as e:
        console.print(f"[bold red]training stopped[/] [E831]: {escape(e.message)}\n  = hint: {escape(str(e.hint))}")
        done.status = EXIT_BAD_INPUT
    except runtime.RunError as e:
        report([run_error(e, spec, sources)], sources)
        done.status = EXIT_BAD_INPUT
    except KeyboardInterrupt:
        if os.path.exists(os.path.join(out_dir, "checkpoint.npz")):
            console.print(escape(f"interrupted; continue with: snndsl run {shlex.quote(file)} --out "
                                 f"{shlex.quote(str(out_dir))} --resume"), soft_wrap=True)
        else:
            console.print("interrupted before the first checkpoint; there is nothing to resume")
        done.status = 130
    if done.status == EXIT_OK and done.rows and summary:
        print_summary(console, done.rows, unit, out_dir)
    if done.status == EXIT_OK and done.rows and model.TASK_KIND == "dataset" and writer:  # as `snndsl eval --sample K`
        try:
            result = runtime.evaluate(model, out_dir, seed, sample=sample or 0)
        except runtime.RunError as e:
            report([run_error(e, spec, sources)], sources)
            done.status = EXIT_BAD_INPUT
            return done
        if "raster" in result:
            console.print(escape(f"wrote {result['raster']}: test sample {result['sample']}, label {result['label']}, "
                                 f"predicted {result['predicted']}"), highlight=False)
    return done


def spec_files(file: str, sources) -> dict:
    """{path relative to the spec's folder: bytes} of the spec and of every module it imports from its
    own folder or below (the standard library and --import-path folders elsewhere are not copied): what
    the run folder keeps, at the same relative places, so that the copy generates the same network
    (a model's source file, relative to the spec, is part of it)."""
    from ..syntax.loader import STDLIB

    home, stdlib = Path(file).resolve().parent, STDLIB.resolve()
    out = {os.path.basename(file): Path(file).read_bytes()}
    for name in sources.names():
        path = Path(name).resolve()
        if name.startswith("<") or path == Path(file).resolve() or path.is_relative_to(stdlib) \
                or not path.is_relative_to(home) or not path.is_file():
            continue
        out[path.relative_to(home).as_posix()] = path.read_bytes()
    return out


def quiet_console():
    """The console of a process other than 0 in a job of several: it prints nothing."""
    from rich.console import Console

    return Console(stderr=True, quiet=True)


def run_error(e, spec, sources=None) -> Diagnostic:
    """A RunError from the generated module as a diagnostic located at the spec element it names
    (at `--set task.path=...` for a dataset error, when the path came from the command line)."""
    span = None
    if spec is not None and getattr(e, "node", None):
        node = e.node.split(":")[0]
        cmdline = sources.line("<command line>", 1) if sources is not None else None
        if node == "task" and cmdline and "task.path=" in cmdline and e.code.startswith("E81"):
            at = cmdline.rindex("task.path=")
            span = Span(file="<command line>", line=1, col=at + 1, end_line=1,
                        end_col=at + len(cmdline[at:].split(" ")[0]) + 1)
        elif node == "task":
            span = spec.task.span
        elif node == "train" and spec.train is not None:  # the mesh's refusals (E891, E892)
            span = spec.train.span
        elif node == "input" and spec.inputs:
            span = spec.inputs[0].span
        elif node == "output" and spec.outputs:
            span = spec.outputs[0].span
    return Diagnostic(e.code, e.message, span, e.hint)


def latest_run(spec_name: str) -> str | None:
    import glob

    runs = sorted(p for p in glob.glob(os.path.join("runs", f"{spec_name}-*"))
                  if os.path.exists(os.path.join(p, "checkpoint.npz")))
    return runs[-1] if runs else None


def recorded_run(out_dir: str) -> tuple[str, list[str]]:
    """The spec name and the --set list a run's program was made with (its checkpoint); ("", []) if
    there is no readable checkpoint (train() then says precisely what is wrong)."""
    from snndsl_runtime.checkpoint import checkpoint_meta
    from snndsl_runtime.errors import RunError

    try:
        meta = checkpoint_meta(os.path.join(out_dir, "checkpoint.npz"))
        return meta["spec"], list(meta["spec_sets"])
    except RunError:
        return "", []


def too_big(plan) -> Diagnostic | None:
    """E851 when the job's estimated peak memory exceeds what this machine has (before compiling)."""
    from ..lower import available_memory, estimate
    from ..lower.memory import human

    need, have = estimate(plan), available_memory()
    if have is None or need.total <= have[0]:
        return None
    rule = plan.spec.train.rule
    hint = {"ec": "a smaller train.population", "es": "a smaller train.population",
            "stop": "a smaller train.batch_size", "surrogate": "a smaller train.batch_size (or num_envs), "
            "train.remat = true, or the stop rule (memory constant in T)"}[rule]
    return Diagnostic("E851", f"this job needs at least {need.describe()}, more than the {human(have[0])} of "
                              f"{have[1]}", plan.spec.train.span,
                      f"try {hint}, fewer neurons, or a machine with more memory")


def untrainable(spec, command: str) -> Diagnostic | None:
    """E206 when `snndsl run`/`emit` is given a spec without a `task` or `train` block."""
    if spec.trainable:
        return None
    missing = " and no ".join(f"`{b}` block" for b in ("task", "train") if getattr(spec, b) is None)
    return Diagnostic("E206", f"training needs a `task` and a `train` block; this spec has no {missing}",
                      Span(file=spec.file, line=1, col=1),
                      f"`snndsl sim {spec.file}` simulates it as it is; to {command} it, add e.g. "
                      "`task digits { }` and `train surrogate { epochs = 10 }`")
