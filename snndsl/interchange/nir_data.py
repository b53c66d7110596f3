"""A `snndsl sim` recording as NIR data (`nir.NIRGraphData`, read back with `nir.read_data`).

Nodes are named as `snndsl export` names them: one node per block (a population, or a group
such as EC's `[exc, inh]`, its members side by side in the group's order) and one per output.
Observables are the recorded variables (`spikes` as booleans, states and output values as
floats), each `TimeGriddedData` of shape (1 sample, steps, neurons) with `dt` in seconds (nir_map).

A node `snndsl export` writes as (C, H, W) (one a convolution or pooling reads or writes) has its
neurons in NIR's channels-first order, (c * H + h) * W + w, so `data.reshape(1, steps, C, H, W)`
gives [c, h, w]; its HDF5 group carries `snndsl_shape` = (C, H, W).  The data stay 3-D because NIR's
TimeGriddedData (nir 1.0.8) refuses any other shape, also when `nir.read_data` reads it back.
"""

from __future__ import annotations

import numpy as np

from . import nir_map as M

LAYER_OPS = ("conv2d", "avg_pool", "sum_pool", "max_pool", "global_avg_pool")


def node_shapes(model) -> dict:
    """{block or output: (C, H, W)} for the nodes that `snndsl export` writes shaped: every one a
    convolution or pooling reads or writes (nir_export._layer_shapes, here from the model's ops, so
    that a run folder needs no spec).  A block of several populations (a group) stays flat, as a
    group is one flat NIR node."""
    single = {}
    for p in model.POPULATIONS.values():
        single[p["block"]] = p["block"] not in single
    shapes = {}
    for pr in model.PROJECTIONS.values():
        op = pr.get("op") or {}
        layer = op.get("type") in LAYER_OPS
        if not (layer or "pool" in op):
            continue
        source = pr["name"].split("->", 1)[0].strip()  # the projection's name is `source->target[.var]`
        block = model.POPULATIONS[source]["block"] if source in model.POPULATIONS else source
        if single.get(block):
            shapes[block] = tuple(op["pool"]["in"] if "pool" in op else op["in"])
        kind, name = pr["target"][:2]
        if layer and (kind == "output" or single.get(name)):
            shapes[name] = tuple(op["out"])
    return shapes


def _nir_order(data, shape):
    """(1, steps, n) data of a (C, H, W) node, snndsl's channels-last neurons put channels first."""
    from snndsl_runtime.layers import channels_first

    return data if shape is None else channels_first(data, shape).reshape(data.shape)


def recording_data(model, result: dict):
    """(NIRGraphData of a recording, [variables left out because only part of a group was recorded])."""
    import nir

    dt = float(M.to_nir_time(model.DT))
    shapes = node_shapes(model)
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
            observables[var] = nir.TimeGriddedData(_nir_order(data[None], shapes.get(block)), dt)
        if observables:
            nodes[block] = nir.NIRNodeData(observables)
    for k, a in result.items():
        name, _, var = k.partition(".")
        if var == "value" and name not in model.POPULATIONS:
            data = _nir_order(np.asarray(a, np.float64)[None], shapes.get(name))
            nodes[name] = nir.NIRNodeData({"value": nir.TimeGriddedData(data, dt)})
    return nir.NIRGraphData(nodes), left_out


def write_recording(path: str, model, result: dict) -> list[str]:
    """Write the recording to `path` (HDF5, atomically); returns the variables left out."""
    import nir

    from snndsl_runtime.io import atomic_write

    data, left_out = recording_data(model, result)
    shapes = {k: v for k, v in node_shapes(model).items() if k in data.nodes}

    def write(f):
        nir.write_data(f, data)
        if shapes:  # the shape of each (C, H, W) node, beside its (flat, channels-first) data
            import h5py

            with h5py.File(f, "r+") as h5:
                for name, shape in shapes.items():
                    h5[f"nodes/{name}"].attrs["snndsl_shape"] = np.asarray(shape, np.int64)

    atomic_write(path, write, "w+b")
    return left_out
