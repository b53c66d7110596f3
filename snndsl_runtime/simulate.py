"""Run a model's network forward and record it: `simulate(model, inputs=..., duration_ms=...)`.

The simulator steps the generated `network_step` itself (the one training uses), so a simulation
has the training semantics: input nodes are encoded once per outer step (every SUBSTEPS network
steps) and their projections held over it; currents given for `population.port` are added to that
input port's drive every network step (`network_step(..., external=...)`).

Inputs are arrays in the base units (ms, mV, nA): a scalar or `(size,)` for a constant, or
`(steps, size)` for one value per network step.  The recording is a dict of numpy arrays of shape
`(steps, neurons)` keyed `population.variable` (`population.spikes`: 0/1, uint8), `output.value`,
and `t` (ms, the time at the end of each step).
"""

import numpy as np

from .errors import RunError
from .network import neuron_param_shapes

SPIKES = "spikes"


def available_memory() -> int | None:
    """Bytes of host memory free for the recording (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _did_you_mean(name, names) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def check_simulable(model) -> None:
    """RunError unless the model has the simulator's hooks (models generated before `snndsl sim` lack them)."""
    missing = [n for n in ("POPULATIONS", "INPUTS", "hold_inputs", "output_values") if not hasattr(model, n)]
    if missing:
        raise RunError("E822", f"{getattr(model, 'SPEC_NAME', 'this model')}'s program was generated before "
                               f"`snndsl sim` existed (it lacks {', '.join(missing)})",
                       "re-run (or re-emit) the spec with this snndsl to get a program it can simulate")


def recordable(model) -> list[str]:
    """Every name `record` accepts: `population.<state>`, `population.spikes`, `output.value`."""
    names = []
    for pop, p in model.POPULATIONS.items():
        blk = model.BLOCKS[p["block"]]
        names += [f"{pop}.{s}" for s in blk["states"]]
        if "fire" in blk:
            names.append(f"{pop}.{SPIKES}")
    return names + [f"{o}.value" for o in output_names(model)]


def output_names(model) -> list[str]:
    import jax

    # the names are the keys of output_values; evaluate them abstractly (no computation)
    w = {k: jax.ShapeDtypeStruct(tuple(pr["shape"]), np.float32) for k, pr in model.PROJECTIONS.items()}
    bp, _ = model.block_params(*neuron_param_shapes(model))
    x = jax.eval_shape(lambda: model.init_state(jax.random.PRNGKey(0), bp))
    return list(jax.eval_shape(model.output_values, w, x))


def default_record(model) -> list[str]:
    """Spikes of every spiking population and the membrane (the spike condition's variable) of every one."""
    out = []
    for pop, p in model.POPULATIONS.items():
        if "fire" in model.BLOCKS[p["block"]]:
            out.append(f"{pop}.{SPIKES}")
        if p["membrane"]:
            out.append(f"{pop}.{p['membrane']}")
    return out


def record_target(model, name: str, outputs=None) -> tuple:
    """(kind, block or output, key, start, stop) of a record name; RunError (node `record:NAME`) if unknown."""
    pop, _, var = name.partition(".")
    if pop in model.POPULATIONS:
        p = model.POPULATIONS[pop]
        blk = model.BLOCKS[p["block"]]
        if var in blk["states"] or (var == SPIKES and "fire" in blk):
            return ("spikes" if var == SPIKES else "state", p["block"], "s" if var == SPIKES else var, *p["slice"])
    outputs = output_names(model) if outputs is None else outputs
    if pop in outputs and var == "value":
        return ("output", pop, "value", 0, 0)
    names = recordable(model)
    hint = _did_you_mean(name, names) or f"record one of: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
    if pop in model.POPULATIONS or pop in outputs:
        msg = f"`{pop}` has nothing to record called `{var}`"
    else:
        msg = f"cannot record `{name}`: `{pop}` is not a population or an output"
    raise RunError("E201", msg, hint, node=f"record:{name}")


