"""STOP, Spatio-Temporal Orthogonal Propagation (Gao et al. 2024): one scan over time, no autodiff
through time, memory constant in T.

At each step t:
  1. forward one step from the previous state, held constant; the gradient of this step's loss
     gives the spatial error delta = dloss/d(integrated state) of every block (through zero-valued
     probes), backpropagated inside the step with the surrogate derivative;
  2. weights: every learnable projection into a block keeps a presynaptic trace per state variable
     of its target, e = A e + B (gain * input), (A, B) the target's linear dynamics (the target's
     leak must be shared per population), input = what the weights see (a `pool` in the op applied
     first: exact for every pooling, and the trace has the pooled layer's size); dL/dW += the vjp
     of W -> op(e_m, W) at cotangent delta_m, summed over the batch (layers.weight_gradient:
     e_m^T delta_m for a dense projection, the kernel's gradient for a convolution);
  3. thresholds and leaks: kappa = d(block state)/d(parameter) along the neuron's own recurrence
     (reset detached), injected into the previous state so that step 1's gradient includes it.
Per the STOP paper, paths through earlier spikes of downstream layers are dropped; with one hidden
layer and a memoryless readout the result equals BPTT (tests: pytest -k "stop and exact").
The model's reset gate is detached (the compiler generates it so for STOP).

Batch norm (`norm = batch`, drive = gain * BN(op(signal)) with this step's batch statistics): the
step's gradient is taken of the batch's summed loss with the samples as one named vmap axis, so the
spatial errors hold BN's Jacobian across samples and scale/shift get this step's gradient (the
previous state held constant, as the public STOP code detaches v).  A normalised projection's trace
runs on the signal at unit gain (the gain comes after BN), and its weight gradient is
sum_m vjp_W op(e_m, W) at J_BN^T (gain * delta_m), J_BN taken at this step's statistics and the
centered pre-norm output batch_norm records (layers.batch_norm_vjp): BN's Jacobian at step t
applied to the trace, the trace substitution of STOP's reference code, which is approximate (BN's
input is the step's current, not the trace).  At T = 1 it equals BPTT (tests/test_batch_norm.py)."""

import jax
import jax.numpy as jnp

from ..layers import BATCH_AXIS, DENSE, apply_projection, batch_norm_vjp, norm_keys, per_channel, weight_gradient
from ..network import NORM_LEARNED, network_weights, strong
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


def weight_input(model, key, signal):
    """A batch of a projection's presynaptic signals as its weights see them: a pooling in the op
    (`pool = avg_pool(2)`) applied first.  The trace runs on this: exact for every pooling (the
    weights see only the pooled value) and 4x smaller than the source layer behind a 2x2 pool."""
    op = model.PROJECTIONS[key].get("op", DENSE)
    if "pool" not in op:
        return signal
    return jax.vmap(lambda s: apply_projection(s, None, op["pool"]))(signal)


def weights_op(model, key):
    """A projection's op without its pooling: what acts on weight_input."""
    return {k: v for k, v in model.PROJECTIONS[key].get("op", DENSE).items() if k != "pool"}


def w_trace_step(model, key, trace, signal, bp, bc):
    """A projection's presynaptic traces after this step: its target's linear dynamics driven by
    gain * signal (one sample's weight_input; one trace per target state variable)."""
    pr = model.PROJECTIONS[key]
    block = pr["target"][1]
    spec = model.BLOCKS[block]
    zeros = jnp.zeros_like(signal)
    x0 = {m: zeros for m in spec["states"]}
    d0 = {d: zeros for d in spec["drive"]}
    gain = 1.0 if pr.get("norm") else pr["gain"]  # batch norm: its vjp, then the gain, meet the trace
    tangent = {**d0, pr["var"]: gain * signal}
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


def _norms(model, theta):
    """Each batch-normalised projection's learned scale and shift (training: batch statistics)."""
    return {k: {p: theta[f"{k}.{p}"] for p in NORM_LEARNED} for k in norm_keys(model)}


def step_losses(model, theta, fixed, x, kappa, images, labels, keys, weight):
    """The batch's summed loss of one time step as a function of (neuron parameters, batch norm's
    scale and shift, zero probes); the samples are vmapped with axis_name BATCH_AXIS, so batch norm
    sees the batch.  Aux: new states, outputs, drives, batch norm's statistics and pre-norm outputs."""
    w = network_weights(model, theta, fixed)
    nk = norm_keys(model)

    def one(ph, norms, xs, kap, image, label, key, probes):
        bp, bc = model.block_params({**theta, **ph}, fixed)
        drives, stats = {}, {}
        new, out = model.forward_step({**w, **{k + ".norm": norms[k] for k in nk}}, bp, bc, inject(model, xs, kap, ph),
                                      {model.INPUT: image}, key, probes, drives, **({"stats": stats} if nk else {}))
        return weight * cross_entropy(out, label), (new, out, drives, stats)

    def loss(ph, norms, probes):
        losses, aux = jax.vmap(lambda *a: one(ph, norms, *a), axis_name=BATCH_AXIS)(x, kappa, images, labels, keys, probes)
        return jnp.sum(losses), aux

    return loss


def stop_step(model, theta, fixed, x, kappa, images, labels, keys, weight):
    """One time step of a batch: summed loss, (new states, outputs, drives, batch norm statistics), and
    the gradients of the summed loss for the neuron parameters, batch norm's scale and shift (each
    summed over the batch) and the probes (each sample's spatial errors)."""
    theta_c = jax.lax.stop_gradient(theta)
    phi = {k: theta_c[k] for k in model.NEURON_PARAMS}
    probes = jax.vmap(lambda xs: _zero_probes(model, xs))(x)
    loss = step_losses(model, theta_c, fixed, x, kappa, images, labels, keys, weight)
    (value, aux), (g_phi, g_norm, delta) = jax.value_and_grad(loss, (0, 1, 2), has_aux=True)(
        phi, _norms(model, theta_c), probes)
    return value, jax.lax.stop_gradient(aux), g_phi, g_norm, delta


