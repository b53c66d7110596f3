"""The parts of a network that are the same for every spec: the projection product, bit-packed
masks, learnable time constants, initial parameters and weight matrices of a model."""

import jax
import jax.numpy as jnp
import numpy as np

from .spikes import real


def project(signal, weights):
    """A presynaptic signal times a weight matrix, accumulated in float32.  EC's boolean masks may
    come bit-packed (uint32, see pack_bits) or as int8; then the signal is signed spikes and the
    count is exact.  A bool mask takes any real signal (1 byte per connection instead of 4)."""
    if weights.dtype == jnp.uint32:
        pos, neg = _pack_spikes(signal > 0, weights.shape[-2]), _pack_spikes(signal < 0, weights.shape[-2])
        count = lambda bits: jnp.sum(jax.lax.population_count(bits[:, None] & weights), 0, dtype=jnp.int32)  # noqa: E731
        return (count(pos) - count(neg)).astype(real())
    if weights.dtype == jnp.bool_:  # a 0/1 mask meeting a real signal (EC's input and readout masks): a masked sum
        return jnp.sum(jnp.where(weights, signal[:, None].astype(real()), 0), 0)
    if weights.dtype == jnp.int8:
        return jnp.dot(signal.astype(jnp.int8), weights, preferred_element_type=jnp.int32).astype(real())
    return jnp.dot(signal.astype(weights.dtype), weights, preferred_element_type=real())


_BIT = np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))


def pack_bits(mask):
    """Boolean masks (..., n_in, n_out) packed along n_in: bit i of word k is input 32*k + i."""
    n_in = mask.shape[-2]
    words = -(-n_in // 32)
    m = jnp.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(0, 32 * words - n_in), (0, 0)])
    m = m.reshape(mask.shape[:-2] + (words, 32, mask.shape[-1])).astype(jnp.uint32)
    return jnp.sum(m * _BIT[:, None], axis=-2, dtype=jnp.uint32)


def _pack_spikes(bits, words):
    b = jnp.pad(bits, (0, 32 * words - bits.shape[0])).reshape(words, 32).astype(jnp.uint32)
    return jnp.sum(b * _BIT, axis=-1, dtype=jnp.uint32)


def tau_from_raw(raw, dt):
    """A learnable time constant from its raw parameter: the per-step decay is sigmoid(-raw)."""
    return -dt / jax.nn.log_sigmoid(-raw)


def tau_to_raw(tau, dt):
    decay = np.exp(-dt / np.asarray(tau, dtype=np.float64))
    return np.log((1.0 - decay) / decay).astype(np.float32)


def probe(state, probes, block):
    """Add zero-valued probes to a block's state (their gradients are STOP's spatial errors)."""
    return state if probes is None else {k: v + probes[block][k] for k, v in state.items()}


