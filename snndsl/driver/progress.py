"""A rich live display of training progress, fed by the generated module's progress_fn."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from snndsl_runtime.trainers.best import best_row

# metric -> (label, format) shown on the progress line
_SHOWN = {
    "fitness": ("fitness", "{:.1f}"),
    "eval_fitness": ("eval", "{:.1f}"),
    "steps_per_s": ("env-steps/s", "{:,.0f}"),
    "train_loss": ("loss", "{:.4f}"),
    "train_accuracy": ("train acc", "{:.2%}"),
    "validation_accuracy": ("val acc", "{:.2%}"),
    "test_accuracy": ("test acc", "{:.2%}"),
    "samples_per_s": ("samples/s", "{:,.0f}"),
}


def console_for_logs() -> Console:
    """A console on stderr; when that is a file or a pipe, long lines stay whole (no wrap at 80)."""
    console = Console(stderr=True)
    return console if console.is_terminal else Console(stderr=True, soft_wrap=True)


class LiveProgress:
    """progress_fn for Module.train(): a bar with the latest metrics, elapsed time and ETA."""

    def __init__(self, unit: str, console: Console | None = None):
        self.console = console or console_for_logs()
        self.unit = unit
        self.interactive = self.console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24),
            TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not self.interactive,
        )
        self.task = None
        self.rows: list[dict] = []
        self.t0 = time.time()

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def _metrics(self, row: dict) -> str:
        parts = []
        for k, (label, fmt) in _SHOWN.items():
            v = row.get(k)
            if isinstance(v, (int, float)):
                parts.append(f"{label} {fmt.format(v)}")
        parts.append(activity_text(row))
        if isinstance(row.get("devices"), str):  # the mesh the run is spread over: "4 x cpu"
            parts.append(f"on {row['devices']}")
        return "  ".join(p for p in parts if p)

    def __call__(self, row: dict) -> None:
        if "notice" in row:
            self.console.print(f"[yellow]note:[/] {row['notice']}")
            return
        if "phase" in row:
            total = row.get("total")
            if self.task is None:
                self.task = self.progress.add_task(row["phase"], total=total, completed=row.get(self.unit, 0) or 0,
                                                   metrics="")
            else:
                self.progress.update(self.task, description=row["phase"], total=total)
            if not self.interactive:
                self.console.print(f"{row['phase']}...")
            return
        self.rows.append(row)
        step = row[self.unit]
        metrics = self._metrics(row)
        self.progress.update(self.task, description=self.unit, completed=step, total=row.get("total"),
                             metrics=metrics)
        if not self.interactive:
            self.console.print(f"{self.unit} {step}/{row.get('total')}  {metrics}  ({row.get('wall_s', 0):.1f} s)")


def activity_text(row: dict) -> str:
    """The rows' `rate/<population>` and `silent/<population>` in one short field: `rate exc 12 Hz (3% silent)`."""
    parts = [f"{k[5:]} {v:.0f} Hz" + (f" ({row['silent/' + k[5:]]:.0%} silent)" if f"silent/{k[5:]}" in row else "")
             for k, v in row.items() if k.startswith("rate/") and isinstance(v, (int, float))]
    return ("rate " + ", ".join(parts)) if parts else ""


def summary_rows(rows: list[dict], unit: str, out_dir: str) -> list[tuple[str, str]]:
    """The end-of-run summary as (label, text) pairs."""
    if not rows:
        return [("steps", "none")]
    last = rows[-1]
    out = [(f"{unit}s", str(last[unit]))]
    chosen = best_row(rows)  # the best step is chosen on validation, never on test
    for key, (label, fmt) in _SHOWN.items():
        if key in last and isinstance(last[key], (int, float)):
            best = max((r[key] for r in rows if isinstance(r.get(key), (int, float))), default=None)
            text = fmt.format(last[key])
            if key == "test_accuracy" and chosen is not None:
                text += f"  (at the best {unit} on validation, {chosen[unit]}: {fmt.format(chosen[key])})"
            elif key in ("fitness", "eval_fitness", "test_accuracy", "train_accuracy", "validation_accuracy") \
                    and best is not None:
                text += f"  (best {fmt.format(best)})"
            out.append((label, text))
    if activity_text(last):
        out.append(("activity", activity_text(last)[len("rate "):]))
    if "env_steps" in last:
        out.append(("env steps", f"{last['env_steps']:,}"))
    if isinstance(last.get("devices"), str):
        out.append(("devices", last["devices"]))
    out.append(("wall time", f"{last.get('wall_s', 0):.1f} s"))
    out.append(("outputs", f"{out_dir}/  metrics.jsonl  curve.png  checkpoint.npz  tensorboard/"))
    return out


def print_summary(console: Console, rows: list[dict], unit: str, out_dir: str) -> None:
    """A table on a terminal; plain lines (no padding, no truncation) in a log file."""
    pairs = summary_rows(rows, unit, out_dir)
    if not console.is_terminal:
        width = max(len(label) for label, _ in pairs)
        console.print("run summary\n" + "\n".join(f"{label:<{width}}  {text}" for label, text in pairs), highlight=False)
        return
    table = Table(title="run summary", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, text in pairs:
        table.add_row(label, text)
    console.print(table)
