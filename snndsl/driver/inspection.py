"""The tables of `snndsl inspect`: a run's learned quantities (snndsl_runtime.inspection) shown with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _num(v: float) -> str:
    return f"{v:.4g}"


def _spread(s: dict, unit: str = "") -> tuple[str, str]:
    """(mean, "min – max") of a stats dict, with the unit."""
    u = f" {unit}" if unit else ""
    if not s.get("n"):
        return "-", "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _num(s["mean"]) + u, "-"
    return _num(s["mean"]) + u, f"{_num(s['min'])} – {_num(s['max'])}{u}"


def print_inspection(console: Console, report: dict) -> None:
    console.print(f"[bold]{escape(report['spec'])}[/] ({report['rule']}), after {report['unit']} {report['step']}; "
                  f"dt {report['dt_ms']:g} ms", highlight=False)
    neurons = Table(title="neurons", title_justify="left")
    for col in ("population", "parameter", "role", "learned", "mean", "min – max"):
        neurons.add_column(col, justify="right" if col in ("mean", "min – max") else "left", no_wrap=True)
    for pop in report["populations"]:
        for i, q in enumerate(pop["parameters"]):
            mean, spread = _spread(q, q["unit"])
            label = f"{escape(pop['population'])} ({pop['size']} {escape(pop['model'])})" if i == 0 else ""
            how = ("per channel" if q.get("per_channel") else "per neuron" if q["per_neuron"] else
                   "per population") if q["learned"] else "fixed"
            neurons.add_row(label, escape(q["name"]), q["role"], how, mean, spread)
    console.print(neurons)
    conns = Table(title="projections", title_justify="left")
    for col in ("projection", "kind", "shape", "gain", "mean", "sd", "min – max", "connected", "sparsity"):
        conns.add_column(col, justify="left" if col in ("projection", "kind") else "right", no_wrap=True)
    for pr in report["projections"]:
        kind = pr["kind"] + (" p" if "p" in pr else " w" if pr["learned"] else " (fixed)")
        shape = " x ".join(map(str, pr["shape"]))
        s = pr.get("p") or pr.get("weights") or {}
        mean, spread = _spread(s)
        sd = _num(s["sd"]) if s.get("n") else "-"
        density = pr.get("connected", pr.get("nonzero"))
        conns.add_row(escape(pr["projection"]), kind, shape, _num(pr["gain"]), mean, sd, spread,
                      f"{density:.1%}", f"{pr['sparsity']:.1%}")
    console.print(conns)
    if report.get("norm"):
        norm = Table(title="batch norm (norm = batch)", title_justify="left")
        for col in ("projection", "parameter", "role", "shape", "mean", "sd", "min – max"):
            norm.add_column(col, justify="left" if col in ("projection", "parameter", "role") else "right",
                            no_wrap=True)
        for i, q in enumerate(report["norm"]):
            first = i == 0 or report["norm"][i - 1]["projection"] != q["projection"]
            mean, spread = _spread(q)
            norm.add_row(escape(q["projection"]) if first else "", q["parameter"], q["role"],
                         " x ".join(map(str, q["shape"])), mean, _num(q["sd"]) if q.get("n") else "-", spread)
        console.print(norm)
    console.print("learned p: mean, sd and range of the connection probabilities; connected: the deterministic "
                  "network's connections (p > train.eval_threshold).  w: weights (a sparse projection's under its "
                  "mask); connected: the fraction nonzero.", highlight=False)