def weights_sha256(array) -> str:
    """The SHA-256 of a weight matrix as float32 bytes (C order): what a `file(...)` init records."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(np.asarray(array, np.float32)).tobytes()).hexdigest()


def load_weights(path, key, sha256, shape):
    """The array `key` of the .npz at `path` (a `file(...)` init), checked against the shape and the
    SHA-256 the model was generated with.  RunError E003 (unreadable) or E822 (changed since)."""
    from .errors import RunError

    try:
        with np.load(path, allow_pickle=False) as data:
            w = np.asarray(data[key], np.float32)
    except (OSError, ValueError, KeyError) as e:
        raise RunError("E003", f"cannot read the weights `{key}` of {path}: {getattr(e, 'strerror', None) or e}",
                       "the model reads them when it starts; regenerate it if the file moved") from None
    if w.shape != tuple(shape) or (sha256 and weights_sha256(w) != sha256):
        raise RunError("E822", f"the weights `{key}` of {path} are not the ones this model was generated with",
                       "regenerate the model (snndsl run / emit) from the spec")
    return w


def sample_init(key, init, shape):
    """Values drawn once: normal(mean, std), uniform(low, high), kaiming, lecun, a constant, or
    ("file", path, key, sha256): an array read from an .npz.  The one sampler of the runtime:
    initial weights, per-neuron parameters and (in the model's init_state) initial states.
    A fourth item of (dist, a, b, low) clips the draws below at `low`."""
    if init[0] == "file":
        return jnp.asarray(load_weights(init[1], init[2], init[3], shape), real())
    dist, a, b = init[:3]
    if dist == "normal":
        v = a + b * jax.random.normal(key, shape)
    elif dist == "uniform":
        v = jax.random.uniform(key, shape, minval=a, maxval=b)
    elif dist == "kaiming":
        v = jax.random.normal(key, shape) * np.sqrt(2.0 / fan_in(shape))
    elif dist == "lecun":
        v = jax.random.normal(key, shape) * np.sqrt(1.0 / fan_in(shape))
    else:
        v = jnp.full(shape, a, real())
    return v if len(init) < 4 else jnp.maximum(v, init[3])


def fan_in(shape) -> int:
    """The inputs that feed one output: rows of a matrix (n_in, n_out); one kernel's k * k * C_in of
    a convolution (k, k, C_in, C_out); a vector's own length."""
    return int(np.prod(shape[:-1])) if len(shape) > 1 else int(shape[0])


# per-neuron parameter draws take keys of their own, so adding one leaves the weights' draws as they were
_NEURON_DRAWS = 0x6E657572


def init_parameters(model, key):
    """Initial learnable parameters (theta) and fixed arrays of the model's network.

    Learnable Bernoulli projections start at their probability p; fixed ones are sampled once.
    Sparse projections keep their random mask in `fixed` under "m<index>".  Neuron parameters drawn
    per neuron (DRAWN_PARAMS) are in `fixed` under "pop.param".  Learnable neuron parameters are
    stored raw (time constants as the logit of their per-step leak, see tau_from_raw); one with a
    distribution starts from its draw (clipped into its bounds).
    """
    theta, fixed = {}, {}
    keys = jax.random.split(key, max(len(model.PROJECTIONS), 1))
    normed = norm_keys(model)
    for i, (name, pr) in enumerate(model.PROJECTIONS.items()):
        shape = pr["shape"]
        if pr["kind"] == "bernoulli":
            if pr["learn"]:
                theta[name] = jnp.full(shape, pr["p"], real())
            else:
                fixed[name] = jax.random.bernoulli(keys[i], pr["p"], shape)
            continue
        w = sample_init(keys[i], pr["init"], shape)
        (theta if pr["learn"] else fixed)[name] = w
        if pr["kind"] == "sparse":
            fixed["m" + name[1:]] = jax.random.bernoulli(jax.random.fold_in(keys[i], 1), pr["p"], shape)
        if name in normed:  # batch norm: learned scale and shift, running statistics (see layers.batch_norm)
            c = pr["norm"]["channels"]
            theta[name + ".scale"], theta[name + ".shift"] = jnp.ones(c, real()), jnp.zeros(c, real())
            fixed[name + ".mean"], fixed[name + ".var"] = jnp.zeros(c, real()), jnp.ones(c, real())
    draw_key = jax.random.fold_in(key, _NEURON_DRAWS)
    for name, q in model.DRAWN_PARAMS.items():
        fixed[name] = sample_init(jax.random.fold_in(draw_key, _index(name)), q["init"], q["shape"]).astype(real())
    for name, q in model.NEURON_PARAMS.items():
        value = q["init"]
        if isinstance(value, tuple):
            value = sample_init(jax.random.fold_in(draw_key, _index(name)), value, q["shape"])
            value = np.asarray(np.clip(value, *q["bounds"]) if q["bounds"] else value, np.float64)
        raw = tau_to_raw(value, model.DT) if q["role"] == "time_constant" else np.asarray(value, np.float32)
        theta[name] = jnp.broadcast_to(jnp.asarray(raw, real()), q["shape"])
    return theta, fixed


NORM_LEARNED, NORM_RUNNING = ("scale", "shift"), ("mean", "var")


def norm_keys(model):
    """The projections with `norm = batch`, in the model's order (here, not in layers.py, which
    imports this module: every user of the list reads it from one place)."""
    return [k for k, pr in model.PROJECTIONS.items() if pr.get("norm")]


def _index(name: str) -> int:
    """A stable number for a parameter's name ("pop.param"), to fold into its draw's key."""
    import zlib

    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def neuron_param_shapes(model):
    """(theta, fixed) of the neuron parameters only, as zeros of the right shapes: enough for
    block_params when only shapes matter (jax.eval_shape)."""
    theta = {k: np.zeros(q["shape"], np.float32) for k, q in model.NEURON_PARAMS.items()}
    fixed = {k: np.zeros(q["shape"], np.float32) for k, q in model.DRAWN_PARAMS.items()}
    return theta, fixed


def network_weights(model, theta, fixed, dtypes=None):
    """Each projection's weight matrix (learned or fixed; sparse ones masked), cast to `dtypes`
    (jnp.uint32 means bit-packed, see pack_bits)."""
    w = {}
    for name, pr in model.PROJECTIONS.items():
        v = theta[name] if name in theta else fixed[name]
        if pr["kind"] == "sparse":
            v = v * fixed["m" + name[1:]]
        dtype = (dtypes or {}).get(name, real())
        w[name] = v if v.dtype == dtype else pack_bits(v) if dtype == jnp.uint32 else v.astype(dtype)
    return w


def norm_params(model, theta, fixed, train=False):
    """Each batch-normalised projection's parameters under "<key>.norm": scale and shift, and unless
    `train` the running mean and variance (layers.batch_norm then uses them, not the batch's)."""
    return {name + ".norm": {**{p: theta[f"{name}.{p}"] for p in NORM_LEARNED},
                             **({} if train else {p: fixed[f"{name}.{p}"] for p in NORM_RUNNING})}
            for name in norm_keys(model)}


def network(model, theta, fixed, dtypes=None, train=False):
    """(weights, block parameters, step factors): what forward_step takes.  train=True: batch norm
    takes the batch's statistics, so forward_step must run inside jax.vmap(axis_name=BATCH_AXIS)."""
    w = {**network_weights(model, theta, fixed, dtypes), **norm_params(model, theta, fixed, train)}
    return (w, *model.block_params(theta, fixed))


def raw_bounds(model):
    """Bounds of each bounded learnable, in raw units (time constants map to their raw logit)."""
    out = {name: pr["bounds"] for name, pr in model.PROJECTIONS.items() if pr.get("bounds")}
    for name, q in model.NEURON_PARAMS.items():
        if q["bounds"]:
            lo, hi = q["bounds"]
            if q["role"] == "time_constant":  # the raw value falls as tau grows: tau's upper bound is raw's lower
                lo, hi = float(tau_to_raw(hi, model.DT)), float(tau_to_raw(lo, model.DT))
            out[name] = (lo, hi)
    return out


def clip_to_bounds(theta, bounds):
    return {k: jnp.clip(v, *bounds[k]) if k in bounds else v for k, v in theta.items()}


def spikes_of(blocks, x):
    """Signed spikes of the given spiking blocks, side by side (for rasters)."""
    parts = [x[b]["s"] for b in blocks]
    return jnp.concatenate(parts, axis=-1) if parts else jnp.zeros(0)


def strong(tree):
    """Arrays with fixed dtypes (not weakly typed), so a jitted step's inputs and outputs have the
    same types and it compiles once."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(jnp.asarray(x), jnp.asarray(x).dtype), tree)


def projection_labels(model) -> dict:
    """A readable label per projection, unique: its name (`hidden->hidden`), and `#2`, `#3`, ... for
    further projections between the same two populations."""
    labels, count = {}, {}
    for key, pr in model.PROJECTIONS.items():
        base = pr["name"].replace(" ", "")
        count[base] = count.get(base, 0) + 1
        labels[key] = base if count[base] == 1 else f"{base}#{count[base]}"
    return labels


def readable_parameters(model, theta, fixed=None):
    """The learned quantities (and the parameters drawn per neuron, from `fixed`) by name, in their
    units (time constants in ms), for a checkpoint that a user can read with numpy:
    `weights/<projection>`, `norm/<projection>/<scale|shift|mean|var>`, `block/<block>/<param>`."""
    out = {}
    labels = projection_labels(model)
    normed = norm_keys(model)
    for name in model.PROJECTIONS:
        if name in theta:
            out[f"weights/{labels[name]}"] = theta[name]
        if name in normed:
            out.update({f"norm/{labels[name]}/{p}": theta[f"{name}.{p}"] for p in NORM_LEARNED})
            out.update({f"norm/{labels[name]}/{p}": fixed[f"{name}.{p}"] for p in NORM_RUNNING if fixed is not None})
    for name, q in model.NEURON_PARAMS.items():
        v = theta[name]
        if q["role"] == "time_constant":
            v = tau_from_raw(v, model.DT)
        out["block/" + name.replace(".", "/")] = v
    for name in model.DRAWN_PARAMS if fixed is not None else ():
        out["block/" + name.replace(".", "/")] = fixed[name]
    return out
