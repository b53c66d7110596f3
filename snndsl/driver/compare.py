"""`snndsl compare` and `snndsl sweep`: one spec trained in several variants (learning rules, or a grid
of settings) over several seeds, each run in its own folder under one parent, through the same
`train_spec` as `snndsl run`; then one table (mean ± sd over seeds), `compare.json` and `compare.png`.

A rerun with the same parent folder skips the finished runs and resumes an interrupted one."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
from rich.markup import escape

from ..diagnostics import Diagnostic, suggest
from ..diagnostics.render import report
from .run import EXIT_BAD_INPUT, EXIT_OK, train_spec

RULES = ("stop", "surrogate", "ec", "es")
METRICS = ("test_accuracy", "eval_fitness", "eval_return", "return", "fitness")  # the first a row holds is shown


@dataclass
class Variant:
    label: str  # as the table shows it: a rule, or `train.lr=0.01 N=128`
    sets: list[str]  # the --set list that makes it
    runs: list[dict] = field(default_factory=list)  # per seed: seed, out_dir, rows, wall, memory, params
    skipped: str | None = None  # why it was not trained


def split_list(text: str) -> list[str]:
    """`a,b(c, d),[e, f]` -> ['a', 'b(c, d)', '[e, f]']: commas inside brackets do not split."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _bad(msg: str, hint: str | None = None) -> int:
    report([Diagnostic("E404", msg, None, hint)], None)
    return EXIT_BAD_INPUT


def parse_seeds(text: str) -> list[int] | None:
    items = split_list(text)
    if not all(re.fullmatch(r"\d+", s) for s in items):
        return None
    return [int(s) for s in items]


def folder_name(label: str) -> str:
    return re.sub(r"[^\w.=+-]+", "_", label).strip("_") or "run"


def _metric(rows: list[dict]) -> str | None:
    return next((k for k in METRICS if rows and k in rows[-1]), None)


