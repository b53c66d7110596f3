"""What a run learned, by name and in physical units (`snndsl inspect RUN_DIR`): each population's
threshold, time constants (in ms) and other learned parameters; each projection's connection
probabilities and sparsity (EC) or weight statistics; histograms of them in inspect.png.

It reads the checkpoint's arrays directly (no trainer, no dataset, no environment), so it is quick
and works on any run folder, one made by `snndsl run` or by an emitted `python train.py`."""

import os

import numpy as np

from .checkpoint import checkpoint_arrays
from .errors import RunError
from .network import NORM_LEARNED, NORM_RUNNING, norm_keys, projection_labels

UNITS = ("ms", "mV", "nA")  # the base units, in the order of a dims triple


def unit_of(dims) -> str:
    """A dims triple (exponents of ms, mV, nA) as a unit: (1,0,0) -> "ms", (-1,1,0) -> "mV/ms"."""
    up = [u + (f"^{e}" if e != 1 else "") for u, e in zip(UNITS, dims) if e > 0]
    down = [u + (f"^{-e}" if e != -1 else "") for u, e in zip(UNITS, dims) if e < 0]
    if not up and not down:
        return ""
    return ("*".join(up) or "1") + ("/" + "*".join(down) if down else "")


def stats(values) -> dict:
    """mean, sd, min, max and count of an array (NaN-free floats, for JSON)."""
    a = np.asarray(values, np.float64).ravel()
    if not a.size:
        return {"n": 0}
    return {"mean": float(a.mean()), "sd": float(a.std()), "min": float(a.min()), "max": float(a.max()),
            "n": int(a.size)}


def read_run(out_dir, model):
    """(checkpoint metadata, theta, fixed) of the run in `out_dir`, checked against `model`'s
    network.  RunError E821 (no folder or no checkpoint) or E822 (corrupt, or another network)."""
    if not os.path.isdir(out_dir):
        raise RunError("E821", f"{out_dir} is not a run folder (no such folder)", "give the --out folder of a run")
    path = os.path.join(out_dir, "checkpoint.npz")
    if not os.path.exists(path):
        raise RunError("E821", f"{out_dir} holds no checkpoint (checkpoint.npz)",
                       "inspect a run that has written its first checkpoint")
    meta, arrays = checkpoint_arrays(path, "state/")
    theta = {k[len("theta/"):]: v for k, v in arrays.items() if k.startswith("theta/")}
    fixed = {k[len("fixed/"):]: v for k, v in arrays.items() if k.startswith("fixed/")}
    needed = [k for k, pr in model.PROJECTIONS.items() if pr["learn"]] + list(model.NEURON_PARAMS)
    missing = [k for k in needed if k not in theta]
    missing += [k for k, pr in model.PROJECTIONS.items() if not pr["learn"] and k not in fixed]
    for k, pr in model.PROJECTIONS.items():
        v = theta.get(k, fixed.get(k))
        if v is not None and tuple(np.shape(v)) != tuple(pr["shape"]):
            missing.append(k)
    for k in norm_keys(model):  # batch norm's scale and shift (theta), running statistics (fixed): (C,) each
        c = model.PROJECTIONS[k]["norm"]["channels"]
        for p in NORM_LEARNED + NORM_RUNNING:
            v = (theta if p in NORM_LEARNED else fixed).get(f"{k}.{p}")
            if v is None or tuple(np.shape(v)) != (c,):
                missing.append(k)
                break
    if missing:
        labels = projection_labels(model)
        raise RunError("E822", f"checkpoint {path} does not match this run's network (no array or another shape "
                               f"for {', '.join(labels.get(k, k) for k in missing[:3])})",
                       "inspect a run folder whose train.py made its checkpoint")
    return meta, theta, fixed


def _learned_param(model, block, start, stop, name):
    """The learnable neuron parameter (its key) behind `name` in neurons start:stop of `block`, or None."""
    for key, q in model.NEURON_PARAMS.items():
        lo, hi = q["slice"]
        if q["block"] == block and key.rsplit(".", 1)[-1] == name and lo < stop and start < hi:
            return key
    return None


def population_report(model, theta, fixed=None) -> list:
    """Per population: its threshold, time constants (ms) and every learned parameter, with stats."""
    import jax.numpy as jnp

    bp, _ = model.block_params({k: jnp.asarray(v) for k, v in theta.items()},
                               {k: jnp.asarray(v) for k, v in (fixed or {}).items()})
    out = []
    for pop, p in model.POPULATIONS.items():
        block, (start, stop) = p["block"], p["slice"]
        size = model.BLOCKS[block]["size"]
        dims = p.get("params", {})
        taus = set(p.get("time_constants", ()))
        params = []
        for name, value in bp[block].items():
            key = _learned_param(model, block, start, stop, name)
            learned_tau = key is not None and model.NEURON_PARAMS[key]["role"] == "time_constant"
            role = ("threshold" if name == p.get("threshold") else
                    "time constant" if name in taus or learned_tau else "parameter")
            if role == "parameter" and key is None:
                continue  # a fixed parameter that is neither threshold nor time constant
            v = np.asarray(value, np.float64)
            if v.ndim and v.shape[0] == size:
                v = v[start:stop]
            unit = "ms" if role == "time constant" else unit_of(dims[name]) if name in dims else ""
            # learned per neuron, or (fixed) differing between neurons; a shared value is one value
            per_neuron = bool(model.NEURON_PARAMS[key]["shape"]) if key else bool(v.ndim and np.ptp(v) > 0)
            params.append({"name": name, "role": role, "learned": key is not None, "unit": unit,
                           "per_neuron": per_neuron,
                           "per_channel": bool(key) and model.NEURON_PARAMS[key].get("sharing") == "channel",
                           **stats(v if per_neuron else v.ravel()[:1])})
        out.append({"population": pop, "model": p["model"], "size": stop - start, "parameters": params})
    return out


