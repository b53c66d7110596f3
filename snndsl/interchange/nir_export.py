"""An snndsl network (its IR and parameter values) -> a NIR graph, following nir_map's conventions.

`export_run(run_dir)` takes a trained run (its own train.py and checkpoint, loaded as `snndsl sim`
loads it, and the spec it was made from for the structure); `export_spec(spec_path)` the spec's
initial parameters.  Both return (graph, diagnostics); a model without a NIR primitive is E861
(located at its population) and no graph.
"""

from __future__ import annotations

import os
import re

import numpy as np

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
        if pr.connectivity.kind in ("conv2d", "pool") or pr.pool is not None:
            kind = pr.connectivity.kind if pr.pool is None else f"pooled ({pr.pool.op}) {pr.connectivity.kind}"
            diags.append(Diagnostic("E881", f"`{pr.name}` is a {kind} projection; snndsl exports "
                                            "dense networks to NIR only", pr.span,
                                    "NIR has Conv2d and pooling nodes, but this exporter does not write them yet "
                                    "(nor the channels-first reorder they need); export a dense network"))
        elif pr.norm is not None:
            diags.append(Diagnostic("E881", f"`{pr.name}` is batch-normalised (`norm = batch`); NIR has no "
                                            "batch norm node, and snndsl does not fold it into the weights",
                                    pr.norm.span, "export a network without `norm`"))
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
        nodes[i.name] = nir.Input(input_type=np.array([i.in_size if i.encoder in ("current", "signed_current")
                                                       else i.size]),
                                  metadata={"snndsl_encoder": i.encoder, "snndsl_size": i.size})
    # ---- neuron blocks
    w_in_of = {}
    for bname, pops in blocks:
        prim, n = kinds[bname], sum(p.size for p in pops)
        p = {k: M.per_neuron(v, n) for k, v in bp[bname].items()}
        meta = {"snndsl_model": prim, "snndsl_populations": ",".join(f"{q.name}:{q.size}:{q.sign:+d}" for q in pops)}
        tau = lambda name: M.to_nir_time(p[name])  # noqa: E731
        if prim in ("LIF", "HardLIF"):
            reset = p.get("v_reset", np.zeros(n))
            if prim == "LIF":
                meta["reset"] = "subtract"
                diags.append(_warning("W861", f"`{pops[0].name}` resets by subtraction (`v -= v_th`); NIR's LIF "
                                                "resets to v_reset: written with `reset = subtract` in its metadata",
                                        pops[0].span, "snndsl import restores it; other NIR tools will reset to 0"))
            nodes[bname] = nir.LIF(tau=tau("tau_m"), r=tau("tau_m"), v_leak=np.zeros(n),
                                   v_threshold=p["v_th"], v_reset=reset, metadata=meta)
        elif prim == "LI":
            nodes[bname] = nir.LI(tau=tau("tau_m"), r=tau("tau_m"), v_leak=np.zeros(n), metadata=meta)
        else:  # CubaLIF, CubaLIFStep
            if prim == "CubaLIFStep":
                meta["snndsl_integration"] = M.STEP_ORDER
            w_in_of[bname] = tau("tau_syn")
            nodes[bname] = nir.CubaLIF(tau_syn=tau("tau_syn"), tau_mem=tau("tau_m"), r=np.ones(n),
                                       v_leak=p["v_rest"], v_threshold=p["v_th"], v_reset=p["v_reset"],
                                       w_in=w_in_of[bname], metadata=meta)
    # ---- projections
    weights, p_of, mask_of = dense_weights(model, theta, fixed, threshold)
    keys = list(model.PROJECTIONS)
    assert len(keys) == len(spec.projections)
    out_proj = {}
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
            w = w * sign[:, None]
            src_node, rows = sb, slice(s0, s1)
        meta = {"snndsl_projection": pr.name, "snndsl_gain": float(entry["gain"]),
                "snndsl_weight": weights[key], "snndsl_kind": pr.connectivity.kind}
        if key in p_of:
            meta["snndsl_p"], meta["snndsl_mask"] = p_of[key], mask_of[key].astype(np.uint8)
            meta["snndsl_threshold"] = float(threshold)
        if kind == "input":
            enc = spec.inputs[[i.name for i in spec.inputs].index(pr.source)]
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
        if pr.target_var is None:  # into an output: after the readout
            out_proj.setdefault(pr.target, []).append((src_node, rows, w, meta))
            continue
        tb, t0, t1 = _block_of(spec, pr.target)
        meta["snndsl_target_var"] = pr.target_var
        prim = kinds[tb]
        full_in = nodes[src_node].output_type["output"][0] if src_node in nodes else w.shape[0]
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
        lname = _unique(nodes, f"{pr.name}")
        nodes[lname] = nir.Linear(weight=big.T.copy(), metadata=meta)
        edges += [(src_node, lname), (lname, tb)]
    # ---- outputs
    for o in spec.outputs:
        sb, s0, s1 = _block_of(spec, o.source)
        src, n_src = sb, nodes[sb].output_type["output"][0]
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
            nodes[rname] = nir.LI(tau=np.full(n_src, float(M.to_nir_time(tau_ms))), r=np.full(n_src, r),
                                  v_leak=np.zeros(n_src), metadata={"snndsl_readout": "filtered_rate", "tau_ms": tau_ms,
                                                                     "snndsl_output": o.name})
            edges.append((src, rname))
            src = rname
        elif o.readout == "spike_count":
            rname = _unique(nodes, f"{o.name}.readout")
            nodes[rname] = nir.I(r=np.ones(n_src), metadata={"snndsl_readout": "spike_count", "snndsl_output": o.name})
            edges.append((src, rname))
            src = rname
        signed = np.concatenate([np.full(q.size, float(q.sign)) for q in spec.members(sb)])
        nodes[o.name] = nir.Output(output_type=np.array([o.size]), metadata=ometa)
        if o.name in out_proj:
            for (_, rows, w, meta) in out_proj[o.name]:
                big = np.zeros((int(n_src), w.shape[1]))
                big[rows] = w
                lname = _unique(nodes, meta["snndsl_projection"])
                nodes[lname] = nir.Linear(weight=big.T.copy(), metadata=meta)
                edges += [(src, lname), (lname, o.name)]
        else:  # the readout signal (signed spikes or the membrane) is the output
            sel = np.zeros((o.size, int(n_src)))
            sel[np.arange(o.size), np.arange(s0, s1)] = signed[s0:s1] if o.readout != "membrane" else 1.0
            lname = _unique(nodes, f"{o.name}.select")
            nodes[lname] = nir.Linear(weight=sel, metadata={"snndsl_projection": "", "snndsl_select": 1})
            edges += [(src, lname), (lname, o.name)]
    nodes, edges = _nest_recurrent(nodes, edges)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_meta, type_check=True)
    return graph, diags


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


