"""A NIR graph -> a readable .snn spec plus its weights (`spec.npz` beside it), following nir_map's
conventions.  Node types: Input, Output, Linear, Affine, LIF, CubaLIF, LI, IF and I (spike counts),
and subgraphs of them (flattened first, as snnTorch and Spyx export recurrent layers); anything
else is E862 naming the node.  An Affine's bias is a constant input: it is folded into the target's
v_leak (LIF, LI) or into CubaLIF's synaptic current (`i_bias`).

A node written by `snndsl export` carries its snndsl model in its metadata (`snndsl_model`), and
is imported as that stdlib model (with its initial state and reset); any other node becomes one of
the models this module writes into the spec (`NirLIF`, `NirCubaLIF`, `NirLI`, `NirIF`: NIR's
equations, states starting at 0).  Every Linear becomes a dense projection whose matrix is read
with `init = file("spec.npz", "<key>")`, already scaled by the target's input factor (r/τ for a
membrane, r·w_in/τ_syn for a synaptic current; see nir_map).  A neuron parameter that differs
between a node's neurons is read the same way (`tau_m = file("spec.npz", "<node>_tau")`), and a
projection's `snndsl_delay` of 2 steps or more is written back as its `delay`.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..diagnostics import Diagnostic, SpecError
from . import nir_map as M

KEYWORDS = {"const", "encoder", "from", "group", "import", "input", "learn", "neuron", "on", "output", "param",
            "per", "population", "project", "readout", "spike", "state", "step", "task", "time", "train", "when"}

NIR_MODELS = {
    "NirLIF": """neuron NirLIF {          # NIR LIF: tau dv/dt = (v_leak - v) + r I; inputs jump v by r w / tau
    param tau = 10 ms
    param v_leak = 0
    param v_threshold = 1
    param v_reset = 0
    state v = 0
    dv/dt = (v_leak - v) / tau
    spike when v > v_threshold
    on spike { v = v_reset }
}
""",
    "NirLIFSoft": """neuron NirLIFSoft {      # NIR LIF with the subtractive reset its metadata asks for
    param tau = 10 ms
    param v_leak = 0
    param v_threshold = 1
    state v = 0
    dv/dt = (v_leak - v) / tau
    spike when v > v_threshold
    on spike { v -= v_threshold }
}
""",
    "NirCubaLIF": """neuron NirCubaLIF {      # NIR CubaLIF with i = r I: tau_syn di/dt = i_bias - i + r w_in S; tau_mem dv/dt = v_leak - v + i
    param tau_syn = 5 ms
    param tau_mem = 10 ms
    param v_leak = 0
    param v_threshold = 1
    param v_reset = 0
    param i_bias = 0
    state i = 0
    state v = 0
    di/dt = (i_bias - i) / tau_syn
    dv/dt = (v_leak - v + i) / tau_mem
    spike when v > v_threshold
    on spike { v = v_reset }
}
""",
    "NirLI": """neuron NirLI {           # NIR LI: tau dv/dt = (v_leak - v) + r I
    param tau = 10 ms
    param v_leak = 0
    state v = 0
    dv/dt = (v_leak - v) / tau
}
""",
    "NirIF": """neuron NirIF {           # NIR IF: dv/dt = r I; inputs jump v by r w
    param v_threshold = 1
    param v_reset = 0
    state v = 0
    spike when v > v_threshold
    on spike { v = v_reset }
}
""",
}


DEFAULT_STEPS = 8  # time steps per sample in a spec imported for a dataset task


def _err(msg, hint=None, code="E862"):
    return SpecError([Diagnostic(code, msg, None, hint)])


def _ident(name: str, used: set) -> str:
    s = re.sub(r"\W", "_", str(name)).strip("_") or "node"
    if s[0].isdigit() or s in KEYWORDS:
        s = "n_" + s
    base, k = s, 2
    while s in used:
        s, k = f"{base}_{k}", k + 1
    used.add(s)
    return s


def _num(x: float) -> str:
    return repr(float(f"{float(x):.12g}"))


def _meta(node) -> dict:
    out = {}
    for k, v in (getattr(node, "metadata", None) or {}).items():
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.ndim == 0:
            v = v.item().decode() if isinstance(v.item(), bytes) else v.item()
        out[k] = v
    return out


def _flat(a) -> np.ndarray:
    """A NIR parameter array as snndsl's flat vector: a (C, H, W) one channels last (layers.py)."""
    from snndsl_runtime.layers import from_channels_first

    a = np.asarray(a, np.float64)
    return from_channels_first(a) if a.ndim == 3 else a.ravel()