def _bn_cotangent(model, k, norms, bn, error):
    """J_BN^T error (B, n) at this step's batch statistics and centered pre-norm outputs."""
    return batch_norm_vjp(bn[k]["centered"], error, norms[k], bn[k]["var"][0], model.PROJECTIONS[k]["norm"])


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
        "w": {k: {m: jnp.zeros_like(weight_input(model, k, sig0[k]))
                  for m in blocks[model.PROJECTIONS[k]["target"][1]]["states"]} for k in traced(model)},
        "k": {name: {m: jnp.zeros((n, blocks[q["block"]]["size"])) for m in blocks[q["block"]]["states"]}
              for name, q in model.NEURON_PARAMS.items()},
    }
    return x0, traces


def stop_time_step(model, weights, theta, fixed, x, tr, xb, yb, keys, t):
    """Time step t for a batch: new state and traces, this step's gradients (of the batch mean), loss,
    outputs, batch norm's statistics {key: (mean, var)}.  weights: each time step's loss weight."""
    n = xb.shape[0]
    theta_c = jax.lax.stop_gradient(theta)
    phi = {k: theta_c[k] for k in model.NEURON_PARAMS}
    bp, bc = model.block_params(theta_c, fixed)
    step_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.split(k)[1], t))(keys)
    weight = jnp.asarray(weights)[t]
    xb = _frames(xb, t)
    loss, (new, out, drives, bn), g_phi, g_norm, delta = stop_step(model, theta, fixed, x, tr["k"], xb, yb,
                                                                   step_keys, weight)
    sig = jax.vmap(model.presynaptic_signals)(x, new, _encode(model, xb, step_keys))
    pooled = {k: weight_input(model, k, sig[k]) for k in traced(model)}
    tr_w = {k: jax.vmap(lambda e, s: w_trace_step(model, k, e, s, bp, bc))(tr["w"][k], pooled[k]) for k in traced(model)}
    tr_k = {name: jax.vmap(lambda kap, xp, d: param_trace_step(model, name, kap, xp, d, theta_c, fixed, phi))(
                tr["k"][name], x, drives[q["block"]]) for name, q in model.NEURON_PARAMS.items()}
    grads = {k: v / n for k, v in g_phi.items()}
    norms = _norms(model, theta_c)
    for k, g in g_norm.items():
        grads.update({f"{k}.{p}": g[p] / n for p in NORM_LEARNED})
    for k in learned(model):
        pr = model.PROJECTIONS[k]
        kind, block, start, stop = pr["target"]
        op, wk = pr.get("op", DENSE), theta_c[k]
        # dense: trace^T delta; a convolution: its kernel's gradient, summed over positions
        if kind == "block":  # the traces are of the pooled signal
            op = weights_op(model, k)
        if kind == "block" and k in bn:  # through batch norm's Jacobian at this step, then the gain
            gw = sum(weight_gradient(op, wk, tr_w[k][m], _bn_cotangent(
                model, k, norms, bn, pr["gain"] * delta[block][m][:, start:stop]))
                for m in model.BLOCKS[block]["states"])
        elif kind == "block":
            gw = sum(weight_gradient(op, wk, tr_w[k][m], delta[block][m][:, start:stop])
                     for m in model.BLOCKS[block]["states"])
        else:
            gw = pr["gain"] * weight_gradient(op, wk, sig[k], delta["out"])
        grads[k] = (gw * fixed["m" + k[1:]] if pr["kind"] == "sparse" else gw) / n
    stats = {k: (r["mean"][0], r["var"][0]) for k, r in bn.items()}  # the same for every sample
    return new, {"w": tr_w, "k": tr_k}, grads, loss / n, out, stats


def stop_gradients(model, weights, theta, fixed, xb, yb, key):
    """STOP gradients of the batch's mean loss, by one forward scan over time (update = accumulate);
    also the loss, the outputs (B, STEPS, classes) and batch norm's per-step statistics (STEPS, C)."""
    keys = jax.random.split(key, xb.shape[0])
    x0, traces = stop_init(model, theta, fixed, xb, keys)

    def body(carry, t):
        x, tr, g = carry
        x, tr, step, loss, out, stats = stop_time_step(model, weights, theta, fixed, x, tr, xb, yb, keys, t)
        return (x, tr, jax.tree.map(jnp.add, g, step)), (loss, out, stats)

    zero = jax.tree.map(jnp.zeros_like, jax.lax.stop_gradient(theta))
    (_, _, grads), (losses, outs, stats) = jax.lax.scan(body, (x0, traces, zero), jnp.arange(model.STEPS))
    return grads, jnp.sum(losses), jnp.swapaxes(outs, 0, 1), stats


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
            x, tr, grads, loss, out, stats = stop_time_step(self.model, self.loss_weights, st["theta"], st["fixed"],
                                                            x, tr, xb, yb, keys, t)
            return (x, tr, self.apply(st, grads)), (loss, out, stats)

        (_, _, state), (losses, outs, stats) = jax.lax.scan(body, (x0, traces, state), jnp.arange(self.model.STEPS))
        state = self.update_running(state, stats, xb.shape[0])  # once per batch, as with accumulate
        return strong(state), {"loss": jnp.sum(losses), "correct": jnp.sum(self.predict(jnp.swapaxes(outs, 0, 1)) == yb)}
