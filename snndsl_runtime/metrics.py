"""Run outputs: metrics.jsonl (one row per generation or epoch), TensorBoard events, curve.png, rates.png."""

import json
import math
import os

from .errors import NonFiniteError
from .io import atomic_write


class MetricsLog:
    """Append rows to DIR/metrics.jsonl and TensorBoard; on resume, drop rows after the checkpoint."""

    def __init__(self, out_dir, step_key: str, resume_after: int | None = None, write: bool = True):
        self.path = os.path.join(out_dir, "metrics.jsonl")
        self.step_key = step_key
        self.rows = []
        self.tb = None
        self.writes = write  # False: rows kept in memory only (a process of several other than 0)
        if not write:
            return
        if resume_after is not None and os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        break  # a row cut short by a kill
                    if row.get(step_key, 0) <= resume_after:
                        self.rows.append(row)
        atomic_write(self.path, lambda f: f.writelines(json.dumps(row) + "\n" for row in self.rows), "w")
        try:
            from tensorboardX import SummaryWriter

            purge = (resume_after + 1) if resume_after is not None else None
            self.tb = SummaryWriter(os.path.join(out_dir, "tensorboard"), purge_step=purge)
        except ImportError:
            pass

    def write(self, row: dict) -> None:
        self.rows.append(row)
        if not self.writes:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
        if self.tb is not None:
            for k, v in row.items():
                if k != self.step_key and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row[self.step_key])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def check_finite(row: dict, step_key: str, names, saved: bool = True) -> None:
    """Raise NonFiniteError naming the first tracked quantity that is NaN or inf (`saved`: whether
    a checkpoint exists to go back to)."""
    for k in names:
        v = row.get(k)
        if isinstance(v, float) and not math.isfinite(v):
            raise NonFiniteError(step_key, row[step_key], k, saved)


def curve_panels(rows, keys) -> list:
    """(y label, keys) per panel of curve.png: losses, accuracies, returns (fitness)."""
    present = [k for k in dict.fromkeys(list(keys) + [k for r in rows for k in r if k.endswith("loss")])
               if any(isinstance(r.get(k), (int, float)) for r in rows)]
    groups = (("loss", lambda k: k.endswith("loss")), ("accuracy (%)", lambda k: "accuracy" in k),
              ("return (episode reward)", lambda k: "fitness" in k))
    panels = [(label, [k for k in present if test(k)]) for label, test in groups]
    rest = [k for k in present if not any(test(k) for _, test in groups)]
    return [p for p in panels + [("value", rest)] if p[1]]


def plot_curve(out_dir, rows, step_key: str, keys, title: str = "") -> str | None:
    """Write DIR/curve.png: a panel each for the losses, accuracies and returns among the given
    metrics (and any *loss metric of the rows); returns its path (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = curve_panels(rows, keys)
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    steps = [r[step_key] for r in rows]
    for ax, (label, names) in zip(axes[0], panels):
        scale = 100.0 if label.startswith("accuracy") else 1.0
        for k in names:
            ys = [r[k] * scale if isinstance(r.get(k), (int, float)) else None for r in rows]
            ax.plot(steps, ys, marker="o" if len(steps) < 30 else None, ms=3, label=k.replace("_", " "))
    return _save_panels(fig, [(ax, label) for ax, (label, _) in zip(axes[0], panels)], step_key, title,
                        os.path.join(out_dir, "curve.png"))


def _save_panels(fig, labelled_axes, step_key: str, title: str, path: str) -> str:
    """Label each panel's axes, title the figure, write it to path."""
    import matplotlib.pyplot as plt

    for ax, label in labelled_axes:
        ax.set_xlabel(step_key)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_rates(out_dir, rows, step_key: str, title: str = "") -> str | None:
    """Write DIR/rates.png: each population's firing rate (Hz) and silent fraction over the run,
    from the rows' rate/<population> and silent/<population> (None without them or matplotlib)."""
    pops = list(dict.fromkeys(k[5:] for r in rows for k in r if k.startswith("rate/")))
    if not pops:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (ax_rate, ax_silent) = plt.subplots(1, 2, figsize=(10.4, 3.8))
    steps = [r[step_key] for r in rows]
    for pop in pops:
        ax_rate.plot(steps, [r.get(f"rate/{pop}") for r in rows], marker="o" if len(steps) < 30 else None, ms=3,
                     label=pop)
        ax_silent.plot(steps, [100.0 * r[f"silent/{pop}"] if f"silent/{pop}" in r else None for r in rows],
                       marker="o" if len(steps) < 30 else None, ms=3, label=pop)
    return _save_panels(fig, ((ax_rate, "firing rate (Hz)"), (ax_silent, "silent neurons (%)")), step_key, title,
                        os.path.join(out_dir, "rates.png"))


def spike_raster(path, spikes, title: str = "", dt_ms: float = 1.0) -> str | None:
    """Save a spike raster PNG of a (time, neurons) array; signs colour excitatory/inhibitory."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        return None
    s = np.asarray(spikes)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for sign, color, label in ((1, "tab:red", "excitatory"), (-1, "tab:blue", "inhibitory")):
        t, n = np.nonzero(s * sign > 0)
        if len(t):
            ax.scatter(t * dt_ms, n, s=1.5, c=color, marker="|", label=label)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_xlim(0, max(1, s.shape[0]) * dt_ms)
    ax.set_ylim(-0.5, s.shape[1] - 0.5)
    if title:
        ax.set_title(title)
    if (s < 0).any():
        ax.legend(loc="upper right", markerscale=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