def _shape3(shape):
    """A NIR type's (C, H, W) as a tuple, or None for a flat one."""
    shape = np.asarray(shape).ravel() if shape is not None else ()
    return tuple(int(x) for x in shape) if len(shape) == 3 else None


MAPS = ("Linear", "Affine", "Conv2d", "AvgPool2d", "SumPool2d", "Scale", "Flatten")
POOL_NODES = {"AvgPool2d": "avg_pool", "SumPool2d": "sum_pool"}


def read_graph(path: str):
    import nir

    if not os.path.isfile(path):
        raise _err(f"no NIR file at {path}", code="E003")
    try:
        return nir.read(path, type_check=False)  # snndsl checks what it imports itself
    except Exception as e:  # noqa: BLE001 - a file from elsewhere: any failure is a bad input
        raise _err(f"cannot read {path} as a NIR graph: {type(e).__name__}: {e}",
                   "give a file written by nir.write (HDF5)") from None


def flatten(graph) -> tuple[dict, list]:
    """The nodes and edges of a graph with every subgraph inlined: inner node `k` of subgraph `S` is
    `S.k` (a subgraph's one neuron node takes the name `S`), and the subgraph's own Input and Output
    nodes are bypassed.  An edge may name a subgraph (`S`: all its inputs or outputs) or one of its
    ports (`S.input`)."""
    import nir

    nodes, edges, ports = {}, [], {}  # ports[S] = (inner inputs, inner outputs), by their new names
    for k, n in graph.nodes.items():
        if not isinstance(n, nir.NIRGraph):
            nodes[k] = n
            continue
        inner, inner_edges = flatten(n)
        neurons = [j for j, m in inner.items() if type(m).__name__ in ("LIF", "CubaLIF", "LI", "IF", "I")]
        rename = {j: (k if j in neurons and len(neurons) == 1 else f"{k}.{j}") for j in inner}
        nodes.update({rename[j]: m for j, m in inner.items()})
        edges += [(rename[a], rename[b]) for a, b in inner_edges]
        ports[k] = ([rename[j] for j, m in inner.items() if isinstance(m, nir.Input)],
                    [rename[j] for j, m in inner.items() if isinstance(m, nir.Output)])

    def ends(name, side):  # the inner port nodes an outer edge end stands for
        if name in ports:
            return ports[name][side]
        if name not in nodes and "." in name and name.rsplit(".", 1)[0] in ports:
            return [name]
        if name not in nodes:
            raise _err(f"a NIR edge names `{name}`, which is not a node of the graph")
        return [name]

    for a, b in graph.edges:
        edges += [(x, y) for x in ends(a, 1) for y in ends(b, 0)]
    for s, (ins, outs) in ports.items():  # bypass the subgraphs' own Input and Output nodes
        for p in ins + outs:
            pre = [a for a, b in edges if b == p]
            post = [b for a, b in edges if a == p]
            edges = [e for e in edges if p not in e] + [(a, b) for a in pre for b in post]
            del nodes[p]
    return nodes, list(dict.fromkeys(edges))


