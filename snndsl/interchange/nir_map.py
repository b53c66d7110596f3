"""The conventions that map an snndsl network onto NIR (the Neuromorphic Intermediate
Representation, https://neuroir.org) and back.  Stated once here; docs/nir.md says the same.

Time.  NIR is continuous time.  Its values are written in **seconds** (what snnTorch, Norse and the
NIR paper's examples use); snndsl's are in ms.  `to_nir_time` / `from_nir_time` are the only places
that convert.  The graph's metadata holds `dt` (seconds), `dt_ms`, `time_unit = "s"` and
`source = "snndsl"`.

Leaks.  A time constant is exported as the model's own τ: snndsl integrates linear models
exactly, so the per-step leak is λ = exp(−dt/τ) on both sides (a learned time constant, stored
raw, is turned back into τ with `tau_from_raw`).

Spikes and inputs.  A NIR spike is a Dirac delta into a node's input.  A snndsl projection into a
neuron *state* is a jump of gain·(s·W) per network step.  A Dirac of area w into
`τ dv/dt = (v_leak − v) + r·I` makes v jump by r·w/τ, so a jump into the membrane of LIF / LI is
exported with `r = τ` (jump = w), and a jump into CubaLIF's synaptic current with `w_in = τ_syn`
(`τ_syn dI/dt = −I + w_in·S`, jump = w) and `r = 1` (`τ_m dv/dt = v_rest − v + i_syn`).  An input
value (an encoder's output) projected into a state is read the same way: each step's value is the
area of one impulse.  A *current* into an input port (`input i_in`, held over the step) maps to r = 1
where the port enters the membrane equation; CubaLIF's `i_in` enters `v` directly, and NIR's CubaLIF
has only its synaptic input, so `i_in` projections are exported into that input divided by
`w_in` (its steady state is then the same current, filtered by τ_syn) with warning W862 and
`snndsl_target_var = "i_in"` in the Linear node's metadata, which `snndsl import` undoes.

Weights.  snndsl's W is (inputs × outputs); NIR's Linear weight is (outputs × inputs): transposed.
The gain, the presynaptic population's sign (rows) and, for EC, the deterministic mask
(p > eval_threshold) are folded in; `[x, −x]` doubling (`signed_current`) is folded into the input
weights (W_top − W_bottom).  The Linear node's metadata keeps what a round trip needs to restore
the projection exactly: `snndsl_weight` (the (inputs × outputs) matrix before folding the input
doubling), `snndsl_p` and `snndsl_mask` (EC), `snndsl_gain`, `snndsl_target_var`, `snndsl_delay`.

Resets.  NIR's LIF, CubaLIF and IF reset to `v_reset` (hard).  A subtractive (soft) reset cannot
be expressed (NIR issue #63): it is exported with warning W861 and `reset = "subtract"` in the
node's metadata, which `snndsl import` reads back; another NIR tool will reset to v_reset = 0.

Models.  Only models equal to the stdlib's `LIF`, `HardLIF`, `LI`, `CubaLIF` and `CubaLIFStep` have
a NIR primitive (`LIF`, `LIF`, `LI`, `CubaLIF`, `CubaLIF`); `CubaLIFStep` is marked
`snndsl_integration = "step: ConnSNN order"` because snndsl integrates it in that discrete order,
not as NIR's ODE.  Anything else (ALIF, Izhikevich, AdEx, other `step` models) is E861.

Readouts.  `filtered_rate` → `LI` (τ, and r chosen so a spike adds (1 − λ)/dt as in snndsl);
`spike_count` → `I` (r = 1: one per spike); `instant` → nothing (the spikes go straight into the
output's Linear); `membrane` of an `LI` population → that node's output.  An output's `clip` has no
NIR primitive: it is kept in the Output node's metadata (W862).
"""

from __future__ import annotations

import numpy as np

TIME_UNIT = "s"
MS_PER_UNIT = 1000.0  # ms in one NIR time unit

# stdlib models with a NIR primitive: snndsl model -> NIR node type
PRIMITIVES = {"LIF": "LIF", "HardLIF": "LIF", "LI": "LI", "CubaLIF": "CubaLIF", "CubaLIFStep": "CubaLIF"}
# readouts exported as NIR nodes (or passed through)
READOUTS = ("filtered_rate", "spike_count", "instant", "membrane")
# NIR node types `snndsl import` reads
IMPORTABLE = ("Input", "Output", "Linear", "Affine", "LIF", "CubaLIF", "LI", "IF", "I",
              "Conv2d", "AvgPool2d", "SumPool2d", "Scale", "Flatten")
STEP_ORDER = ("step: ConnSNN order (i_syn <- exp(-dt/tau_syn) i_syn + jump; "
              "v <- exp(-dt/tau_m) v + (1 - exp(-dt/tau_m)) (v_rest + i_syn + i_in))")


def to_nir_time(ms):
    """A time (or array of times) in ms, in NIR's unit (seconds)."""
    return np.asarray(ms, np.float64) / MS_PER_UNIT


def from_nir_time(t):
    """A NIR time (seconds) in ms."""
    return np.asarray(t, np.float64) * MS_PER_UNIT


def per_neuron(value, size: int) -> np.ndarray:
    """A scalar or a (size,) array as a float64 (size,) array."""
    a = np.asarray(value, np.float64)
    return np.full(size, float(a)) if a.ndim == 0 else a.reshape(size).astype(np.float64)


def fold_signed(w: np.ndarray) -> np.ndarray:
    """(2n × m) weights of a [x, −x] input as (n × m) weights of x: W_top − W_bottom."""
    n = w.shape[0] // 2
    return w[:n] - w[n:]


def stdlib_models() -> dict:
    """The IR of the stdlib models with a NIR primitive, without spans, file and parameter values:
    the structure an exported model must have."""
    global _STDLIB
    if _STDLIB is None:
        import os
        import tempfile

        from ..driver.build import load_spec

        names = ", ".join(PRIMITIVES)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "nir_models.snn")
            with open(path, "w") as f:
                f.write(f'from "neurons" import {names}\n' +
                        "".join(f"population p{i} = {m}(1)\n" for i, m in enumerate(PRIMITIVES)))
            spec, _ = load_spec(path, [], on_warnings=lambda *a: None)
        _STDLIB = {m.name: structure(m) for m in spec.neurons}
    return _STDLIB


_STDLIB = None


def structure(model) -> dict:
    """A neuron model as comparable data: equations, updates, spike condition, resets, names."""
    d = model.model_dump(exclude={"file", "span", "name"})
    d["params"] = sorted(p["name"] for p in d["params"])

    def drop(x):
        if isinstance(x, dict):
            return {k: drop(v) for k, v in x.items() if k not in ("span", "reason")}
        if isinstance(x, list):
            return [drop(v) for v in x]
        return x

    return drop(d)


def primitive_of(model) -> str | None:
    """The stdlib name of a model whose structure is a stdlib model with a NIR primitive, else None."""
    want = stdlib_models().get(model.name)
    if want is not None and structure(model) == want:
        return model.name
    return None
