"""An snndsl network (its IR and parameter values) -> a NIR graph, following nir_map's conventions.

`export_run(run_dir)` takes a trained run (its own train.py and checkpoint, loaded as `snndsl sim`
loads it, and the spec it was made from for the structure); `export_spec(spec_path)` the spec's
initial parameters.  Both return (graph, diagnostics); a model without a NIR primitive is E861
(located at its population) and no graph.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from snndsl_runtime.layers import channels_first, channels_first_order, kernel_to_oihw

from ..diagnostics import Diagnostic, SpecError
from . import nir_map as M


def _warning(code, message, span=None, hint=None) -> Diagnostic:
    return Diagnostic(code, message, span, hint, severity="warning")


def _block_of(spec, name: str) -> tuple[str, int, int]:
    """The block (group or population) a node name lives in, and its slice there."""
    g = spec.group(name)
    if g is not None:
        return name, 0, spec.size_of(name)
    pop = spec.population(name)
    if pop.group is None:
        return name, 0, pop.size
    start = 0
    for m in spec.group(pop.group).members:
        if m == name:
            return pop.group, start, start + pop.size
        start += spec.population(m).size
    raise AssertionError(name)


def _blocks(spec) -> list[tuple[str, list]]:
    out, seen = [], set()
    for p in spec.populations:
        b = p.group or p.name
        if b not in seen:
            seen.add(b)
            out.append((b, spec.members(b)))
    return out


def dense_weights(model, theta, fixed, threshold: float) -> tuple[dict, dict, dict]:
    """Each projection's real (inputs × outputs) matrix as the deterministic network uses it, and,
    for Bernoulli projections, their probabilities and masks (learned p > threshold; fixed masks
    as sampled)."""
    from snndsl_runtime.network import network_weights

    plain_theta = {k: v for k, v in theta.items() if k in model.PROJECTIONS}
    p_of, mask_of, w = {}, {}, {}
    for key, pr in model.PROJECTIONS.items():
        if pr["kind"] == "bernoulli" and key in theta:
            p = np.asarray(theta[key], np.float64)
            p_of[key], mask_of[key] = p, p > threshold
            plain_theta[key] = mask_of[key].astype(np.float32)
        elif pr["kind"] == "bernoulli":
            mask_of[key] = np.asarray(fixed[key], bool)
            p_of[key] = np.full(pr["shape"], pr["p"])
    import jax.numpy as jnp

    ws = network_weights(model, {k: jnp.asarray(v) for k, v in plain_theta.items()}, fixed)
    for key in model.PROJECTIONS:
        w[key] = np.asarray(ws[key], np.float64)
        if key in mask_of:
            w[key] = mask_of[key].astype(np.float64)
    return w, p_of, mask_of


def build_graph(spec, model, theta, fixed, threshold: float = 0.5, origin: str = ""):
    """The NIR graph of a network: (nir.NIRGraph or None, diagnostics)."""
    import nir

    diags: list[Diagnostic] = []
    dt = float(model.DT)
    blocks = _blocks(spec)
    kinds = {}
    for bname, pops in blocks:
        m = spec.neuron(pops[0].model)
        prim = M.primitive_of(m)
        if prim is None:
            diags.append(Diagnostic("E861", f"`{m.name}` (population `{pops[0].name}`) has no NIR primitive",
                                    pops[0].span, "NIR export supports the stdlib models LIF, HardLIF, LI, CubaLIF "
                                    "and CubaLIFStep (unchanged)"))
            continue
        kinds[bname] = prim
        if m.refractory > 0:
            diags.append(Diagnostic("E861", f"`{m.name}` has a refractory period, which NIR cannot express",
                                    pops[0].span))
    for pr in spec.projections:
        if pr.norm is not None:
            diags.append(Diagnostic("E881", f"`{pr.name}` is batch-normalised (`norm = batch`); NIR has no "
                                            "batch norm node, and snndsl does not fold it into the weights",
                                    pr.norm.span, "export a network without `norm`"))
    nir_shape, layer_diags = _layer_shapes(spec)
    diags += layer_diags
    for o in spec.outputs:
        if o.readout not in M.READOUTS:
            diags.append(Diagnostic("E861", f"readout `{o.readout}` of output `{o.name}` has no NIR counterpart",
                                    o.span, f"NIR export supports the readouts {', '.join(M.READOUTS)}"))
        elif o.readout == "membrane" and kinds.get(_block_of(spec, o.source)[0]) != "LI":
            diags.append(Diagnostic("E861", f"output `{o.name}` reads the membrane of a spiking population; "
                                            "a NIR spiking node outputs spikes only", o.span))
    for i in spec.inputs:
        if i.encoder not in ("current", "signed_current"):
            diags.append(_warning("W862", f"input `{i.name}`: the NIR Input is the `{i.encoder}` encoder's "
                                            "output, not the task's values", i.span))
    if any(d.is_error for d in diags):
        return None, diags

    bp, _ = model.block_params(theta, fixed)
    nodes, edges = {}, []
    graph_meta = {"source": "snndsl", "spec": spec.name, "time_unit": M.TIME_UNIT,
                  "dt": float(M.to_nir_time(dt)), "dt_ms": dt, "origin": origin,
                  "substeps": int(model.SUBSTEPS), "steps": int(model.STEPS),
                  "conventions": "see snndsl docs/nir.md: spikes are Dirac deltas; jumps into a membrane "
                                 "r = tau; weights (out, in)"}
    # ---- inputs
    for i in spec.inputs:
        nodes[i.name] = nir.Input(input_type=np.array(nir_shape.get(i.name) or
                                                      [i.in_size if i.encoder in ("current", "signed_current")
                                                       else i.size]),
                                  metadata={"snndsl_encoder": i.encoder, "snndsl_size": i.size})
    # ---- neuron blocks
    w_in_of = {}
    for bname, pops in blocks:
        prim, n = kinds[bname], sum(p.size for p in pops)
        # a block that a convolution or pooling reads or writes is a (C, H, W) node, channels first
        shaped = (lambda a: channels_first(a, nir_shape[bname])) if bname in nir_shape else (lambda a: a)
        p = {k: shaped(M.per_neuron(v, n)) for k, v in bp[bname].items()}
        zeros, ones = shaped(np.zeros(n)), shaped(np.ones(n))
        meta = {"snndsl_model": prim, "snndsl_populations": ",".join(f"{q.name}:{q.size}:{q.sign:+d}" for q in pops)}
        tau = lambda name: M.to_nir_time(p[name])  # noqa: E731
        if prim in ("LIF", "HardLIF"):
            reset = p.get("v_reset", zeros)
            if prim == "LIF":
                meta["reset"] = "subtract"
                diags.append(_warning("W861", f"`{pops[0].name}` resets by subtraction (`v -= v_th`); NIR's LIF "
                                                "resets to v_reset: written with `reset = subtract` in its metadata",
                                        pops[0].span, "snndsl import restores it; other NIR tools will reset to 0"))
            nodes[bname] = nir.LIF(tau=tau("tau_m"), r=tau("tau_m"), v_leak=zeros,
                                   v_threshold=p["v_th"], v_reset=reset, metadata=meta)
        elif prim == "LI":
            nodes[bname] = nir.LI(tau=tau("tau_m"), r=tau("tau_m"), v_leak=zeros, metadata=meta)
        else:  # CubaLIF, CubaLIFStep
            if prim == "CubaLIFStep":
                meta["snndsl_integration"] = M.STEP_ORDER
            w_in_of[bname] = tau("tau_syn")
            nodes[bname] = nir.CubaLIF(tau_syn=tau("tau_syn"), tau_mem=tau("tau_m"), r=ones,
                                       v_leak=p["v_rest"], v_threshold=p["v_th"], v_reset=p["v_reset"],
                                       w_in=w_in_of[bname], metadata=meta)
    # ---- projections
    weights, p_of, mask_of = dense_weights(model, theta, fixed, threshold)
    keys = list(model.PROJECTIONS)
    assert len(keys) == len(spec.projections)
    out_proj, out_chains = {}, {}
    warned_port = set()
    for key, pr in zip(keys, spec.projections):
        entry = model.PROJECTIONS[key]
        assert entry["name"] == pr.name, (entry["name"], pr.name)
        w = weights[key] * float(entry["gain"])  # (n_in, n_out)
        kind = spec.kind_of(pr.source)
        src_node, rows = pr.source, slice(None)
        if kind in ("population", "group"):
            sb, s0, s1 = _block_of(spec, pr.source)
            sign = np.concatenate([np.full(q.size, float(q.sign)) for q in spec.members(pr.source)])
            w = w * sign[:, None] if not _is_layer(pr) else w
            src_node, rows = sb, slice(s0, s1)
        meta = {"snndsl_projection": pr.name, "snndsl_gain": float(entry["gain"]),
                "snndsl_weight": weights[key], "snndsl_kind": pr.connectivity.kind}
        if key in p_of:
            meta["snndsl_p"], meta["snndsl_mask"] = p_of[key], mask_of[key].astype(np.uint8)
            meta["snndsl_threshold"] = float(threshold)
        enc = spec.inputs[[i.name for i in spec.inputs].index(pr.source)] if kind == "input" else None
        if kind == "input":
            if enc.encoder == "signed_current":
                w = M.fold_signed(w)
            elif enc.encoder == "current":
                w = w * float(enc.params.get("gain", 1.0))
        if pr.delay is not None or kind in ("population", "group"):
            meta["snndsl_delay"] = int(pr.delay or 0)
        if (pr.delay or 0) >= 2:
            diags.append(_warning("W862", f"`{pr.name}` delivers spikes {pr.delay} steps late; NIR's Linear has no "
                                            "delay: written in its metadata (`snndsl_delay`) only", pr.span,
                                  "snndsl import restores it; other NIR tools deliver the spikes at once"))
        if _is_layer(pr):  # a convolution or pooling: its own nodes, from a (C, H, W) node into one
            enc_gain = float(enc.params.get("gain", 1.0)) if kind == "input" and enc.encoder == "current" else 1.0
            sign = float(spec.members(pr.source)[0].sign) if kind == "population" else 1.0
            if pr.target_var is not None:
                meta["snndsl_target_var"] = pr.target_var
            chain = _layer_chain(pr, weights[key], float(entry["gain"]) * sign * enc_gain, meta, nir_shape[src_node])
            if pr.target_var is None:
                out_chains.setdefault(pr.target, []).append(chain)
                continue
            names = _add_chain(nodes, edges, src_node, chain)
            edges.append((names[-1], pr.target))
            continue
        if pr.target_var is None:  # into an output: after the readout
            out_proj.setdefault(pr.target, []).append((src_node, rows, w, meta))
            continue
        tb, t0, t1 = _block_of(spec, pr.target)
        meta["snndsl_target_var"] = pr.target_var
        prim = kinds[tb]
        full_in = np.prod(nodes[src_node].output_type["output"]) if src_node in nodes else w.shape[0]
        n_tb = nodes[tb].input_type["input"][0]
        big = np.zeros((int(full_in), int(n_tb)))
        big[rows, t0:t1] = w
        if prim in ("CubaLIF", "CubaLIFStep") and pr.target_var == "i_in":
            big = big / w_in_of[tb][None, :]
            if tb not in warned_port:
                warned_port.add(tb)
                diags.append(_warning("W862", f"`{pr.name}` drives CubaLIF's input port i_in, which NIR's CubaLIF "
                                                "lacks: exported into its synaptic input (filtered by tau_syn there)",
                                        pr.span, "snndsl import restores it from the metadata"))
        elif prim in ("CubaLIF", "CubaLIFStep") and pr.target_var != "i_syn" or \
                prim not in ("CubaLIF", "CubaLIFStep") and pr.target_var != spec.neuron(spec.members(tb)[0].model).membrane:
            return None, diags + [Diagnostic("E861", f"`{pr.name}` drives `{pr.target_var}`, which the NIR node has "
                                                     "no input for", pr.span)]
        _add_linear(nodes, edges, src_node, nir_shape.get(src_node), big, meta, pr.name, tb)
    # ---- outputs
    for o in spec.outputs:
        sb, s0, s1 = _block_of(spec, o.source)
        src, n_src = sb, int(np.prod(nodes[sb].output_type["output"]))
        shaped = (lambda a: channels_first(a, nir_shape[sb])) if sb in nir_shape else (lambda a: a)
        ometa = {"snndsl_readout": o.readout}
        if o.clip is not None:
            ometa["clip"] = np.array(o.clip, np.float64)
            diags.append(_warning("W862", f"output `{o.name}` is clipped to [{o.clip[0]:g}, {o.clip[1]:g}]; NIR has "
                                            "no clip: written in the Output node's metadata only", o.span))
        if o.readout == "filtered_rate":
            tau_ms = float(o.params["tau"])
            lam = np.exp(-dt / tau_ms)
            r = float(M.to_nir_time(tau_ms)) * (1 - lam) / dt
            rname = _unique(nodes, f"{o.name}.readout")
            nodes[rname] = nir.LI(tau=shaped(np.full(n_src, float(M.to_nir_time(tau_ms)))),
                                  r=shaped(np.full(n_src, r)), v_leak=shaped(np.zeros(n_src)), metadata={"snndsl_readout": "filtered_rate", "tau_ms": tau_ms,
                                                                     "snndsl_output": o.name})
            edges.append((src, rname))
            src = rname
        elif o.readout == "spike_count":
            rname = _unique(nodes, f"{o.name}.readout")
            nodes[rname] = nir.I(r=shaped(np.ones(n_src)), metadata={"snndsl_readout": "spike_count", "snndsl_output": o.name})
            edges.append((src, rname))
            src = rname
        signed = np.concatenate([np.full(q.size, float(q.sign)) for q in spec.members(sb)])
        # a convolution or pooling into the output makes its values (C, H, W), channels first
        nodes[o.name] = nir.Output(output_type=np.array(nir_shape.get(o.name) or [o.size]), metadata=ometa)
        for chain in out_chains.get(o.name, []):
            edges.append((_add_chain(nodes, edges, src, chain)[-1], o.name))
        for (_, rows, w, meta) in out_proj.get(o.name, []):
            big = np.zeros((int(n_src), w.shape[1]))
            big[rows] = w
            _add_linear(nodes, edges, src, nir_shape.get(sb), big, meta, meta["snndsl_projection"], o.name)
        if o.name not in out_proj and o.name not in out_chains:  # the readout signal (signed spikes or the membrane)
            sel = np.zeros((int(n_src), o.size))
            sel[np.arange(s0, s1), np.arange(o.size)] = signed[s0:s1] if o.readout != "membrane" else 1.0
            _add_linear(nodes, edges, src, nir_shape.get(sb), sel, {"snndsl_projection": "", "snndsl_select": 1},
                        f"{o.name}.select", o.name)
    nodes, edges = _nest_recurrent(nodes, edges)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_meta, type_check=True)
    return graph, diags


def _is_layer(pr) -> bool:
    """A convolution, a pooling, or weights after a pooling (`pool = ...`)."""
    return pr.connectivity.kind in ("conv2d", "pool") or pr.pool is not None


def _layer_shapes(spec) -> tuple[dict, list]:
    """{node: (C, H, W)} for every input, block and output a convolution or pooling reads or writes (NIR
    gives those nodes their shape, channels first; others stay flat), and the layers NIR cannot express."""
    shapes, diags = {}, []

    def refuse(pr, why, hint):
        diags.append(Diagnostic("E881", f"`{pr.name}`: {why}", pr.span, hint))

    for pr in spec.projections:
        if not _is_layer(pr):
            continue
        c = pr.connectivity
        pools = [q for q in (pr.pool, c if c.kind == "pool" else None) if q is not None]
        if any(q.op == "max_pool" for q in pools):
            refuse(pr, "NIR has no max pooling node (it has AvgPool2d and SumPool2d only)",
                   "use avg_pool or sum_pool, or export a network without max pooling")
            continue
        grouped = [n for n in (pr.source, pr.target) if spec.kind_of(n) == "group" or
                   spec.kind_of(n) == "population" and spec.population(n).group is not None]
        if grouped:
            refuse(pr, f"`{grouped[0]}` is (in) a group, which NIR writes as one flat node",
                   "take the population out of the group to export its convolution or pooling")
            continue
        if pr.target_var is not None and spec.neuron(spec.population(pr.target).model).name in ("CubaLIF", "CubaLIFStep") \
                and pr.target_var == "i_in":
            refuse(pr, "a convolution or pooling into CubaLIF's input port `i_in`, which NIR's CubaLIF lacks",
                   "project it into `i_syn`")
            continue
        src = _block_of(spec, pr.source)[0] if spec.kind_of(pr.source) != "input" else pr.source
        shapes[src] = tuple(pr.source_shape or pr.in_shape)
        if c.kind in ("conv2d", "pool"):  # dense weights after a pooling give a flat vector
            shapes[pr.target] = tuple(pr.out_shape)
    for pr in spec.projections:  # NIR has no node that gives a flat vector a shape
        tb = _block_of(spec, pr.target)[0] if pr.target_var is not None else pr.target
        if not _is_layer(pr) and tb in shapes:
            refuse(pr, f"a dense map into `{pr.target}`, which a convolution or pooling also drives; NIR keeps "
                       f"`{tb}` as {list(shapes[tb])} and has no node that reshapes a flat vector",
                   "drive a convolutional layer with convolutions and poolings only")
    return shapes, diags


def _layer_chain(pr, weights, scale: float, meta: dict, in_shape) -> list:
    """The NIR nodes of a convolution or pooling projection, in order: [a pooling before the weights],
    then a Conv2d, a Flatten and a Linear (dense weights of a pooled source), or the pooling (and a Scale
    for its gain and sign, when not 1).  `scale`: the gain, the source's sign and the encoder's gain,
    folded into the weights (a pooling has none: the Scale)."""
    import nir

    c, chain, shape = pr.connectivity, [], in_shape
    kernel = np.asarray(weights, np.float64) * scale
    if pr.pool is not None:
        chain.append((f"{pr.name}.pool", _pool_node(pr.pool.op, pr.pool.size, shape, {"snndsl_kind": pr.pool.op})))
        shape = pr.in_shape
    if c.kind == "conv2d":
        chain.append((pr.name, _conv_node(kernel, c, shape, meta)))
    elif c.kind == "pool":
        chain.append((pr.name, _pool_node(c.op, c.size, shape, {**meta, "snndsl_kind": c.op})))
        if scale != 1.0:
            chain.append((f"{pr.name}.gain", nir.Scale(scale=np.full(pr.out_shape, scale))))
    else:  # dense weights of the pooled source: flattened channels first
        chain.append((f"{pr.name}.flatten", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)))
        chain.append((pr.name, nir.Linear(weight=kernel[channels_first_order(shape)].T.copy(), metadata=meta)))
    return chain


def _pool_node(op: str, size: int, shape, meta: dict):
    """AvgPool2d or SumPool2d of k x k windows, stride k, no padding (a partial window at the edge is
    dropped, as in snndsl); global_avg_pool is AvgPool2d of the whole image."""
    import nir

    k = np.array([shape[1], shape[2]] if op == "global_avg_pool" else [size, size])
    cls = nir.SumPool2d if op == "sum_pool" else nir.AvgPool2d
    return cls(kernel_size=k, stride=k.copy(), padding=np.array([0, 0]), metadata=meta)


def _conv_node(kernel, conv, in_shape, meta: dict):
    """A Conv2d of an HWIO kernel.  NIR pads each axis symmetrically; an asymmetric padding (before b0,
    after b1: `same` at stride 2) is written exactly as max(b0, b1) on both sides with the kernel
    grown by zero rows on the side padded less: the windows then start where snndsl's do, and there
    are as many (the metadata's `snndsl_pads` and `snndsl_kernel` let `snndsl import` undo it)."""
    import nir

    (t, b), (l, r) = conv.padding
    ph, pw = max(t, b), max(l, r)
    weight = np.pad(kernel_to_oihw(np.asarray(kernel, np.float64)), ((0, 0), (0, 0), (ph - t, ph - b), (pw - l, pw - r)))
    meta = {**meta, "snndsl_kernel": int(conv.kernel), "snndsl_pads": np.array([t, b, l, r]),
            "snndsl_padding": str(conv.padding_rule)}
    return nir.Conv2d(input_shape=(int(in_shape[1]), int(in_shape[2])), weight=weight, stride=(conv.stride, conv.stride),
                      padding=(ph, pw), dilation=(1, 1), groups=1, bias=np.zeros(weight.shape[0]), metadata=meta)


def _add_chain(nodes: dict, edges: list, src: str, chain: list) -> list:
    """Add a chain of (name, node) after node `src`; returns the names given."""
    names = []
    for base, node in chain:
        name = _unique(nodes, base)
        nodes[name] = node
        edges.append((names[-1] if names else src, name))
        names.append(name)
    return names


def _add_linear(nodes: dict, edges: list, src: str, src_shape, w, meta: dict, base: str, dst: str) -> None:
    """A Linear of the (inputs x outputs) matrix w from `src` into `dst`; from a (C, H, W) node through a
    Flatten, with w's rows taken in channels-first order."""
    import nir

    chain = [(base, nir.Linear(weight=np.asarray(w).T.copy(), metadata=meta))]
    if src_shape is not None:
        chain = [(f"{base}.flatten", nir.Flatten(input_type={"input": np.array(src_shape)}, start_dim=0)),
                 (base, nir.Linear(weight=np.asarray(w)[channels_first_order(src_shape)].T.copy(), metadata=meta))]
    edges.append((_add_chain(nodes, edges, src, chain)[-1], dst))


def _nest_recurrent(nodes: dict, edges: list) -> tuple[dict, list]:
    """Each neuron node with recurrent Linear maps becomes a subgraph of the same name, as snnTorch and
    Spyx export a recurrent layer: {input -> lif <-> w_rec, lif -> output}."""
    import nir

    for b in [k for k, n in nodes.items() if isinstance(n, (nir.LIF, nir.CubaLIF, nir.LI, nir.IF))]:
        loops = [l for (a, l) in edges if a == b and (l, b) in edges and isinstance(nodes[l], nir.Linear)]
        if not loops:
            continue
        n = int(nodes[b].output_type["output"][0])
        rec = {("w_rec" if len(loops) == 1 else l): l for l in loops}
        inner = {"input": nir.Input(input_type=np.array([n])), "lif": nodes[b],
                 **{r: nodes[l] for r, l in rec.items()}, "output": nir.Output(output_type=np.array([n]))}
        inner_edges = [("input", "lif"), *[e for r in rec for e in (("lif", r), (r, "lif"))], ("lif", "output")]
        for l in loops:
            del nodes[l]
        edges = [e for e in edges if not (set(e) & set(loops))]
        nodes[b] = nir.NIRGraph(nodes=inner, edges=inner_edges, type_check=True,
                                metadata={"snndsl_recurrent": ",".join(loops)})
    return nodes, edges


def _unique(nodes: dict, base: str) -> str:
    base = re.sub(r"[/\s]", "_", base)
    name, k = base, 2
    while name in nodes:
        name, k = f"{base}#{k}", k + 1
    return name


def export_spec(path: str, sets=(), seed: int = 0, import_path=()):
    """A spec's initial network (learnable p: the deterministic mask p > 0.5) as a NIR graph."""
    import jax

    from snndsl_runtime.network import init_parameters

    from ..driver.build import import_module, load_plan, module_text

    plan, sources = load_plan(path, list(sets), on_warnings=lambda *a: None, import_path=list(import_path))
    model, _ = import_module(module_text(plan.spec, plan), plan.spec.name)
    theta, fixed = init_parameters(model, jax.random.PRNGKey(seed))
    thr = (model.CONFIG.get("train") or {}).get("eval_threshold", 0.5)
    graph, diags = build_graph(plan.spec, model, theta, fixed, thr, origin=f"untrained {path}")
    return graph, diags, sources


def run_spec(run_dir: str, model, spec_path: str | None = None, import_path=()):
    """(plan, sources) of the spec a run was trained from, one that generates the run's network (its
    NETWORK_HASH): `spec_path` if given; else the spec's absolute path that config.json records, then
    the run folder's copy of it and its local modules (if each SHA-256 is still the recorded one),
    then the path train.py names (as it was given to `snndsl run`: relative to the folder it ran in;
    what older runs have).  SpecError E863 when none is found (located at the recorded path) or
    none generates the run's network."""
    from snndsl_runtime.loop import file_hash, read_run_config

    from ..driver.build import import_module, load_plan, module_text

    saved = read_run_config(run_dir)
    named = re.search(r"generated by snndsl from (.+?)\.\n", model.__doc__ or "")
    recorded = saved.get("spec_file")
    candidates, skipped = [], []  # the paths to try, in order; why a copy was passed over
    if spec_path is not None:
        candidates.append(spec_path)
    else:
        if recorded:
            candidates.append(recorded)
        if saved.get("spec_copy"):
            copy = os.path.join(run_dir, os.path.basename(saved["spec_copy"]))
            hashes = {os.path.basename(saved["spec_copy"]): saved.get("spec_sha256"), **saved.get("spec_modules", {})}
            edited = [rel for rel, h in hashes.items() if not os.path.isfile(os.path.join(run_dir, rel))
                      or file_hash(os.path.join(run_dir, rel)) != h]
            if not edited:
                candidates.append(copy)
            elif os.path.isfile(copy):
                skipped.append(f"its copy in {run_dir} was edited or removed since ({', '.join(edited[:3])}: "
                               "not the recorded SHA-256)")
        if named:
            candidates.append(named.group(1))
    first_error, tried = None, set()
    for path in candidates:
        if not os.path.isfile(path) or os.path.abspath(path) in tried:
            continue
        tried.add(os.path.abspath(path))
        try:
            plan, sources = load_plan(path, list(model.SPEC_SETS), on_warnings=lambda *a: None,
                                      import_path=list(import_path))
        except SpecError as e:
            first_error = first_error or e
            continue
        again, _ = import_module(module_text(plan.spec, plan), plan.spec.name)
        if again.NETWORK_HASH == model.NETWORK_HASH:
            return plan, sources
        first_error = first_error or SpecError([Diagnostic(
            "E863", f"{path} no longer generates the network of {run_dir} (its network hash differs)", None,
            "give the spec as it was when the run was trained, with --spec")])
    if first_error is not None:
        raise first_error
    span, sources = _recorded_at(run_dir, recorded, named.group(1) if named else None) if spec_path is None \
        else (None, None)
    looked = spec_path or recorded or (named.group(1) if named else None)
    err = SpecError([Diagnostic("E863", f"cannot find the spec that {run_dir} was trained from"
                                + (f" ({looked})" if looked else "") + "".join(f"; {s}" for s in skipped), span,
                                "give it with --spec SPEC.snn")])
    err.sources = sources
    raise err


def _recorded_at(run_dir: str, recorded: str | None, named: str | None):
    """(span, sources) of the spec path a run folder records, for a located E863: config.json's
    `spec_file`, else the path on train.py's first line; (None, None) if neither is there."""
    from ..diagnostics import Sources, Span

    for name, before, path in (("config.json", '"spec_file": ', json.dumps(recorded) if recorded else None),
                               ("train.py", "generated by snndsl from ", named)):
        file = os.path.join(run_dir, name)
        try:
            text = open(file, encoding="utf-8").read() if path else ""
        except OSError:
            continue
        at = text.find(before + path) if path else -1
        if at < 0:
            continue
        at += len(before)
        line, col = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        sources = Sources()
        sources.add(file, text)
        return Span(file=file, line=line, col=col, end_line=line, end_col=col + len(path)), sources
    return None, None


def export_run(run_dir: str, spec_path: str | None = None, import_path=()):
    """A trained run's deterministic network as a NIR graph: the numbers from the run's own train.py
    and checkpoint, the structure from its spec (found by run_spec, or given), which must generate
    the same network (its NETWORK_HASH)."""
    from ..simulation import _load_run

    loaded = _load_run(run_dir)
    model, trainer = loaded.model, loaded.trainer
    plan, sources = run_spec(run_dir, model, spec_path, import_path)
    state = trainer.state
    thr = model.CONFIG.get("train", {}).get("eval_threshold", 0.5)
    thr = trainer.cfg["train"].get("eval_threshold", thr) if hasattr(trainer, "cfg") else thr
    theta = {k: np.asarray(v) for k, v in state["theta"].items()}
    fixed = {k: np.asarray(v) for k, v in state["fixed"].items()}
    graph, diags = build_graph(plan.spec, model, theta, fixed, thr, origin=f"run {run_dir}")
    return graph, diags, sources


def write(graph, path: str) -> None:
    import nir

    nir.write(path, graph)