def projection_report(model, theta, fixed, eval_threshold=0.5) -> list:
    """Per projection: kind, shape, gain; a learned Bernoulli projection's probabilities and the
    sparsity of its deterministic network (rho > eval_threshold), a fixed one's density, or the
    weights' mean, sd and fraction nonzero (a sparse projection's weights under its mask)."""
    out = []
    for key, label in projection_labels(model).items():
        pr = model.PROJECTIONS[key]
        row = {"projection": label, "kind": pr["kind"], "learned": bool(pr["learn"]), "shape": list(pr["shape"]),
               "gain": float(pr["gain"])}
        if pr["kind"] == "bernoulli":
            if pr["learn"]:
                rho = np.asarray(theta[key], np.float64)
                row["p"] = stats(rho)
                row["connected"] = float(np.mean(rho > eval_threshold))
            else:
                row["connected"] = float(np.mean(np.asarray(fixed[key], bool)))
            row["sparsity"] = 1.0 - row["connected"]
        else:
            w = np.asarray(theta[key] if pr["learn"] else fixed[key], np.float64)
            if pr["kind"] == "sparse" and "m" + key[1:] in fixed:
                w = w * np.asarray(fixed["m" + key[1:]], np.float64)
            row["weights"] = stats(w)
            row["nonzero"] = float(np.mean(w != 0))
            row["sparsity"] = 1.0 - row["nonzero"]
        out.append(row)
    return out


NORM_ROLES = {"scale": "learned scale", "shift": "learned shift", "mean": "running mean", "var": "running variance"}


def norm_report(model, theta, fixed) -> list:
    """Per batch-normalised projection (`norm = batch`) and parameter: the learned per-channel scale
    and shift (theta `<key>.scale`, `.shift`) and the running statistics evaluation uses (fixed
    `<key>.mean`, `.var`), with their shape and stats."""
    labels = projection_labels(model)
    out = []
    for key in norm_keys(model):
        for p in NORM_LEARNED + NORM_RUNNING:
            v = np.asarray(theta[f"{key}.{p}"] if p in NORM_LEARNED else fixed[f"{key}.{p}"], np.float64)
            out.append({"projection": labels[key], "parameter": p, "role": NORM_ROLES[p],
                        "learned": p in NORM_LEARNED, "shape": list(v.shape), **stats(v)})
    return out


def inspect_run(model, out_dir, config=None) -> tuple[dict, tuple]:
    """The learned quantities of a run, {"spec", "rule", "step", "populations", "projections", ...}
    (JSON-able), and the checkpoint's (theta, fixed) for plot_inspection."""
    from .trainers import trainer_class

    meta, theta, fixed = read_run(out_dir, model)
    cfg = config or meta.get("config") or model.CONFIG
    threshold = cfg.get("train", {}).get("eval_threshold", 0.5)
    return {"run": str(out_dir), "spec": model.SPEC_NAME, "rule": model.RULE,
            "unit": trainer_class(model.RULE, model.TASK_KIND).UNIT, "step": meta["step"], "dt_ms": model.DT,
            "populations": population_report(model, theta, fixed),
            "projections": projection_report(model, theta, fixed, threshold),
            "norm": norm_report(model, theta, fixed)}, (theta, fixed)


def plot_inspection(path, model, report, arrays) -> str | None:
    """inspect.png: a histogram per projection (probabilities or weights), per learned neuron
    parameter that differs between neurons, and per batch norm's learned scale and shift (one value
    per channel).  None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import jax.numpy as jnp

    theta, fixed = arrays
    panels = []
    for key, label in projection_labels(model).items():
        pr = model.PROJECTIONS[key]
        if pr["kind"] == "bernoulli" and not pr["learn"]:
            continue  # a fixed 0/1 mask: its density is in the table
        v = np.asarray(theta[key] if pr["learn"] else fixed[key], np.float64)
        if pr["kind"] == "sparse" and "m" + key[1:] in fixed:
            v = v[np.asarray(fixed["m" + key[1:]], bool)]
        what = "connection probability" if pr["kind"] == "bernoulli" else "weight"
        panels.append((f"{label}", what, v.ravel()))
    bp, _ = model.block_params({k: jnp.asarray(v) for k, v in theta.items()},
                               {k: jnp.asarray(v) for k, v in (fixed or {}).items()})
    for pop in report["populations"]:
        p = model.POPULATIONS[pop["population"]]
        start, stop = p["slice"]
        for q in pop["parameters"]:
            if q["learned"] and q["per_neuron"]:
                v = np.asarray(bp[p["block"]][q["name"]], np.float64)[start:stop]
                unit = f" ({q['unit']})" if q["unit"] else ""
                panels.append((f"{pop['population']}.{q['name']}", f"{q['role']}{unit}", v))
    labels = projection_labels(model)
    for key in norm_keys(model):
        for p in NORM_LEARNED:
            panels.append((f"{labels[key]} batch norm", f"{NORM_ROLES[p]} (per channel)",
                           np.asarray(theta[f"{key}.{p}"], np.float64).ravel()))
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, xlabel, v) in zip(axes.ravel(), panels):
        ax.hist(v, bins=min(50, max(5, int(np.sqrt(v.size)))), color="tab:blue", alpha=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{report['spec']} ({report['rule']}), after {report['unit']} {report['step']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