def _read_rows(out_dir: str) -> list[dict]:
    try:
        with open(os.path.join(out_dir, "metrics.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def _params(out_dir: str) -> int | None:
    try:
        with np.load(os.path.join(out_dir, "checkpoint.npz"), allow_pickle=False) as ck:
            return int(sum(ck[k].size for k in ck.files if k.startswith("state/theta/")))
    except (OSError, ValueError):
        return None


def _changes(file: str, plan, import_path) -> list[str]:
    """What a rule switch changed in the projections, e.g. `obs->hidden: dense learn w -> bernoulli learn p`."""
    from .build import load_plan

    try:
        base, _ = load_plan(file, [], on_warnings=lambda *a: None, import_path=import_path)
    except Exception:  # noqa: BLE001 - the spec as written is reported by the variant's own compile
        return []
    out = [f"population {a.name}: learn {', '.join(l.param for l in a.learn)} -> fixed at its initial values"
           for a, b in zip(base.spec.populations, plan.spec.populations) if a.learn and not b.learn]
    for a, b in zip(base.spec.projections, plan.spec.projections):
        ka, kb = a.connectivity.kind, b.connectivity.kind
        if ka != kb:
            la = "p" if ka == "bernoulli" else "w"
            lb = "p" if kb == "bernoulli" else "w"
            out.append(f"{a.name}: {ka} learn {la} -> {kb} learn {lb}")
    return out


def run_variants(file: str, variants: list[Variant], seeds: list[int], parent: str, base_sets: list[str],
                 import_path=(), console=None) -> list[Variant]:
    """Train every variant at every seed in parent/<variant>-seed<k>/ (resuming one that exists)."""
    from ..lower import estimate
    from .progress import console_for_logs

    console = console or console_for_logs()
    os.makedirs(parent, exist_ok=True)
    for v in variants:
        for seed in seeds:
            out_dir = os.path.join(parent, f"{folder_name(v.label)}-seed{seed}")
            resume = os.path.exists(os.path.join(out_dir, "checkpoint.npz"))
            console.rule(f"{escape(v.label)}, seed {seed}" + (" (resuming)" if resume else ""))
            t = time.time()
            done = train_spec(file, base_sets + v.sets, out_dir, seed, resume, list(import_path), console,
                              summary=False)
            if done.status != EXIT_OK:
                if done.plan is None or not v.runs:
                    v.skipped = "see the diagnostic above"
                    console.print(f"[yellow]skipped {escape(v.label)}[/]: {v.skipped}")
                    break
                continue
            if seed == seeds[0]:
                for c in _changes(file, done.plan, list(import_path)):
                    console.print(f"[cyan]note[/]: for {escape(v.label)} the tool changed {escape(c)}")
            rows = _read_rows(out_dir)
            v.runs.append({"seed": seed, "out_dir": out_dir, "rows": rows, "unit": done.unit,
                           "wall_s": rows[-1].get("wall_s", time.time() - t) if rows else time.time() - t,
                           "memory_bytes": int(estimate(done.plan).total), "params": _params(out_dir)})
    return variants


def summarize(variants: list[Variant]) -> dict:
    """Per variant: the metric, final and best (mean, sd over seeds), wall time, memory, parameters."""
    out = {}
    for v in variants:
        if v.skipped or not v.runs:
            out[v.label] = {"skipped": v.skipped or "no run finished", "sets": v.sets}
            continue
        metric = _metric(v.runs[0]["rows"])
        final = [r["rows"][-1].get(metric, np.nan) for r in v.runs]
        best = []
        for r in v.runs:  # best on validation when the task has it, else the best value of the metric
            rows = r["rows"]
            if "validation_accuracy" in rows[-1]:
                best.append(max(rows, key=lambda x: x["validation_accuracy"]).get(metric, np.nan))
            else:
                best.append(max(x.get(metric, -np.inf) for x in rows))
        out[v.label] = {"sets": v.sets, "metric": metric, "unit": v.runs[0]["unit"], "seeds": [r["seed"] for r in v.runs],
                        "final": final, "best": best, "wall_s": [r["wall_s"] for r in v.runs],
                        "memory_bytes": v.runs[0]["memory_bytes"], "params": v.runs[0]["params"],
                        "runs": [r["out_dir"] for r in v.runs]}
    return out


def _ms(x) -> str:
    x = np.asarray(x, float)
    return f"{x.mean():.4g} ± {x.std(ddof=1) if x.size > 1 else 0.0:.2g}"


def print_table(console, summary: dict, title: str) -> None:
    from rich.table import Table

    from ..lower.memory import human

    t = Table(title=title)
    for c in ("variant", "metric", "final (mean ± sd)", "best", "seeds", "wall time", "peak memory (est.)", "parameters"):
        t.add_column(c)
    for label, s in summary.items():
        if "skipped" in s:
            t.add_row(escape(label), "", f"skipped: {escape(s['skipped'])}", "", "", "", "", "")
            continue
        pct = s["metric"] == "test_accuracy"
        final = [x * 100 for x in s["final"]] if pct else s["final"]
        best = [x * 100 for x in s["best"]] if pct else s["best"]
        t.add_row(escape(label), s["metric"] + (" %" if pct else ""), _ms(final), _ms(best), str(len(s["seeds"])),
                  f"{np.mean(s['wall_s']):.1f} s", human(s["memory_bytes"]), f"{s['params']:,}" if s["params"] else "")
    console.print(t)


def plot(path: str, variants: list[Variant], title: str) -> str | None:
    """Mean ± sd curve of each variant's metric over seeds, against steps and against wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    drawn = False
    for v in variants:
        if v.skipped or not v.runs:
            continue
        metric, unit = _metric(v.runs[0]["rows"]), v.runs[0]["unit"]
        n = min(len(r["rows"]) for r in v.runs)
        if not metric or n == 0:
            continue
        y = np.array([[row.get(metric, np.nan) for row in r["rows"][:n]] for r in v.runs], float)
        wall = np.array([[row.get("wall_s", np.nan) for row in r["rows"][:n]] for r in v.runs], float).mean(0)
        x = np.arange(1, n + 1)
        m, sd = y.mean(0), y.std(0)
        a.plot(x, m, label=v.label)
        a.fill_between(x, m - sd, m + sd, alpha=0.2)
        b.plot(wall, m, label=v.label)
        b.fill_between(wall, m - sd, m + sd, alpha=0.2)
        a.set_xlabel(unit or "step")
        a.set_ylabel(metric)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    b.set_xlabel("wall time (s)")
    a.legend()
    a.set_title("mean ± sd over seeds")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def finish(variants, parent: str, title: str, console) -> int:
    summary = summarize(variants)
    print_table(console, summary, title)
    with open(os.path.join(parent, "compare.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    png = plot(os.path.join(parent, "compare.png"), variants, title)
    console.print(escape(f"wrote {os.path.join(parent, 'compare.json')}" + (f" and {png}" if png else "")))
    return EXIT_OK if any(v.runs for v in variants) else EXIT_BAD_INPUT


def _parent(spec: str, kind: str, out: str | None) -> str:
    stem = os.path.splitext(os.path.basename(spec))[0]
    return out or os.path.join("runs", f"{kind}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}")


def compare(file: str, rules: str, seeds: str, out: str | None, sets: list[str], import_path=()) -> int:
    """`snndsl compare SPEC --rules stop,surrogate --seeds 0,1,2 [-o PARENT] [--set ...]`."""
    from .progress import console_for_logs

    names = split_list(rules)
    for r in names:
        if r not in RULES:
            return _bad(f"--rules: `{r}` is not a learning rule", suggest(r, list(RULES)) or f"rules: {', '.join(RULES)}")
    seed_list = parse_seeds(seeds)
    if not names or not seed_list:
        return _bad(f"--seeds {seeds!r}: give whole numbers separated by commas", "e.g. --seeds 0,1,2")
    common, only = [], {r: [] for r in names}  # `--set ec:train.population=64` is for EC's runs alone
    for s in sets:
        rule, colon, rest = s.partition(":")
        if colon and rule in RULES and "=" not in rule:
            only.setdefault(rule, []).append(rest)
        else:
            common.append(s)
    console = console_for_logs()
    parent = _parent(file, "compare", out)
    variants = run_variants(file, [Variant(r, [f"train={r}"] + only[r]) for r in dict.fromkeys(names)], seed_list,
                            parent, common, import_path, console)
    return finish(variants, parent, f"{os.path.basename(file)}: rules over seeds {seeds}", console)


def sweep(file: str, grid: list[str], seeds: str, out: str | None, sets: list[str], import_path=()) -> int:
    """`snndsl sweep SPEC --set train.lr=0.01,0.1 --set N=64,128 --seeds 0,1 [-o PARENT]`: the grid of
    every --set with several values (one-value --set entries apply to every run)."""
    from .progress import console_for_logs

    seed_list = parse_seeds(seeds)
    if not seed_list:
        return _bad(f"--seeds {seeds!r}: give whole numbers separated by commas", "e.g. --seeds 0,1")
    axes, fixed = [], list(sets)
    for g in grid:
        key, eq, values = g.partition("=")
        if not eq or not key.strip() or not values.strip():
            return _bad(f"--set {g!r}: a sweep axis is KEY=V1,V2,...", "e.g. --set train.optimizer.lr=0.01,0.1")
        vals = split_list(values)
        if len(vals) == 1:
            fixed.append(g)
        else:
            axes.append([f"{key.strip()}={v}" for v in vals])
    if not axes:
        return _bad("sweep needs at least one --set with several values", "e.g. --set train.optimizer.lr=0.01,0.1")
    variants = [Variant(" ".join(combo), list(combo)) for combo in itertools.product(*axes)]
    console = console_for_logs()
    parent = _parent(file, "sweep", out)
    variants = run_variants(file, variants, seed_list, parent, fixed, import_path, console)
    return finish(variants, parent, f"{os.path.basename(file)}: sweep over seeds {seeds}", console)
