"""The `snndsl` command: check, run, emit, sim, eval, inspect, export, import.

Every error in the user's input is a diagnostic and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from rich.markup import escape

from .diagnostics import Diagnostic, SpecError
from .diagnostics.render import report
from .driver.run import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, run_error as _run_error, untrainable as _untrainable


def cmd_check(args) -> int:
    from .compiler import compile_program

    status = EXIT_OK
    all_json = []
    for path in args.files:
        compiled = compile_program(path, args.set or [], args.import_path or [])
        spec, diags, sources = compiled.spec, compiled.diagnostics, compiled.sources
        if args.format == "json":
            all_json.extend(d.to_json() for d in diags)
        else:
            report(diags, sources)
        if spec is None:
            status = EXIT_BAD_INPUT
            continue
        if args.format == "json":
            continue
        if args.ir:
            print(spec.model_dump_json(indent=2))
        else:
            from .summary import summarize

            print(summarize(spec, compiled.plan))
    if args.format == "json":
        import json

        print(json.dumps(all_json, indent=2))
    return status


def cmd_run(args) -> int:
    from snndsl_runtime import distributed
    from snndsl_runtime.errors import RunError

    from .driver.run import train_spec

    try:  # several processes: join the job before anything starts JAX
        distributed.join_from_args(args)
    except RunError as e:
        report([Diagnostic(e.code, e.message, None, e.hint)], None)
        return EXIT_BAD_INPUT
    return distributed.run_as_process(lambda: train_spec(args.file, args.set or [], args.out, args.seed, args.resume,
                                                         args.import_path or [], sample=args.sample).status)


def cmd_compare(args) -> int:
    from .driver.compare import compare

    return compare(args.file, args.rules, args.seeds, args.out, args.set or [], args.import_path or [])


def cmd_sweep(args) -> int:
    from .driver.compare import sweep

    return sweep(args.file, args.set or [], args.seeds, args.out, [], args.import_path or [])


def cmd_emit(args) -> int:
    from snndsl_runtime.errors import RunError
    from snndsl_runtime.io import atomic_write, copy_runtime

    from .driver.build import load_plan, module_text

    plan, sources = load_plan(args.file, args.set or [], on_warnings=report, import_path=args.import_path or [])
    untrainable = _untrainable(plan.spec, "emit the training program for")
    if untrainable:
        report([untrainable], sources)
        return EXIT_BAD_INPUT
    text = module_text(plan.spec, plan)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    try:
        atomic_write(args.output, lambda f: f.write(text), "w")
        runtime = copy_runtime(os.path.dirname(os.path.abspath(args.output)))
    except RunError as e:
        report([Diagnostic("E841", e.message, None, "choose another path (its folder must exist and be writable)")],
               None)
        return EXIT_BAD_INPUT
    except OSError as e:
        report([Diagnostic("E841", f"cannot copy the runtime beside {args.output}: {e.strerror or e}", None,
                           "choose another path (its folder must exist and be writable)")], None)
        return EXIT_BAD_INPUT
    print(f"wrote {args.output} ({len(text.splitlines())} lines) and its runtime {runtime}: "
          f"python {shlex.quote(args.output)} --help", file=sys.stderr)
    return EXIT_OK


def _run_model(run_dir: str, console):
    """The model of a run folder (its own train.py), imported, or None after reporting why not (E821:
    not a run folder; E822: a program snndsl cannot load).  Warns when the program is not the one
    snndsl recorded there, or was made for another runtime version."""
    import snndsl_runtime as runtime
    from snndsl_runtime.loop import file_hash, read_run_config

    from .driver.build import import_file

    if not os.path.isdir(run_dir):
        report([Diagnostic("E821", f"{run_dir} is not a run folder (no such folder)", None,
                           "give the --out folder of a `snndsl run`")], None)
        return None
    module_path = os.path.join(run_dir, "train.py")
    if not os.path.exists(module_path):
        report([Diagnostic("E821", f"{run_dir} is not a run folder (no train.py)", None,
                           "give the --out folder of a `snndsl run`")], None)
        return None
    try:
        saved = read_run_config(run_dir)
    except runtime.RunError as e:
        report([_run_error(e, None)], None)
        return None
    # a run folder is code: say so when its program is not the one snndsl recorded there
    if saved.get("model_sha256") != file_hash(module_path):
        console.print(f"[yellow]warning:[/] {escape(module_path)} differs from the program this run was trained "
                      "with (its hash in config.json does not match); it is imported as it is now")
    try:
        model = import_file(module_path)
        runtime.check_model(model)
    except Exception as e:  # the folder's program is not one snndsl can load (older, edited, corrupt)
        report([Diagnostic("E822", f"{module_path} cannot be loaded as an snndsl model: {type(e).__name__}: {e}",
                           None, "re-run the spec to make a run folder this version can evaluate")], None)
        return None
    if getattr(model, "RUNTIME_VERSION", None) != runtime.__version__:
        console.print(f"[yellow]warning:[/] this run was made for snndsl_runtime {model.RUNTIME_VERSION}; "
                      f"using {runtime.__version__}")
    return model


def cmd_eval(args) -> int:
    from rich.console import Console

    import snndsl_runtime as runtime
    from snndsl_runtime.trainers import trainer_class

    console = Console(stderr=True)
    with console.status("loading the run and compiling its network..."):
        model = _run_model(args.dir, console)
        if model is None:
            return EXIT_BAD_INPUT
        options = {}
        for name, kind in (("sample", "dataset"), ("episodes", "brax")):
            value = getattr(args, name)
            if value is None:
                continue
            if model.TASK_KIND != kind:
                report([Diagnostic("E871", f"--{name} is for a {kind} run; this one is a {model.TASK_KIND} run", None,
                                   "--sample K: a dataset run's test sample; --episodes N: Brax episodes")], None)
                return EXIT_BAD_INPUT
            options[name] = value
        try:
            result = runtime.evaluate(model, args.dir, args.seed, best=args.best, **options)
        except runtime.RunError as e:
            report([_run_error(e, None)], None)
            return EXIT_BAD_INPUT
    unit = trainer_class(model.RULE, model.TASK_KIND).UNIT
    when = f"{unit} {result[unit]}, the best on validation" if args.best else f"{unit} {result[unit]}"
    if "return" in result:
        console.print(f"[bold]return[/] {result['return']:.2f} over {result['steps']} steps "
                      f"(deterministic network after {when})")
    if "return_mean" in result:
        console.print(f"[bold]return over {result['episodes']} episodes[/] {result['return_mean']:.2f} "
                      f"± {result['return_sd']:.2f} (mean ± sd)")
    if "test_accuracy" in result:
        console.print(f"[bold]test accuracy[/] {result['test_accuracy']:.2%} (after {when}); "
                      f"test sample {result['sample']}: label {result['label']}, predicted {result['predicted']}")
    rates = [f"{k[5:]} {v:.1f} Hz ({result['silent/' + k[5:]]:.0%} silent)" for k, v in result.items()
             if k.startswith("rate/")]
    if rates:
        console.print("[bold]firing rates[/] " + ", ".join(escape(r) for r in rates))
    for key in ("html", "gif", "raster"):
        if key in result:
            console.print(escape(f"wrote {result[key]}"))
    if "html_error" in result:
        console.print(f"[yellow]no HTML rollout:[/] {escape(str(result['html_error']))}")
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_error")}))
    return EXIT_OK


def cmd_inspect(args) -> int:
    """`snndsl inspect RUN_DIR`: the learned quantities in physical units, inspect.png; --format json."""
    from rich.console import Console

    import snndsl_runtime as runtime
    from snndsl_runtime.inspection import inspect_run, plot_inspection

    from .driver.inspection import print_inspection

    console = Console(stderr=True)
    model = _run_model(args.dir, console)
    if model is None:
        return EXIT_BAD_INPUT
    try:
        result, arrays = inspect_run(model, args.dir)
    except runtime.RunError as e:
        report([_run_error(e, None)], None)
        return EXIT_BAD_INPUT
    png = args.output or os.path.join(args.dir, "inspect.png")
    try:
        written = plot_inspection(png, model, result, arrays)
    except OSError as e:
        report([Diagnostic("E841", f"cannot write {png}: {e.strerror or e}", None,
                           "choose another -o path (its folder must exist and be writable)")], None)
        return EXIT_BAD_INPUT
    if written:
        result["plot"] = written
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        out = Console()
        print_inspection(out if out.is_terminal else Console(width=160), result)  # a file: whole rows
        if written:
            console.print(escape(f"wrote {written}"))
    return EXIT_OK


def cmd_sim(args) -> int:
    import time

    import numpy as np

    from snndsl_runtime.errors import RunError
    from snndsl_runtime.io import atomic_write
    from snndsl_runtime.simulate import default_record, firing_rates, output_names, plot, simulate, thresholds

    from . import simulation as sim

    duration = " ".join(args.duration) if args.duration else None
    cl = sim.command_line(args.set or [], args.input or [], args.record, duration)
    sources = None
    try:
        try:
            loaded = sim.load(args.target, args.set or [], args.import_path or [])
        except SpecError as e:
            sources = getattr(e, "sources", None)
            raise
        sources = loaded.sources
        sources.add("<command line>", cl.text)  # the --set part is unchanged: its spans still hold
        model = loaded.model
        label = None
        inputs = {}
        if args.inputs_file:
            try:
                with np.load(args.inputs_file, allow_pickle=False) as f:
                    inputs = {k: f[k] for k in f.files}
            except (OSError, ValueError) as e:
                raise RunError("E003", f"cannot read --inputs {args.inputs_file}: {getattr(e, 'strerror', None) or e}",
                               "give an .npz file saved with numpy.savez, one array per input name") from None
        if args.sample is not None:
            x, label = sim.sample_input(loaded, args.sample)
            inputs[model.INPUT] = x
        if duration is None:  # one sample's presentation for a dataset run, else 100 ms
            ms = model.STEPS * model.SUBSTEPS * model.DT if args.sample is not None else 100.0
        else:
            ms = sim.parse_duration(duration, cl.duration_span)
        steps = int(round(ms / model.DT))
        inputs.update(sim.prepare_inputs(loaded, cl, steps, args.seed))
        record = [n for n, _ in cl.record] if cl.record is not None else None
        if record is None and args.sample is not None:  # the output too, for the predicted class
            record = default_record(model) + [f"{o}.value" for o in output_names(model)]
        t0 = time.time()
        result = simulate(model, loaded.params, inputs, ms, record, args.seed)
    except SpecError as e:
        report(e.diagnostics, getattr(e, "sources", None) or sources)
        return EXIT_BAD_INPUT
    except RunError as e:
        report([sim._located(e, cl)], sources)
        return EXIT_BAD_INPUT
    out = args.output or f"{loaded.name}-sim.npz"
    try:
        atomic_write(out, lambda f: np.savez(f, **result), "wb")
    except (RunError, OSError) as e:
        report([Diagnostic("E841", getattr(e, "message", None) or f"cannot write {out}: {e}", None,
                           "choose another -o path (its folder must exist and be writable)")], None)
        return EXIT_BAD_INPUT
    print(f"{loaded.name}: {steps:,} network steps of {model.DT:g} ms ({ms:g} ms) in {time.time() - t0:.1f} s",
          file=sys.stderr)
    for pop, rate in firing_rates(result).items():
        n = int(result[f"{pop}.spikes"].sum())
        print(f"  {pop:<12} {n:>8,} spikes  mean rate {rate:.1f} Hz", file=sys.stderr)
    if label is not None:
        outs = [k for k in result if k.endswith(".value")]
        line = f"  test sample {args.sample}: label {label}"
        if outs:
            pred = sim.predicted_class(model, result[outs[0]])
            line += f", predicted class {pred}"
        print(line, file=sys.stderr)
    print(f"wrote {out} ({', '.join(k for k in result)})", file=sys.stderr)
    if args.format == "nir":
        from .interchange.nir_data import node_shapes, write_recording

        nird = os.path.splitext(out)[0] + ".nirdata"
        try:
            left_out = write_recording(nird, model, result)
        except RunError as e:
            report([Diagnostic(e.code, e.message, None, e.hint)], None)
            return EXIT_BAD_INPUT
        names = {k.split(".", 1)[0] for k in result}  # populations (their blocks are the nodes) and outputs
        recorded = {model.POPULATIONS[n]["block"] if n in model.POPULATIONS else n for n in names}
        shaped = ", ".join(f"{n} {'x'.join(map(str, c))}" for n, c in node_shapes(model).items() if n in recorded)
        print(f"wrote {nird} (NIR data: nodes named as `snndsl export` names them"
              + (f"; channels first: {shaped}" if shaped else "") + ")", file=sys.stderr)
        if left_out:
            print(f"note: not in {nird}: {', '.join(left_out)} (recorded for only part of a group; "
                  "record it for every member)", file=sys.stderr)
    if not args.no_plot:
        png = os.path.splitext(os.path.abspath(out))[0] + ".png"  # beside the recording, named after it
        membranes = {pop: p["membrane"] for pop, p in model.POPULATIONS.items()}
        if plot(png, result, thresholds(model, loaded.params or sim.initial_params(model, args.seed)), loaded.name,
                membranes=membranes, dt=model.DT):
            print(f"wrote {png}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args) -> int:
    """`snndsl export RUN_DIR -o net.nir` / `snndsl export --untrained SPEC -o net.nir`."""
    from snndsl_runtime.errors import RunError

    from .interchange import nir_export

    sources = None
    try:
        if args.untrained:
            graph, diags, sources = nir_export.export_spec(args.target, args.set or [], args.seed,
                                                           args.import_path or [])
        else:
            if not os.path.isdir(args.target):
                report([Diagnostic("E821", f"{args.target} is not a run folder", None,
                                   "give the --out folder of a `snndsl run`, or --untrained SPEC.snn")], None)
                return EXIT_BAD_INPUT
            graph, diags, sources = nir_export.export_run(args.target, args.spec, args.import_path or [])
    except SpecError as e:
        report(e.diagnostics, getattr(e, "sources", None) or sources)
        return EXIT_BAD_INPUT
    except RunError as e:
        report([Diagnostic(e.code, e.message, None, e.hint)], None)
        return EXIT_BAD_INPUT
    report(diags, sources)
    if graph is None:
        return EXIT_BAD_INPUT
    try:
        nir_export.write(graph, args.output)
    except OSError as e:
        report([Diagnostic("E841", f"cannot write {args.output}: {e.strerror or e}", None,
                           "choose another -o path (its folder must exist and be writable)")], None)
        return EXIT_BAD_INPUT
    kinds = {}
    for n in graph.nodes.values():
        kinds[type(n).__name__] = kinds.get(type(n).__name__, 0) + 1
    print(f"wrote {args.output}: {len(graph.nodes)} NIR nodes ("
          + ", ".join(f"{v} {k}" for k, v in kinds.items()) + f"), {len(graph.edges)} edges", file=sys.stderr)
    return EXIT_OK


def cmd_import(args) -> int:
    """`snndsl import net.nir -o spec.snn`: the spec and its weights (spec.npz beside it)."""
    from .interchange import nir_import

    if not args.output.endswith(".snn"):
        report([Diagnostic("E002", f"-o {args.output}: a spec is named *.snn", None, "e.g. -o imported.snn")], None)
        return EXIT_BAD_INPUT
    if args.rule and not args.task:
        report([Diagnostic("E404", "--rule needs --task: a rule trains the network on a task", None,
                           "e.g. --task digits --rule surrogate")], None)
        return EXIT_BAD_INPUT
    try:
        spec_path, npz = nir_import.import_file(args.file, args.output, args.dt, args.task, args.rule)
    except SpecError as e:
        report(e.diagnostics, None)
        return EXIT_BAD_INPUT
    except OSError as e:
        report([Diagnostic("E841", f"cannot write {args.output}: {e.strerror or e}", None,
                           "choose another -o path (its folder must exist and be writable)")], None)
        return EXIT_BAD_INPUT
    print(f"wrote {spec_path} and {npz}", file=sys.stderr)
    if not args.task:
        print(f"  snndsl check {shlex.quote(spec_path)}", file=sys.stderr)
        return EXIT_OK
    from .compiler import compile_spec

    _, diags, sources = compile_spec(spec_path)  # a task the graph does not fit is said now, not at `run`
    report(diags, sources)
    if any(d.is_error for d in diags):
        print(f"{spec_path} cannot train on `{args.task}` as imported: fix it (the errors above), then "
              f"snndsl run {shlex.quote(spec_path)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"  fine-tune it: snndsl run {shlex.quote(spec_path)}", file=sys.stderr)
    return EXIT_OK


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting, e.g. train.population=64, task.episode_length=100, time.dt=0.25ms")
    p.add_argument("--import-path", action="append", metavar="DIR",
                   help="a folder imports may also come from (repeatable); by default only the spec's folder "
                        "(and below it) and the standard library")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="snndsl", description="Train spiking neural networks from .snn specs.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate specs and print a summary (or every error)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--ir", action="store_true", help="print the IR as JSON")
    p.add_argument("--format", choices=["text", "json"], default="text", help="diagnostics format")
    _add_set(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="train a spec")
    p.add_argument("file", metavar="FILE")
    _add_set(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<spec>-<time>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (default: the latest run of this spec) from its last checkpoint")
    p.add_argument("--sample", type=int, metavar="K", help="a dataset run: the test sample of raster.png (default 0)")
    from snndsl_runtime.distributed import add_arguments as add_job_arguments

    add_job_arguments(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="train a spec with several learning rules over several seeds; one table and plot")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--rules", default="stop,surrogate,ec,es", metavar="R1,R2",
                   help="the rules (default stop,surrogate,ec,es; one that cannot train the spec is skipped, saying why)")
    p.add_argument("--seeds", default="0,1,2", metavar="S1,S2", help="the seeds (default 0,1,2)")
    p.add_argument("-o", "--out", metavar="PARENT", help="the parent folder of the runs (default runs/compare-<spec>-<time>); "
                   "rerun with the same folder to continue an interrupted compare")
    _add_set(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="train a spec over a grid of settings and seeds; one table and plot")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--set", action="append", metavar="KEY=V1,V2", help="a setting and its values (repeatable: the grid "
                   "is every combination); a single value applies to every run")
    p.add_argument("--seeds", default="0", metavar="S1,S2", help="the seeds (default 0)")
    p.add_argument("-o", "--out", metavar="PARENT", help="the parent folder of the runs (default runs/sweep-<spec>-<time>)")
    p.add_argument("--import-path", action="append", metavar="DIR", help="a folder imports may also come from")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("emit", help="write the standalone training program for a spec")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="OUT.py", help="output file (default: standard output)")
    _add_set(p)
    p.set_defaults(func=cmd_emit)

    p = sub.add_parser("sim", help="simulate a spec (or a trained run) and record its variables")
    p.add_argument("target", metavar="SPEC|RUN_DIR", help="a .snn spec, or a run folder to simulate with its learned parameters")
    p.add_argument("--duration", nargs="+", metavar="D", help="simulated time, e.g. `500 ms` or `0.5 s` (default 100 ms, "
                   "or one sample with --sample)")
    p.add_argument("--record", metavar="A,B", help="what to record: population.variable, population.spikes, "
                   "output.value (default: spikes and membranes)")
    p.add_argument("--input", action="append", metavar="NAME=FORM", help="an input node or population.port and its "
                   "form: `1 nA`, `[0.5 nA, 1 nA]`, step(...), sine(...), poisson(...), spikes(...), file.npy")
    p.add_argument("--inputs", dest="inputs_file", metavar="FILE.npz", help="arrays keyed by input name")
    p.add_argument("-o", "--output", metavar="OUT.npz", help="where the recording goes (default <spec>-sim.npz); "
                   "its plot beside it, OUT.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample", type=int, metavar="K", help="a dataset run: feed test sample K as its input")
    p.add_argument("--no-plot", action="store_true", help="do not write the plot (OUT.png)")
    p.add_argument("--format", choices=["npz", "nir"], default="npz",
                   help="nir: also write the recording as NIR data (OUT.nirdata, read by nir.read_data)")
    _add_set(p)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("export", help="write a trained run's network (or a spec's, --untrained) as a NIR graph")
    p.add_argument("target", metavar="RUN_DIR|SPEC", help="a run folder, or a spec with --untrained")
    p.add_argument("-o", "--output", metavar="NET.nir", required=True, help="the NIR file (HDF5) to write")
    p.add_argument("--untrained", action="store_true", help="export a spec's initial network")
    p.add_argument("--spec", metavar="SPEC.snn", help="the run's spec (default: the one its train.py was made from)")
    p.add_argument("--seed", type=int, default=0, help="--untrained: the seed of the initial weights")
    _add_set(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="turn a NIR graph into a spec and its weights (SPEC.npz beside it)")
    p.add_argument("file", metavar="NET.nir")
    p.add_argument("-o", "--output", metavar="SPEC.snn", required=True)
    p.add_argument("--dt", type=float, metavar="MS", help="time step in ms (default: the graph's `dt` metadata, else 1)")
    p.add_argument("--task", metavar="TASK", help="make the spec train on this task (a dataset such as digits or mnist, "
                   "or a Brax environment): adds `task` and `train` blocks and `learn w` on the graph's Linear maps")
    p.add_argument("--rule", metavar="RULE", help="the learning rule with --task (default surrogate)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("inspect", help="print what a run learned (thresholds, time constants in ms, connection "
                       "probabilities, weights) and write histograms (inspect.png)")
    p.add_argument("dir", metavar="RUN_DIR", help="a run folder (the --out of snndsl run or of python train.py)")
    p.add_argument("-o", "--output", metavar="FILE.png", help="where the histograms go (default RUN_DIR/inspect.png)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="tables, or JSON for scripts")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("eval", help="evaluate a run's deterministic network: return or accuracy, rates, offline rollout, raster")
    p.add_argument("dir", metavar="DIR", help="a run folder (the --out of snndsl run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--best", action="store_true",
                   help="evaluate the parameters of the best epoch or generation on validation (needs task.validation)")
    p.add_argument("--sample", type=int, metavar="K", help="a dataset run: the test sample of raster.png (default 0)")
    p.add_argument("--episodes", type=int, metavar="N", help="a Brax run: mean and sd of the return over N episodes")
    p.set_defaults(func=cmd_eval)
    return ap


def _internal_error(exc: BaseException) -> int:
    """A bug in snndsl, not in the input: one line on the terminal, the traceback in a file."""
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="snndsl-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        traceback.print_exception(exc, file=f)
    print(f"internal error in snndsl: {type(exc).__name__}: {exc}\n"
          f"  = note: this is a bug, not a problem with your spec; the details are in {path}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpecError as e:
        report(e.diagnostics, getattr(e, "sources", None))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `snndsl check ... | head`
        sys.stderr.close()
        return EXIT_OK
    except Exception as e:  # noqa: BLE001 - the last line of defence against tracebacks
        return _internal_error(e)


if __name__ == "__main__":
    sys.exit(main())
