"""STOP, Spatio-Temporal Orthogonal Propagation (Gao et al. 2024): one scan over time, no autodiff
through time, memory constant in T.

At each step t:
  1. forward one step from the previous state, held constant; the gradient of this step's loss
     gives the spatial error delta = dloss/d(integrated state) of every block (through zero-valued
     probes), backpropagated inside the step with the surrogate derivative;
  2. weights: every learnable projection into a block keeps a presynaptic trace per state variable
     of its target, e = A e + B (gain * input), (A, B) the target's linear dynamics (the target's
     leak must be shared per population); dL/dW += the vjp of W -> op(e_m, W) at cotangent delta_m,
     summed over the batch (layers.weight_gradient: e_m^T delta_m for a dense projection, the
     kernel's gradient for a convolution);
  3. thresholds and leaks: kappa = d(block state)/d(parameter) along the neuron's own recurrence
     (reset detached), injected into the previous state so that step 1's gradient includes it.
Per the STOP paper, paths through earlier spikes of downstream layers are dropped; with one hidden
layer and a memoryless readout the result equals BPTT (tests: pytest -k "stop and exact").
The model's reset gate is detached (the compiler generates it so for STOP)."""

import jax
import jax.numpy as jnp

from ..layers import DENSE, per_channel, weight_gradient
from ..network import network_weights, strong
from ..tasks.arrays import frame
from .gradient import GradientTrainer, cross_entropy


def learned(model):
    return [k for k, pr in model.PROJECTIONS.items() if pr["learn"]]


def traced(model):
    """Learnable projections into blocks: they carry presynaptic traces."""
    return [k for k in learned(model) if model.PROJECTIONS[k]["target"][0] == "block"]


def _expand(model, name, v):
    """A learnable neuron parameter (scalar or per neuron of its population) over its whole block."""
    q = model.NEURON_PARAMS[name]
    start, stop = q["slice"]
    size = model.BLOCKS[q["block"]]["size"]
    if q.get("sharing") == "channel":
        v = per_channel(v, (stop - start) // v.shape[-1])
    return jnp.pad(jnp.broadcast_to(v, (stop - start,)), (start, size - stop))


def inject(model, x, kappa, phi):
    """The previous state with each block's parameter traces attached: same value, derivative kappa."""
    x = {b: dict(v) for b, v in x.items()}
    for name, q in model.NEURON_PARAMS.items():
        b = q["block"]
        change = _expand(model, name, phi[name] - jax.lax.stop_gradient(phi[name]))
        for m in model.BLOCKS[b]["states"]:
            x[b][m] = x[b][m] + kappa[name][m] * change
    return x


def w_trace_step(model, key, trace, signal, bp, bc):
    """A projection's presynaptic traces after this step: its target's linear dynamics driven by
    gain * signal (shape of the presynaptic layer; one trace per target state variable)."""
    pr = model.PROJECTIONS[key]
    block = pr["target"][1]
    spec = model.BLOCKS[block]
    zeros = jnp.zeros_like(signal)
    x0 = {m: zeros for m in spec["states"]}
    d0 = {d: zeros for d in spec["drive"]}
    tangent = {**d0, pr["var"]: pr["gain"] * signal}
    _, new = jax.jvp(lambda x, d: spec["integrate"](x, d, bp[block], bc[block]), (x0, d0), (trace, tangent))
    return new


def param_trace_step(model, name, kappa, x_prev, drive, theta, fixed, phi):
    """d(block state after this step)/d(phi[name]) along the block's own recurrence (reset detached)."""
    b = model.NEURON_PARAMS[name]["block"]
    spec = model.BLOCKS[b]

    def after(xb, ph):
        bp, bc = model.block_params({**theta, **ph}, fixed)
        new = spec["integrate"](xb, drive, bp[b], bc[b])
        if "fire" in spec:
            new, _ = spec["fire"](new, bp[b])
        return {m: new[m] for m in spec["states"]}

    direction = {k: (jnp.ones_like(v) if k == name else jnp.zeros_like(v)) for k, v in phi.items()}
    _, new = jax.jvp(after, ({m: x_prev[b][m] for m in spec["states"]}, phi), (kappa, direction))
    return new


def _zero_probes(model, x):
    return {**{b: {m: jnp.zeros_like(x[b][m]) for m in spec["states"]} for b, spec in model.BLOCKS.items()},
            "out": jnp.zeros(model.OUT_SIZE)}


def stop_step(model, theta, fixed, x, kappa, image, label, key, weight):
    """One sample, one time step: loss, new state, output, drives, neuron-parameter gradients, errors."""
    theta_c = jax.lax.stop_gradient(theta)
    phi = {k: theta[k] for k in model.NEURON_PARAMS}
    w = network_weights(model, theta_c, fixed)

    def step_loss(ph, probes):
        bp, bc = model.block_params({**theta_c, **ph}, fixed)
        drives = {}
        new, out = model.forward_step(w, bp, bc, inject(model, x, kappa, ph), {model.INPUT: image}, key, probes, drives)
        return weight * cross_entropy(out, label), (new, out, drives)

    (loss, (new, out, drives)), (g_phi, delta) = jax.value_and_grad(step_loss, (0, 1), has_aux=True)(
        phi, _zero_probes(model, x))
    return loss, jax.lax.stop_gradient((new, out, drives)), g_phi, delta


def _encode(model, xb, keys):
    return jax.vmap(lambda img, k: model.encode_inputs({model.INPUT: img}, k))(xb, keys)


def _frames(xb, t):
    """The batch's inputs of time step t (static samples: themselves)."""
    return jax.vmap(lambda sample: frame(sample, t))(xb)


def stop_init(model, theta, fixed, xb, keys):
    """Initial network state and zero traces for a batch."""
    n = xb.shape[0]
    bp, _ = model.block_params(theta, fixed)
    x0 = jax.vmap(lambda k: model.init_state(jax.random.split(k)[0], bp))(keys)
    sig0 = jax.vmap(model.presynaptic_signals)(x0, x0, _encode(model, _frames(xb, 0), keys))
    blocks = model.BLOCKS
    traces = {
        "w": {k: {m: jnp.zeros_like(sig0[k]) for m in blocks[model.PROJECTIONS[k]["target"][1]]["states"]}
              for k in traced(model)},
        "k": {name: {m: jnp.zeros((n, blocks[q["block"]]["size"])) for m in blocks[q["block"]]["states"]}
              for name, q in model.NEURON_PARAMS.items()},
    }
    return x0, traces


def stop_time_step(model, weights, theta, fixed, x, tr, xb, yb, keys, t):
    """Time step t for a batch: new state and traces, this step's gradients (of the batch mean), loss,
    outputs.  weights: each time step's loss weight."""
    n = xb.shape[0]
    theta_c = jax.lax.stop_gradient(theta)
    phi = {k: theta_c[k] for k in model.NEURON_PARAMS}
    bp, bc = model.block_params(theta_c, fixed)
    step_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.split(k)[1], t))(keys)
    weight = jnp.asarray(weights)[t]
    xb = _frames(xb, t)
    loss, (new, out, drives), g_phi, delta = jax.vmap(
        lambda xs, ks, img, lab, k: stop_step(model, theta, fixed, xs, ks, img, lab, k, weight))(
        x, tr["k"], xb, yb, step_keys)
    sig = jax.vmap(model.presynaptic_signals)(x, new, _encode(model, xb, step_keys))
    tr_w = {k: jax.vmap(lambda e, s: w_trace_step(model, k, e, s, bp, bc))(tr["w"][k], sig[k]) for k in traced(model)}
    tr_k = {name: jax.vmap(lambda kap, xp, d: param_trace_step(model, name, kap, xp, d, theta_c, fixed, phi))(
                tr["k"][name], x, drives[q["block"]]) for name, q in model.NEURON_PARAMS.items()}
    grads = {k: jnp.sum(v, 0) / n for k, v in g_phi.items()}
    for k in learned(model):
        pr = model.PROJECTIONS[k]
        kind, block, start, stop = pr["target"]
        op, wk = pr.get("op", DENSE), theta_c[k]
        # dense: trace^T delta; a convolution: its kernel's gradient, summed over positions
        if kind == "block":
            gw = sum(weight_gradient(op, wk, tr_w[k][m], delta[block][m][:, start:stop])
                     for m in model.BLOCKS[block]["states"])
        else:
            gw = pr["gain"] * weight_gradient(op, wk, sig[k], delta["out"])
        grads[k] = (gw * fixed["m" + k[1:]] if pr["kind"] == "sparse" else gw) / n
    return new, {"w": tr_w, "k": tr_k}, grads, jnp.sum(loss) / n, out


