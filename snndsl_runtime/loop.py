"""The training loop every rule shares: `train(model, ...)` (Brax-style, with a progress_fn),
`evaluate(model, out_dir)`, and `main(model)`, the command line of an emitted model file.

A run folder holds metrics.jsonl, tensorboard/, checkpoint.npz (atomic), config.json, curve.png,
and a copy of the model (train.py) with the runtime it ran on (snndsl_runtime/), so that
`python DIR/train.py --out DIR --resume` and `snndsl eval DIR` work on it later."""

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import time

from . import __version__, distributed
from .checkpoint import checkpoint_meta, load_checkpoint, save_checkpoint
from .config import apply_overrides, check_config, lookup
from .errors import RunError
from .io import atomic_write, copy_runtime
from .mesh import describe as describe_mesh, to_host
from .metrics import MetricsLog, check_finite, plot_curve, plot_rates
from .model import check_model
from .network import projection_labels, readable_parameters
from .trainers import trainer_class

def default_out_dir(model):
    return os.path.join("runs", f"{model.SPEC_NAME}-{time.strftime('%Y%m%d-%H%M%S')}")


def enable_compilation_cache():
    """Keep compiled programs on disk so a re-run (or --resume) skips most compilation.
    SNNDSL_JAX_CACHE=off disables it; another path moves it."""
    import jax

    path = os.environ.get("SNNDSL_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "snndsl", "jax"))
    if path.lower() in ("off", "0", "none", ""):
        return
    try:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except Exception:  # an older jax without the persistent cache
        pass


def changed_settings(old: dict, new: dict, prefix="") -> list:
    """`(key, old, new)` for every leaf setting that differs between two configs."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_settings(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append((f"{prefix}{k}", a, b))
    return out


def network_description(model) -> dict:
    """One line per part of the network that a checkpoint depends on, to name what changed."""
    plain = lambda d: {k: v for k, v in d.items() if not callable(v)}  # noqa: E731
    out = {"time": f"dt {model.DT} ms, {model.SUBSTEPS} substeps, {model.STEPS} steps"}
    for key, label in projection_labels(model).items():
        out[f"projection {label}"] = json.dumps(plain(model.PROJECTIONS[key]), sort_keys=True, default=str)
    for name, q in model.NEURON_PARAMS.items():
        out[f"learnable {name}"] = json.dumps(q, sort_keys=True, default=str)
    for name, q in model.DRAWN_PARAMS.items():
        out[f"drawn {name}"] = json.dumps(q, sort_keys=True, default=str)
    for name, b in model.BLOCKS.items():
        out[f"block {name}"] = json.dumps(plain(b), sort_keys=True, default=str)
    return out


def file_hash(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_run_folder(model, out_dir):
    """The run folder, holding a copy of the model and of this runtime."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RunError("E841", f"--out {out_dir} is a file, not a folder", "choose another --out folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
        program = os.path.join(out_dir, "train.py")
        if not (os.path.exists(program) and os.path.samefile(program, model.__file__)):
            shutil.copyfile(model.__file__, program)
        copy_runtime(out_dir)
    except OSError as e:
        raise RunError("E841", f"cannot write the run folder {out_dir}: {e.strerror or e}",
                       "choose another --out folder, one you can write to") from None


def write_spec_copy(out_dir, path, files: dict) -> dict:
    """A copy of the spec in the run folder, so `snndsl export` finds the run's spec from any folder:
    `files` {path relative to the spec's folder: bytes} (the spec under its own name, and the modules
    it imports from its folder or below, at the same places, so the copy generates the same network),
    each a .snn file.  Returns what config.json records: spec_file (the spec's absolute path),
    spec_copy (its name in the folder), spec_sha256 (of its text), spec_modules ({module: SHA-256})."""
    main = os.path.basename(path)
    hashes = {}
    for rel, text in files.items():
        if not rel.endswith(".snn"):
            continue  # only spec text: never over the run's own files
        copy = os.path.join(out_dir, rel)
        hashes[rel] = hashlib.sha256(text).hexdigest()
        src = os.path.join(os.path.dirname(os.path.realpath(path)), rel)
        if os.path.exists(copy) and os.path.exists(src) and os.path.samefile(copy, src):
            continue  # a run folder that is the spec's own
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        atomic_write(copy, lambda f, text=text: f.write(text), "wb")
    if main not in hashes:
        return {"spec_file": os.path.abspath(path)}
    return {"spec_file": os.path.abspath(path), "spec_copy": main, "spec_sha256": hashes.pop(main),
            "spec_modules": hashes}


def same_network(model, meta):
    """RunError E822 unless the checkpoint's run was made by this spec with this network; the
    message names what changed."""
    spec, rule = meta["spec"] or model.SPEC_NAME, meta["rule"] or model.RULE
    if (spec, rule) != (model.SPEC_NAME, model.RULE):
        raise RunError("E822", f"this run was made by `{spec}` ({rule}); this program is `{model.SPEC_NAME}` "
                               f"({model.RULE})", "resume a run with the spec that made it, or start a new run "
                                                  "in another --out folder")
    hint = "resume with the run's own spec and settings, or start a new run in another --out folder"
    saved = meta["config"] or model.CONFIG
    fixed = sorted({k.rsplit(".", 1)[0] if k.startswith("train.surrogate.") else k
                    for k, _, _ in changed_settings(saved, model.CONFIG) if k in model.STRUCTURAL})
    if fixed:
        key = fixed[0]
        was, now = (lookup(c, key) for c in (saved, model.CONFIG))
        raise RunError("E822", f"this run was made with {key} = {was!r}, and this program has {now!r}: "
                               "that setting changes the network", hint)
    if meta["network_hash"] and meta["network_hash"] != model.NETWORK_HASH:
        now = network_description(model)
        diff = [k for k in sorted(set(now) | set(meta["network"])) if now.get(k) != meta["network"].get(k)]
        what = (f"its {', '.join(diff[:3])}" + (" and more" if len(diff) > 3 else "")) if diff else \
            "its equations or fixed parameters"
        raise RunError("E822", f"the network changed since this run was made: {what}", hint)


def train(model, config=None, out_dir=None, seed=0, resume=False, progress_fn=None, sets=(), spec_source=None):
    with precision(model):
        return _train(model, config, out_dir, seed, resume, progress_fn, sets, spec_source)


def precision(model):
    """JAX's x64 mode while a float64 model (`time.precision = float64`) runs; float32 otherwise."""
    import jax

    return jax.enable_x64(getattr(model, "PRECISION", "float32") == "float64")


def _train(model, config=None, out_dir=None, seed=0, resume=False, progress_fn=None, sets=(), spec_source=None):
    """Train the model with its settings (or `config`), `--set`-style overrides in `sets`.

    progress_fn(row) is called with every metrics row, with {"phase": ...} updates during
    compilation and long steps, and with {"notice": ...} messages.  Returns the metrics rows.  A bad
    setting, data file or checkpoint raises RunError; a NaN raises NonFiniteError (the last
    checkpoint stays intact).  A resumed run continues with the settings saved in its checkpoint;
    `sets` change run-time settings on top of them (announced).  A new run does not overwrite a
    folder that holds one.  spec_source (path, {relative path: bytes}): the spec the model was
    generated from and its local modules; the run folder keeps a copy, config.json its absolute path
    and SHA-256 (write_spec_copy)."""
    check_model(model)
    out_dir = out_dir or distributed.from_writer("out", default_out_dir(model))
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    writer = distributed.is_writer()  # one process of several writes the run folder and reports
    report = (progress_fn or (lambda row: None)) if writer else (lambda row: None)
    meta = {}
    base = config or model.CONFIG
    if resume:
        meta = shared_checkpoint_meta(ckpt)
        same_network(model, meta)
        seed = meta["seed"]  # the run's own random streams
        base = meta["config"] or base
        if "devices" in model.CONFIG["train"] and "devices" not in base.get("train", {}):
            # a run made before train.devices existed: it ran on the default, all devices
            base = {**base, "train": {**base["train"], "devices": "all"}}
        check_config(base, model.CONFIG, model.RULE, model.TASK_KIND, f"the checkpoint {ckpt}")
    elif os.path.exists(ckpt):
        raise RunError("E823", f"{out_dir} already holds a run (checkpoint.npz)",
                       "continue it with --resume, or choose another --out folder")
    cfg = apply_overrides(base, sets, model.RULE, model.TASK_KIND, model.STRUCTURAL)
    # several processes: the same job everywhere, and nobody writes before all have checked the folder
    distributed.agree("run", {"spec": model.SPEC_NAME, "spec hash": model.SPEC_HASH, "rule": model.RULE,
                              "network hash": model.NETWORK_HASH, "seed": seed, "resume": bool(resume),
                              "--out": str(out_dir), "settings": cfg})
    changes = changed_settings(base, cfg) if resume else []
    if changes:
        report({"notice": "resuming with changed settings: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in changes)})
    record = {"spec": model.SPEC_NAME, "rule": model.RULE, "spec_sets": list(model.SPEC_SETS),
              "network_hash": model.NETWORK_HASH, "network": network_description(model),
              "runtime_version": __version__}
    report({"phase": "setting up", "total": None})
    enable_compilation_cache()
    trainer = trainer_class(model.RULE, model.TASK_KIND)(model, cfg, seed)
    trainer.report = report
    unit = trainer.UNIT
    start = 0
    if resume:
        state, meta = load_checkpoint(ckpt, trainer.snapshot())
        trainer.restore(state, meta)
        start = meta["step"]
        if start >= trainer.total:
            report({"notice": f"this run already finished {unit} {start}; to go on, raise its number of "
                              f"{unit}s above {start} with --set"})
            return []
    if writer:
        make_run_folder(model, out_dir)
        if spec_source is not None:
            record.update(write_spec_copy(out_dir, *spec_source))
    log = MetricsLog(out_dir, unit, resume_after=start if resume else None, write=writer)
    if writer:
        saved = {"seed": seed, "config": cfg, **record, "model_sha256": file_hash(os.path.join(out_dir, "train.py"))}
        atomic_write(os.path.join(out_dir, "config.json"), lambda f: json.dump(saved, f, indent=2), "w")
    t0 = time.time() - meta.get("wall_s", 0.0)
    devices = describe_mesh(trainer.mesh)  # what the run is spread over: "4 x cpu"
    report({"phase": f"compiling for {devices}", "total": trainer.total, unit: start})
    try:
        for i in range(start + 1, trainer.total + 1):
            row = {unit: i, **trainer.step(i), "devices": devices}
            row["wall_s"] = round(time.time() - t0, 3)
            check_finite(row, unit, trainer.FINITE, saved=os.path.exists(ckpt))
            log.write(row)
            report({**row, "total": trainer.total})
            if i % trainer.every == 0 or i == trainer.total:
                snapshot = to_host(trainer.snapshot())  # on every process: sharded arrays may span them
                if writer:
                    save_checkpoint(ckpt, snapshot,
                                    {"step": i, "seed": seed, "config": cfg, **record, "wall_s": row["wall_s"],
                                     **trainer.meta()},
                                    readable_parameters(model, snapshot["theta"], snapshot["fixed"]))
    finally:
        log.close()
        if log.rows and writer:
            plot_curve(out_dir, log.rows, unit, trainer.CURVE, title=model.SPEC_NAME)
            plot_rates(out_dir, log.rows, unit, title=model.SPEC_NAME)
    return log.rows


def shared_checkpoint_meta(ckpt) -> dict:
    """checkpoint_meta(ckpt) on every process of a job, checked to be the same checkpoint: RunError
    E907 when a process cannot read the one process 0 resumes from (a run folder not shared)."""
    try:
        meta, problem = checkpoint_meta(ckpt), None
    except RunError as e:
        meta, problem = None, e
    views = distributed.gather("checkpoint", None if meta is None else [meta["step"], meta["wall_s"]])
    for p, view in enumerate(views[1:], 1):
        if views[0] is not None and view != views[0]:
            seen = "cannot read it" if view is None else f"reads step {view[0]} there"
            raise RunError("E907", f"process 0 resumes from {ckpt} at step {views[0][0]}, and process {p} {seen}",
                           "every host must see the same run folder: put --out on a file system they share")
    if problem is not None:
        raise problem
    return meta


def read_run_config(out_dir) -> dict:
    try:
        with open(os.path.join(out_dir, "config.json")) as f:
            saved = json.load(f)
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
            raise ValueError("no settings in config.json")
        return saved
    except (OSError, ValueError) as e:
        raise RunError("E821", f"{out_dir} is not a run folder: {e}", "give the --out folder of a run") from None


def evaluate(model, out_dir, seed=0, best=False, **options):
    """Load a run's checkpoint and evaluate its deterministic network (snndsl eval DIR); with
    best, the parameters of its best epoch or generation on validation (snndsl eval DIR --best).
    options go to the trainer's evaluate_run: `sample=K` (a dataset's test sample for the raster),
    `episodes=N` (Brax)."""
    check_model(model)
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    saved = read_run_config(out_dir)
    cfg = saved["config"]
    check_config(cfg, model.CONFIG, model.RULE, model.TASK_KIND, os.path.join(out_dir, "config.json"))
    if "population" in cfg["train"]:  # the evaluated network does not depend on the population
        cfg = {**cfg, "train": {**cfg["train"], "population": cfg["train"]["eval_copies"] + 2}}
    cfg = {**cfg, "train": {**cfg["train"], "devices": 1}}  # nor on the devices it was trained on
    enable_compilation_cache()
    trainer = trainer_class(model.RULE, model.TASK_KIND)(model, cfg, saved.get("seed", 0))
    state, meta = load_checkpoint(ckpt, trainer.snapshot())
    trainer.restore(state, meta)
    step = meta["step"]
    if best:
        if getattr(trainer, "best", None) is None:
            raise RunError("E613", f"{out_dir} kept no best-on-validation parameters: its task has no validation split",
                           "train with --set task.validation=0.1 (a fraction of the training set), or evaluate the "
                           "last parameters without --best")
        trainer.use_best()
        step = trainer.best.step
    result = trainer.evaluate_run(trainer.deterministic(trainer.state), out_dir, seed, **options)
    result[trainer.UNIT] = step
    return result


def _print_progress(model):
    def show(row):
        if "notice" in row:
            print(f"[{model.SPEC_NAME}] {row['notice']}", file=sys.stderr, flush=True)
        elif "phase" in row:
            print(f"[{model.SPEC_NAME}] {row['phase']}...", file=sys.stderr, flush=True)
        else:
            unit = next(k for k in ("generation", "epoch", "iteration") if k in row)
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                              if k not in (unit, "total"))
            print(f"{unit} {row[unit]}/{row['total']}: {shown}", flush=True)
    return show


def main(model, argv=None):
    """The command line of an emitted model: python train.py [--set KEY=VALUE]... [--out DIR] [--seed N] [--resume]."""
    ap = argparse.ArgumentParser(description=f"Train {model.SPEC_NAME} ({model.RULE}); generated by snndsl.")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    ap.add_argument("--out", help="run folder (default runs/<spec>-<time>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    distributed.add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        distributed.join_from_args(args)  # joined already when run as a script (the model file's first lines)
    except RunError as e:
        print(e, file=sys.stderr)
        return 2
    return distributed.run_as_process(lambda: _main(model, args))


def _main(model, args):
    if args.resume and not args.out:
        print("error: --resume needs --out DIR (the run to continue)", file=sys.stderr)
        return 2
    out_dir = args.out or distributed.from_writer("out", default_out_dir(model))
    try:
        train(model, None, out_dir, args.seed, args.resume, _print_progress(model), args.set)
    except RunError as e:  # NonFiniteError included: a stopped run is exit status 2 like any run error
        print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if os.path.exists(os.path.join(out_dir, "checkpoint.npz")):
            print(f"interrupted; continue with: python {shlex.quote(sys.argv[0])} --out {shlex.quote(out_dir)} --resume",
                  file=sys.stderr)
        else:
            print(f"interrupted before the first checkpoint; there is nothing to resume in {out_dir}", file=sys.stderr)
        return 130
    if distributed.is_writer():
        print(f"run folder: {out_dir}", file=sys.stderr)
    return 0