def input_target(model, name: str) -> dict:
    """What an input name drives: {kind: node|port, size, dims, ...}; RunError (node `input:NAME`) if unknown."""
    if name in model.INPUTS:
        return {"kind": "node", "name": name, "size": model.INPUTS[name], "dims": (0, 0, 0)}
    pop, _, port = name.partition(".")
    if pop in model.POPULATIONS and port in model.POPULATIONS[pop]["ports"]:
        p = model.POPULATIONS[pop]
        start, stop = p["slice"]
        return {"kind": "port", "name": name, "block": p["block"], "port": port, "start": start, "stop": stop,
                "size": stop - start, "dims": tuple(p["ports"][port])}
    names = list(model.INPUTS) + [f"{q}.{port}" for q, p in model.POPULATIONS.items() for port in p["ports"]]
    if pop in model.POPULATIONS:
        msg = f"population `{pop}` has no input port `{port}`" + \
              (f" (its ports: {', '.join(model.POPULATIONS[pop]['ports'])})" if model.POPULATIONS[pop]["ports"] else
               f" (its model {model.POPULATIONS[pop]['model']} declares no `input`)")
    else:
        msg = f"`{name}` is neither an input of the spec nor `population.port`"
    hint = _did_you_mean(name, names) or (f"inputs here: {', '.join(names)}" if names else
                                          "this network has no input and no input port to drive")
    raise RunError("E201", msg, hint, node=f"input:{name}")


def _as_input(value, target: dict, steps: int) -> tuple[np.ndarray, bool]:
    """(array, varies): (size,) if constant, (steps, size) if it varies; RunError on a wrong shape."""
    a = np.asarray(value, dtype=np.float64)
    size, name = target["size"], target["name"]
    if a.ndim == 0:
        return np.full(size, a, np.float64), False
    if a.shape == (size,):
        return a, False
    if a.ndim == 2 and a.shape[1] == size and a.shape[0] >= steps:
        return a[:steps], True
    want = f"({size},) for a constant or ({steps}, {size}) for {steps} network steps"
    raise RunError("E501", f"input `{name}` has shape {a.shape}, but it takes {want}",
                   "give one value per neuron (a list or a (size,) array), or one row per network step",
                   node=f"input:{name}")


def _params(model, params, seed):
    import jax

    from .network import init_parameters, network

    if params is None:
        theta, fixed = init_parameters(model, jax.random.PRNGKey(seed))
        return network(model, theta, fixed)
    if isinstance(params, dict):  # a trainer's state (theta and fixed)
        return network(model, params["theta"], params["fixed"])
    return params  # (weights, block parameters, step factors)


def recording_bytes(model, record: list[str], steps: int, outputs=None) -> int:
    total = 0
    for name in record:
        kind, block, key, start, stop = record_target(model, name, outputs)
        width = stop - start if kind != "output" else None
        if kind == "output":
            width = int(np.prod(_output_shape(model, block)))
        total += steps * width * (1 if kind == "spikes" else 8 if getattr(model, "PRECISION", "") == "float64" else 4)
    return total


def _output_shape(model, name):
    import jax

    w = {k: jax.ShapeDtypeStruct(tuple(pr["shape"]), np.float32) for k, pr in model.PROJECTIONS.items()}
    bp, _ = model.block_params(*neuron_param_shapes(model))
    x = jax.eval_shape(lambda: model.init_state(jax.random.PRNGKey(0), bp))
    return jax.eval_shape(model.output_values, w, x)[name].shape


def thresholds(model, params) -> dict:
    """population -> its threshold parameter's value (a float, or per neuron), where the spike
    condition compares the membrane with a parameter."""
    _, bp, _ = params
    out = {}
    for pop, p in model.POPULATIONS.items():
        if p["threshold"] and p["threshold"] in bp[p["block"]]:
            v = np.asarray(bp[p["block"]][p["threshold"]])
            out[pop] = v if v.ndim == 0 else v[slice(*p["slice"])] if v.shape[0] == model.BLOCKS[p["block"]]["size"] else v
    return out


