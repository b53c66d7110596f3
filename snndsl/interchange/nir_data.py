"""A `snndsl sim` recording as NIR data (`nir.NIRGraphData`, read back with `nir.read_data`).

Nodes are named as `snndsl export` names them: one node per block (a population, or a group
such as EC's `[exc, inh]`, its members side by side in the group's order) and one per output.
Observables are the recorded variables (`spikes` as booleans, states and output values as
floats), each `TimeGriddedData` of shape (1 sample, steps, neurons) with `dt` in seconds (nir_map).
"""

from __future__ import annotations

import numpy as np

from . import nir_map as M


def recording_data(model, result: dict):
    """(NIRGraphData of a recording, [variables left out because only part of a group was recorded])."""
    import nir

    dt = float(M.to_nir_time(model.DT))
    members: dict[str, list] = {}
    for pop, p in model.POPULATIONS.items():
        members.setdefault(p["block"], []).append((p["slice"][0], pop))
    nodes, left_out = {}, []
    for block, pops in members.items():
        pops = [pop for _, pop in sorted(pops)]
        names = {k.split(".", 1)[1] for k in result if k.split(".", 1)[0] in pops}
        observables = {}
        for var in sorted(names):
            parts = [result.get(f"{pop}.{var}") for pop in pops]
            if any(a is None for a in parts):
                left_out += [f"{pop}.{var}" for pop, a in zip(pops, parts) if a is not None]
                continue
            data = np.concatenate([np.asarray(a) for a in parts], axis=1)
            data = data.astype(bool) if var == "spikes" else data.astype(np.float64)
            observables[var] = nir.TimeGriddedData(data[None], dt)
        if observables:
            nodes[block] = nir.NIRNodeData(observables)
    for k, a in result.items():
        name, _, var = k.partition(".")
        if var == "value" and name not in model.POPULATIONS:
            nodes[name] = nir.NIRNodeData({"value": nir.TimeGriddedData(np.asarray(a, np.float64)[None], dt)})
    return nir.NIRGraphData(nodes), left_out


def write_recording(path: str, model, result: dict) -> list[str]:
    """Write the recording to `path` (HDF5, atomically); returns the variables left out."""
    import nir

    from snndsl_runtime.io import atomic_write

    data, left_out = recording_data(model, result)
    atomic_write(path, lambda f: nir.write_data(f, data), "w+b")
    return left_out