def export_run(run_dir: str, spec_path: str | None = None, import_path=()):
    """A trained run's deterministic network as a NIR graph: the numbers from the run's own train.py
    and checkpoint, the structure from its spec (found where train.py says it was generated from,
    or given), which must generate the same network (its NETWORK_HASH)."""
    from ..driver.build import import_module, load_plan, module_text
    from ..simulation import _load_run

    loaded = _load_run(run_dir)
    model, trainer = loaded.model, loaded.trainer
    if spec_path is None:
        m = re.search(r"generated by snndsl from (.+?)\.\n", model.__doc__ or "")
        spec_path = m.group(1) if m else None
    if spec_path is None or not os.path.isfile(spec_path):
        raise SpecError([Diagnostic("E863", f"cannot find the spec that {run_dir} was trained from"
                                            + (f" ({spec_path})" if spec_path else ""), None,
                                    "give it with --spec SPEC.snn")])
    plan, sources = load_plan(spec_path, list(model.SPEC_SETS), on_warnings=lambda *a: None,
                              import_path=list(import_path))
    again, _ = import_module(module_text(plan.spec, plan), plan.spec.name)
    if again.NETWORK_HASH != model.NETWORK_HASH:
        raise SpecError([Diagnostic("E863", f"{spec_path} no longer generates the network of {run_dir} "
                                            "(its network hash differs)", None,
                                    "give the spec as it was when the run was trained, with --spec")])
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