def import_graph(graph, spec_path: str, dt_ms: float | None = None, origin: str = "",
                 task: str | None = None, rule: str | None = None) -> tuple[str, dict]:
    """(the spec's text, {key: weight matrix}) of a NIR graph; SpecError (E862) if it cannot be imported.
    With a task (and a rule, surrogate by default) the spec trains: `task <task> { }`, `train <rule> { }`
    and `learn w` on the projections that were the graph's Linear maps."""
    import nir

    nodes, edges = flatten(graph)
    for name, n in nodes.items():
        t = type(n).__name__
        if t not in M.IMPORTABLE:
            raise _err(f"NIR node `{name}` is a `{t}`, which snndsl cannot import",
                       f"snndsl imports {', '.join(M.IMPORTABLE)}")
    gmeta = _meta(graph)
    if dt_ms is None:
        dt_ms = float(gmeta["dt_ms"]) if "dt_ms" in gmeta else float(M.from_nir_time(gmeta["dt"])) \
            if "dt" in gmeta else 1.0
    pred = {k: [a for a, b in edges if b == k] for k in nodes}
    succ = {k: [b for a, b in edges if a == k] for k in nodes}
    used: set = set()
    ident = {k: _ident(k, used) for k in nodes}
    is_neuron = lambda k: type(nodes[k]).__name__ in ("LIF", "CubaLIF", "LI", "IF", "I")  # noqa: E731
    readout_nodes = {k for k in nodes if is_neuron(k) and _meta(nodes[k]).get("snndsl_readout")}
    bias = {}  # neuron node -> the sum of the constant inputs (NIR's I) of the Affine maps into it
    for k, n in nodes.items():
        if isinstance(n, nir.Conv2d) and np.any(np.asarray(n.bias) != 0):  # a constant per output channel
            dst = succ[k][0] if len(succ[k]) == 1 else None
            if dst is None or not is_neuron(dst) or dst in readout_nodes or type(nodes[dst]).__name__ in ("IF", "I"):
                raise _err(f"NIR node `{k}`: a Conv2d bias into "
                           f"{'`' + dst + '` (' + type(nodes[dst]).__name__ + ')' if dst else 'several nodes'} "
                           "cannot be imported", "snndsl imports a bias into a LIF, CubaLIF or LI node")
            out = n.output_type["output"]
            bias[dst] = bias.get(dst, 0) + _flat(np.broadcast_to(np.asarray(n.bias, np.float64)[:, None, None],
                                                                 tuple(int(x) for x in out)))
        if isinstance(n, nir.Affine) and np.any(np.asarray(n.bias) != 0):
            dst = succ[k][0] if len(succ[k]) == 1 else None
            if dst is None or not is_neuron(dst) or dst in readout_nodes or type(nodes[dst]).__name__ in ("IF", "I"):
                raise _err(f"NIR node `{k}`: an Affine bias into "
                           f"{'`' + dst + '` (' + type(nodes[dst]).__name__ + ')' if dst else 'several nodes'} "
                           "cannot be imported", "snndsl imports a bias into a LIF, CubaLIF or LI node")
            bias[dst] = bias.get(dst, 0) + np.asarray(n.bias, np.float64).ravel()

    lines_models, imports, pops, inputs, outputs, projs, weights = {}, {}, [], [], [], [], {}
    factor, model_of = {}, {}
    npz = os.path.splitext(os.path.basename(spec_path))[0] + ".npz"
    weights_keys: set = set()

    def need(module, name):
        imports.setdefault(module, [])
        if name not in imports[module]:
            imports[module].append(name)

    # ---- inputs
    for k, n in nodes.items():
        if isinstance(n, nir.Input):
            size = int(np.prod(n.input_type["input"]))
            shape = _shape3(n.input_type["input"])
            need("encoders", "current")
            inputs.append(f"input {ident[k]} = current {{ size = {list(shape) if shape else size} }}")
    # ---- neuron nodes (populations), in order of their distance from the inputs
    depth, frontier = {}, [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    while frontier:
        k = frontier.pop(0)
        for b in succ[k]:
            if b not in depth:
                depth[b] = depth.get(k, 0) + 1
                frontier.append(b)
    for k, n in sorted(nodes.items(), key=lambda kn: depth.get(kn[0], len(nodes))):
        if not is_neuron(k) or k in readout_nodes:
            continue
        meta, t = _meta(n), type(n).__name__
        size = int(np.prod(n.output_type["output"] if n.output_type else n.input_type["input"]))
        b = bias.get(k, 0.0)
        values = {f: _flat(getattr(n, f)) for f in vars(n)
                  if f not in ("input_type", "output_type", "metadata")}
        if t in ("LIF", "LI"):  # tau dv/dt = v_leak - v + r (W x + b): b moves the resting potential
            values["v_leak"] = values["v_leak"] + values["r"] * b
        elif t == "CubaLIF":  # tau_syn di/dt = -i + r w_in (W x + b), with i = r I
            values["i_bias"] = values["r"] * values["w_in"] * b + np.zeros_like(values["r"])

        def value(f, to_ms=False):
            """A parameter's text: one number, or (differing between neurons) the array in the .npz."""
            a = values[f]
            a = M.from_nir_time(a) if to_ms else a
            unit = " ms" if to_ms else ""
            if not a.size or np.allclose(a, a[0], rtol=1e-12, atol=0):
                return _num(float(a[0]) if a.size else 0.0) + unit
            key = _ident(f"{k}_{f}", weights_keys)
            weights[key] = a.reshape(size)
            return f'file("{npz}", "{key}")'

        ms = lambda f: value(f, to_ms=True)  # noqa: E731
        num = lambda f: value(f)  # noqa: E731
        zero = lambda f: np.allclose(values[f], 0)  # noqa: E731
        model = meta.get("snndsl_model")
        soft = meta.get("reset") == "subtract"
        if t == "LIF":
            tau = _flat(n.tau)
            factor[k] = _flat(n.r) / tau
            if model in ("LIF", "HardLIF") and zero("v_leak") and (soft == (model == "LIF")):
                need("neurons", model)
                body = [f"tau_m = {ms('tau')}", f"v_th = {num('v_threshold')}"]
                if model == "HardLIF":
                    body.append(f"v_reset = {num('v_reset')}")
            else:
                model = "NirLIFSoft" if soft else "NirLIF"
                body = [f"tau = {ms('tau')}", f"v_leak = {num('v_leak')}",
                        f"v_threshold = {num('v_threshold')}"] + ([] if soft else [f"v_reset = {num('v_reset')}"])
            var = "v"
        elif t == "CubaLIF":
            r, w_in = _flat(n.r), _flat(n.w_in)
            factor[k] = r * w_in / _flat(n.tau_syn)
            factor[(k, "i_in")] = w_in
            if model in ("CubaLIF", "CubaLIFStep") and np.allclose(r, 1) and zero("i_bias"):
                need("neurons", model)
                body = [f"tau_m = {ms('tau_mem')}", f"tau_syn = {ms('tau_syn')}", f"v_th = {num('v_threshold')}",
                        f"v_reset = {num('v_reset')}", f"v_rest = {num('v_leak')}"]
                var = "i_syn"
            else:
                model = "NirCubaLIF"
                body = [f"tau_mem = {ms('tau_mem')}", f"tau_syn = {ms('tau_syn')}", f"v_leak = {num('v_leak')}",
                        f"v_threshold = {num('v_threshold')}", f"v_reset = {num('v_reset')}"]
                if not zero("i_bias"):
                    body.append(f"i_bias = {num('i_bias')}")
                var = "i"
        elif t == "LI":
            factor[k] = _flat(n.r) / _flat(n.tau)
            if model == "LI" and zero("v_leak"):
                need("neurons", "LI")
                body = [f"tau_m = {ms('tau')}"]
            else:
                model = "NirLI"
                body = [f"tau = {ms('tau')}", f"v_leak = {num('v_leak')}"]
            var = "v"
        elif t == "IF":
            factor[k] = _flat(n.r)
            model = "NirIF"
            body = [f"v_threshold = {num('v_threshold')}", f"v_reset = {num('v_reset')}"]
            var = "v"
        else:  # an I node that is not a snndsl readout
            raise _err(f"NIR node `{k}` (I) is imported only as a spike-count readout before an output")
        if model in NIR_MODELS:
            lines_models[model] = NIR_MODELS[model]
        model_of[k] = (model, var, size)
        shape = _shape3(n.output_type["output"] if n.output_type else n.input_type["input"])
        pops.append(f"population {ident[k]} = {model}({list(shape) if shape else size}) {{ {'; '.join(body)} }}")

    # ---- chains of maps (Linear, Affine, Conv2d, poolings, Scale, Flatten) and direct edges -> projections
    def chain_source(k):
        """A readout node's source node, through nothing else."""
        ps = pred[k]
        if len(ps) != 1:
            raise _err(f"NIR node `{k}` has {len(ps)} inputs; snndsl imports one")
        return ps[0]

    def node_shape(k):
        n = nodes[k]
        if isinstance(n, nir.Input):
            return _shape3(n.input_type["input"])
        return _shape3(n.output_type["output"] if n.output_type else n.input_type["input"])

    def per_channel_factor(dst, what):
        """The target's input factor as one value per channel (a kernel's output channel), or one value."""
        f = factor[dst] if dst in model_of else np.ones(1)
        shape = node_shape(dst) if dst in model_of else None
        rows = f.reshape(-1, shape[0]) if shape else f.reshape(-1, 1)  # channels last: (positions, C)
        if not np.allclose(rows, rows[0], rtol=1e-12, atol=0):
            raise _err(f"NIR node `{what}`: the input factor (r/tau) of `{dst}` differs within a channel, which a "
                       "shared kernel cannot carry", "give the node's neurons of a channel the same r and tau")
        return rows[0]

    def target_of(dst, lmeta, w=None):
        """(the target's text, the weights w scaled by its input factor) for a map into node dst."""
        if dst not in model_of:
            return ident[dst], w
        model, var, _ = model_of[dst]
        if lmeta.get("snndsl_target_var") == "i_in" and model in ("CubaLIF", "CubaLIFStep"):
            return f"{ident[dst]}.i_in", None if w is None else w * factor[(dst, "i_in")][None, :]
        return f"{ident[dst]}.{var}", None if w is None else w * factor[dst][None, :]

    def pool_text(k, shape):
        """`avg_pool(k)`, `sum_pool(k)` or `global_avg_pool` of NIR pooling node k on a (C, H, W) input."""
        n = nodes[k]
        ks, st = np.asarray(n.kernel_size).ravel(), np.asarray(n.stride).ravel()
        pad = np.asarray(n.padding).ravel()
        if ks.size == 1:
            ks = np.repeat(ks, 2)
        if st.size == 1:
            st = np.repeat(st, 2)
        op = POOL_NODES[type(n).__name__]
        if shape is None or np.any(pad != 0) or np.any(ks != st):
            raise _err(f"NIR node `{k}` ({type(n).__name__}) pools with kernel {ks.tolist()}, stride {st.tolist()}, "
                       f"padding {pad.tolist()}" + ("" if shape else " on an input without a shape"),
                       "snndsl imports a pooling whose stride is its kernel size, without padding")
        if op == "avg_pool" and (_meta(n).get("snndsl_kind") == "global_avg_pool" or ks[0] != ks[1]) \
                and tuple(ks) == tuple(shape[1:]):
            return "global_avg_pool", (shape[0], 1, 1)
        if ks[0] != ks[1]:
            raise _err(f"NIR node `{k}` pools {ks[0]} x {ks[1]} windows", "snndsl pools square windows")
        return f"{op}({int(ks[0])})", (shape[0], shape[1] // int(ks[0]), shape[2] // int(ks[0]))

    def conv_text(k):
        """(`kernel = ..., stride = ..., padding = ...`, the HWIO kernel) of NIR Conv2d node k."""
        from snndsl_runtime.layers import kernel_from_oihw

        n, meta = nodes[k], _meta(nodes[k])
        weight = np.asarray(n.weight, np.float64)
        stride, dil = np.atleast_1d(n.stride).ravel(), np.atleast_1d(n.dilation).ravel()
        if int(n.groups) != 1 or np.any(dil != 1) or len(set(stride.tolist())) != 1:
            raise _err(f"NIR node `{k}` (Conv2d) has groups {n.groups}, dilation {dil.tolist()}, stride "
                       f"{stride.tolist()}", "snndsl imports a convolution with groups 1, dilation 1 and the same "
                       "stride on both axes")
        s = int(stride[0])
        if "snndsl_pads" in meta:  # written by snndsl: strip the zero rows an asymmetric padding added
            t, b, l, r = (int(x) for x in np.asarray(meta["snndsl_pads"]).ravel())
            kk = int(meta["snndsl_kernel"])
            i0, j0 = max(t, b) - t, max(l, r) - l
            inner = weight[:, :, i0:i0 + kk, j0:j0 + kk]
            if abs(float(np.abs(weight).sum()) - float(np.abs(inner).sum())) > 0:
                raise _err(f"NIR node `{k}`: its kernel is not snndsl's padded kernel (`snndsl_pads`)")
            rule = str(meta["snndsl_padding"])
            return f"kernel = {kk}, stride = {s}, padding = {rule}", kernel_from_oihw(inner)
        kh, kw = weight.shape[2:]
        pad = n.padding
        if isinstance(pad, bytes):
            pad = pad.decode()
        if isinstance(pad, np.ndarray) and pad.dtype.kind in "SUO":
            pad = pad.item().decode() if isinstance(pad.item(), bytes) else str(pad.item())
        if isinstance(pad, str):
            if pad == "same" and s != 1:
                raise _err(f"NIR node `{k}` (Conv2d) has padding 'same' with stride {s}",
                           "NIR's 'same' is PyTorch's, for stride 1 only; give the padding in pixels")
            rule = pad
        else:
            pad = np.atleast_1d(np.asarray(pad)).ravel()
            if len(set(pad.tolist())) != 1:
                raise _err(f"NIR node `{k}` (Conv2d) pads {pad.tolist()}", "snndsl pads every side by the same "
                           "number of pixels (or `same`)")
            rule = str(int(pad[0]))
        if kh != kw:
            raise _err(f"NIR node `{k}` (Conv2d) has a {kh} x {kw} kernel", "snndsl's kernels are square")
        return f"kernel = {int(kh)}, stride = {s}, padding = {rule}", kernel_from_oihw(weight)

    def scalar_scale(k):
        v = np.asarray(nodes[k].scale, np.float64).ravel()
        if not np.allclose(v, v[0], rtol=1e-12, atol=0):
            raise _err(f"NIR node `{k}` (Scale) scales its values differently", "snndsl imports a uniform Scale")
        return float(v[0])

    def add_chain(src, dst, chain):
        """One projection from node src into node dst through the maps `chain` (in order): [a pooling] [a Scale]
        then a Linear or Affine (after a Flatten for a (C, H, W) source), a Conv2d, or nothing (a pooling)."""
        types = [type(nodes[c]).__name__ for c in chain]
        shape, gain, settings, i, lname = node_shape(src), 1.0, [], 0, chain[-1]
        lmeta = _meta(nodes[lname])
        if i < len(types) and types[i] in POOL_NODES:
            pool, shape = pool_text(chain[i], shape)
            i += 1
            if i < len(types) and types[i] != "Scale":  # a pooling before weights
                settings.append(f"pool = {pool}")
        if i < len(types) and types[i] == "Scale":
            gain *= scalar_scale(chain[i])
            i += 1
        rest = types[i:]
        key = _ident(lname, weights_keys)
        if not rest and types[0] in POOL_NODES:
            target, _ = target_of(dst, lmeta)
            f = per_channel_factor(dst, lname)
            if not np.allclose(f, f[0], rtol=1e-12, atol=0):
                raise _err(f"NIR node `{lname}`: the input factor of `{dst}` differs between channels")
            gain *= float(f[0])
            weights_keys.discard(key)
            projs.append((ident[src], target, pool, [f"gain = {_num(gain)}"] if gain != 1 else [], lmeta, False))
            return
        if rest == ["Conv2d"]:
            text, kernel = conv_text(chain[i])
            target, _ = target_of(dst, lmeta)
            weights[key] = kernel * gain * per_channel_factor(dst, lname)[None, None, None, :]
            projs.append((ident[src], target, f'conv2d({text}, init = file("{npz}", "{key}"))', settings, lmeta, True))
            return
        flat = rest[:1] == ["Flatten"]
        if rest in (["Linear"], ["Affine"], ["Flatten", "Linear"], ["Flatten", "Affine"]) and (flat or shape is None):
            w_nir = np.asarray(nodes[lname].weight, np.float64)
            if flat:
                fl = nodes[chain[i]]
                if int(fl.start_dim) != 0 or shape is None:
                    raise _err(f"NIR node `{chain[i]}` (Flatten) flattens from axis {fl.start_dim}",
                               "snndsl imports a Flatten of a whole (C, H, W) node (start_dim = 0)")
                from snndsl_runtime.layers import channels_first_order

                w = np.zeros((w_nir.shape[1], w_nir.shape[0]))
                w[channels_first_order(shape)] = w_nir.T  # rows back in snndsl's channels-last order
            else:
                w = w_nir.T.copy()
            target, w = target_of(dst, lmeta, w * gain)
            weights[key] = w
            projs.append((ident[src], target, f'dense(init = file("{npz}", "{key}"))', settings, lmeta,
                          lname in nodes))
            return
        raise _err(f"NIR nodes {' -> '.join(f'`{c}` ({t})' for c, t in zip(chain, types))} cannot be imported as "
                   "one projection", "snndsl imports [pooling] [Scale] then Linear, Flatten + Linear or Conv2d, "
                   "or a pooling alone")

    out_src = {}
    is_map = lambda k: type(nodes[k]).__name__ in MAPS  # noqa: E731
    for k in nodes:
        if not is_map(k) or any(is_map(b) for b in succ[k]):
            continue
        if len(succ[k]) != 1:
            raise _err(f"NIR node `{k}` feeds {len(succ[k])} nodes; snndsl imports a map that feeds one")
        chain, cur = [k], k
        while True:
            ps = pred[cur]
            if len(ps) != 1:
                raise _err(f"NIR node `{cur}` has {len(ps)} inputs; a map takes one")
            if not is_map(ps[0]):
                break
            if len(succ[ps[0]]) != 1:
                raise _err(f"NIR node `{ps[0]}` feeds {len(succ[ps[0]])} nodes; snndsl imports a map that feeds one")
            chain.insert(0, ps[0])
            cur = ps[0]
        src, dst = ps[0], succ[k][0]
        real_src = chain_source(src) if src in readout_nodes else src
        if isinstance(nodes[dst], nir.Output):
            out_src.setdefault(dst, (src, real_src))
        add_chain(real_src, dst, chain)
    for a, b in edges:  # neuron -> neuron without a map: one to one
        if a in model_of and b in model_of:
            key = _ident(f"{a}->{b}", weights_keys)
            target, weights[key] = target_of(b, {}, np.eye(model_of[a][2], model_of[b][2]))
            projs.append((ident[a], target, f'dense(init = file("{npz}", "{key}"))', [], {}, False))
    # ---- outputs
    for k, n in nodes.items():
        if not isinstance(n, nir.Output):
            continue
        size = int(np.prod(n.output_type["output"]))
        if k in out_src:
            via, src = out_src[k]
        else:
            if len(pred[k]) != 1:
                raise _err(f"NIR output `{k}` has {len(pred[k])} inputs")
            via = pred[k][0]
            src = chain_source(via) if via in readout_nodes else via
            if src not in model_of:
                raise _err(f"NIR output `{k}` reads `{src}`, which is not a neuron node")
            key = _ident(f"{src}->{k}", weights_keys)
            weights[key] = np.eye(model_of[src][2], size)
            projs.append((ident[src], ident[k], f'dense(init = file("{npz}", "{key}"))', [], {}, False))
        if src not in model_of:
            raise _err(f"NIR output `{k}` reads `{src}`, which is not a neuron node")
        ometa = _meta(n)
        settings = [f"size = {size}"]
        if via in readout_nodes:
            rmeta = _meta(nodes[via])
            readout = rmeta["snndsl_readout"]
            if readout == "filtered_rate":
                settings.insert(0, f"tau = {_num(rmeta['tau_ms'])} ms")
        else:
            readout = "membrane" if type(nodes[src]).__name__ == "LI" else "instant"
        if "clip" in ometa:
            lo, hi = np.asarray(ometa["clip"], np.float64).ravel()
            settings.append(f"clip = [{_num(lo)}, {_num(hi)}]")
        need("readouts", readout)
        outputs.append(f"output {ident[k]} = {readout}({ident[src]}) {{ {'; '.join(settings)} }}")

    text = [f"# Imported from NIR{(' (' + origin + ')') if origin else ''} by `snndsl import`; conventions in "
            "docs/nir.md.", f"# Weights: {npz} beside this file (one (inputs x outputs) matrix per projection, "
            "and the per-neuron values of parameters that differ between neurons)."]
    text.append("# Fine-tunes the imported weights with `snndsl run`; `snndsl sim` simulates it." if task else
                "# Add a `task` and a `train` block to train it (or import with --task); `snndsl sim` simulates it.")
    for module, names in imports.items():
        text.append(f'from "{module}" import {", ".join(names)}')
    steps = {k: int(gmeta[k]) for k in ("substeps", "steps") if int(gmeta.get(k, 1)) != 1}
    if task and "steps" not in steps:
        steps["steps"] = DEFAULT_STEPS  # time steps a sample is shown; one step is too few for a spiking network
    text += ["", f"time {{ dt = {_num(dt_ms)} ms{''.join(f'; {k} = {v}' for k, v in steps.items())} }}", ""]
    if task:
        text += [f"task {task} {{ }}", ""]
    text += [m for m in lines_models.values()]
    text += inputs + pops + outputs + [""]
    for src, tgt, weights_text, settings, lmeta, learnable in projs:
        delay = int(lmeta.get("snndsl_delay", 0) or 0)
        items = settings + [f"weights = {weights_text}"] + [f"delay = {delay}"] * (delay >= 2) \
            + ["learn w"] * bool(task and learnable)  # delays 0 and 1 follow from the update order
        text.append(f"project {src} -> {tgt} {{ {'; '.join(items)} }}")
    if task:
        text += ["", f"train {rule or 'surrogate'} {{ }}"]
    return "\n".join(text) + "\n", weights


def import_file(nir_path: str, spec_out: str, dt_ms: float | None = None, task: str | None = None,
                rule: str | None = None) -> tuple[str, str]:
    """Read a .nir file and write the spec and its weights; returns (spec path, weights path)."""
    graph = read_graph(nir_path)
    text, weights = import_graph(graph, spec_out, dt_ms, origin=os.path.basename(nir_path), task=task, rule=rule)
    npz = os.path.splitext(spec_out)[0] + ".npz"
    np.savez(npz, **{k: v.astype(np.float32) for k, v in weights.items()})
    with open(spec_out, "w") as f:
        f.write(text)
    return spec_out, npz