def stop_gradients(model, weights, theta, fixed, xb, yb, key):
    """STOP gradients of the batch's mean loss, by one forward scan over time (update = accumulate)."""
    keys = jax.random.split(key, xb.shape[0])
    x0, traces = stop_init(model, theta, fixed, xb, keys)

    def body(carry, t):
        x, tr, g = carry
        x, tr, step, loss, out = stop_time_step(model, weights, theta, fixed, x, tr, xb, yb, keys, t)
        return (x, tr, jax.tree.map(jnp.add, g, step)), (loss, out)

    zero = jax.tree.map(jnp.zeros_like, jax.lax.stop_gradient(theta))
    (_, _, grads), (losses, outs) = jax.lax.scan(body, (x0, traces, zero), jnp.arange(model.STEPS))
    return grads, jnp.sum(losses), jnp.swapaxes(outs, 0, 1)


class STOPTrainer(GradientTrainer):
    def updates_per_batch(self):
        return self.model.STEPS if self.cfg["train"]["update"] == "online" else 1

    def batch_gradients(self, theta, fixed, xb, yb, key):
        return stop_gradients(self.model, self.loss_weights, theta, fixed, xb, yb, key)

    def train_step(self, state, xb, yb, key):
        if self.cfg["train"]["update"] == "accumulate":
            return super().train_step(state, xb, yb, key)
        # online: one optimizer step per time step; the traces carry on under the changing parameters
        keys = jax.random.split(key, xb.shape[0])
        x0, traces = stop_init(self.model, state["theta"], state["fixed"], xb, keys)

        def body(carry, t):
            x, tr, st = carry
            x, tr, grads, loss, out = stop_time_step(self.model, self.loss_weights, st["theta"], st["fixed"],
                                                     x, tr, xb, yb, keys, t)
            return (x, tr, self.apply(st, grads)), (loss, out)

        (_, _, state), (losses, outs) = jax.lax.scan(body, (x0, traces, state), jnp.arange(self.model.STEPS))
        return strong(state), {"loss": jnp.sum(losses), "correct": jnp.sum(self.predict(jnp.swapaxes(outs, 0, 1)) == yb)}