def simulate(model, params=None, inputs=None, duration_ms=100.0, record=None, seed=0):
    """Run the network for round(duration_ms / DT) network steps and return the recording (in float64
    when the model's time.precision is float64: parameters, propagators and states alike)."""
    from .loop import precision

    with precision(model):
        return _simulate(model, params, inputs, duration_ms, record, seed)


def _simulate(model, params=None, inputs=None, duration_ms=100.0, record=None, seed=0):
    """Run the network for round(duration_ms / DT) network steps and return the recording.

    params: None (the initial parameters, from `seed`), a trainer state {"theta", "fixed"}, or
    (weights, block parameters, step factors).  inputs: {input node or "population.port": array}
    in base units (see the module's docstring); an input node not given is 0.  record: names from
    `recordable(model)`; default `default_record(model)`.  Raises RunError on a bad name or shape,
    and E852 when the recording would not fit in memory."""
    import jax
    import jax.numpy as jnp

    check_simulable(model)
    steps = int(round(float(duration_ms) / model.DT))
    if steps < 1:
        raise RunError("E401", f"a duration of {duration_ms:g} ms is less than one network step ({model.DT:g} ms)",
                       f"give a duration of at least {model.DT:g} ms", node="duration")
    outputs = output_names(model)
    record = list(default_record(model) if record is None else record)
    targets = {name: record_target(model, name, outputs) for name in record}
    need = recording_bytes(model, record, steps, outputs)
    have = available_memory()
    if have is not None and 2 * need > have:  # JAX's copy of the recording and numpy's
        raise RunError("E852", f"recording {len(record)} variable{'s' if len(record) != 1 else ''} for {steps:,} "
                               f"steps needs about {human(2 * need)} (the recording {human(need)}, twice), more than "
                               f"the {human(have)} of available memory",
                       "record fewer variables (--record pop.v,pop.spikes) or simulate a shorter --duration",
                       node="record")
    # inputs, split into constants and per-step sequences
    node_const = {n: np.zeros(size, np.float64) for n, size in model.INPUTS.items()}
    node_seq, port_const, port_seq = {}, {}, {}
    for name, value in (inputs or {}).items():
        tgt = input_target(model, name)
        a, varies = _as_input(value, tgt, steps)
        if tgt["kind"] == "node":
            (node_seq if varies else node_const)[name] = a
            if varies:
                node_const[name] = np.zeros(tgt["size"], np.float64)
            continue
        size = model.BLOCKS[tgt["block"]]["size"]
        pad = ((0, 0),) * (a.ndim - 1) + ((tgt["start"], size - tgt["stop"]),)  # a population's slice of its block
        full = np.pad(a, pad)
        into = port_seq if varies else port_const
        key = (tgt["block"], tgt["port"])
        into[key] = into[key] + full if key in into else full

    w, bp, bc = _params(model, params, seed)
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    S = model.SUBSTEPS

    def external(seq):
        ext = {}
        for (b, port), v in port_const.items():
            ext.setdefault(b, {})[port] = v
        for (b, port), v in seq.items():
            ext.setdefault(b, {})[port] = ext.get(b, {}).get(port, 0.0) + v
        return ext

    def held_at(t, nseq):
        vals = {n: node_const[n] + nseq[n] if n in nseq else node_const[n] for n in node_const}
        return model.hold_inputs(w, model.encode_inputs(vals, jax.random.fold_in(k_run, t // S)))

    def recorded(x):
        out, outs = {}, None
        for name, (kind, block, key, start, stop) in targets.items():
            if kind == "output":
                outs = model.output_values(w, x) if outs is None else outs
                out[name] = outs[block]
            elif kind == "spikes":
                out[name] = x[block]["s"][start:stop] != 0
            else:
                out[name] = jnp.broadcast_to(x[block][key], (model.BLOCKS[block]["size"],))[start:stop]
        return out

    def body(carry, xs):
        x, held = carry
        t, nseq, pseq = xs
        # an input node is encoded at the start of each outer step and held over its substeps
        held = jax.lax.cond(t % S == 0, lambda: held_at(t, nseq), lambda: held)
        x = model.network_step(w, bp, bc, x, held, external=external(pseq) or None)
        return (x, held), recorded(x)

    def run():
        x0 = model.init_state(k_init, bp)
        first = {n: v[0] for n, v in node_seq.items()}
        carry = (x0, held_at(0, first))
        xs = (jnp.arange(steps), {n: jnp.asarray(v) for n, v in node_seq.items()},
              {k: jnp.asarray(v) for k, v in port_seq.items()})
        return jax.lax.scan(body, carry, xs)[1]

    rec = jax.jit(run)()
    result = {name: np.asarray(v).astype(np.uint8) if targets[name][0] == "spikes" else np.asarray(v)
              for name, v in rec.items()}
    result["t"] = (np.arange(1, steps + 1) * model.DT).astype(np.float64)
    return result


def firing_rates(result: dict) -> dict:
    """population -> mean firing rate in Hz over the recording, from its recorded spikes."""
    t = result["t"]
    dur_s = (t[-1] if len(t) else 0.0) / 1000.0
    return {k[: -len("." + SPIKES)]: float(v.sum() / max(v.shape[1], 1) / dur_s) if dur_s else 0.0
            for k, v in result.items() if k.endswith("." + SPIKES)}


def plot(path, result: dict, thresholds: dict | None = None, title: str = "", traces: int = 5,
         membranes: dict | None = None, dt: float = 0.0) -> str | None:
    """sim.png: traces of a few neurons per recorded variable (the threshold dashed on the membrane,
    `membranes`: population -> its membrane variable), a spike raster per population (a spike in
    step k drawn at k dt, its step's start, as Brian2 stamps it) and the populations' firing
    rates.  None if matplotlib is missing."""
    membranes = membranes or {}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    t = result["t"]
    states = [k for k in result if k != "t" and not k.endswith("." + SPIKES)]
    rasters = [k for k in result if k.endswith("." + SPIKES)]
    panels = len(states) + len(rasters) + (1 if rasters else 0)
    fig, axes = plt.subplots(max(panels, 1), 1, figsize=(9, 2.2 * max(panels, 1) + 0.6), squeeze=False)
    axes = list(axes[:, 0])
    for name in states:
        ax = axes.pop(0)
        v = result[name].reshape(len(t), -1)
        for i in range(min(traces, v.shape[1])):
            ax.plot(t, v[:, i], lw=0.8, label=f"neuron {i}")
        pop, var = name.split(".", 1)
        thr = (thresholds or {}).get(pop)
        if thr is not None and var == membranes.get(pop):
            # the threshold line goes with the membrane only
            for level in sorted(set(np.atleast_1d(np.asarray(thr, float)).ravel()[:traces].tolist())):
                ax.axhline(level, ls="--", c="gray", lw=0.8)
        ax.set_ylabel(name)
        if v.shape[1] > 1:
            ax.legend(loc="upper right", fontsize=6, ncol=min(traces, v.shape[1]))
    for name in rasters:
        ax = axes.pop(0)
        s = result[name]
        ti, ni = np.nonzero(s)
        ax.scatter(t[ti] - dt, ni, s=max(2, 200 // max(s.shape[1], 1)), marker="|", c="k")
        ax.set_xlim(0, t[-1] if len(t) else 1)
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        ax.set_ylabel(f"{name[: -len(SPIKES) - 1]}\nneuron")
    if rasters:
        ax = axes.pop(0)
        rates = firing_rates(result)
        ax.bar(list(rates), list(rates.values()), color="tab:blue")
        ax.set_ylabel("rate (Hz)")
    for ax in fig.axes[:-1] if rasters else fig.axes:
        ax.set_xlabel("time (ms)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
