"""Shaped layers: convolution and pooling projections, and per-channel parameters.

The one place where a flat vector meets an image.  A shaped population or input of (C, H, W)
(as specs write it, channels first) is held as a flat vector in channels-last order: value
(c, h, w) sits at index (h * W + w) * C + c.  Datasets deliver image rows in that order, so a
reshape to (H, W, C) is free; convolutions run in NHWC with HWIO kernels (k, k, C_in, C_out).
NIR is channels first (C, H, W) with OIHW kernels: NIR export and import convert with the functions
here (channels_first / from_channels_first, channels_first_order, kernel_to_oihw / kernel_from_oihw).

A projection's op (the model's PROJECTIONS[key]["op"]) is {"type": "dense"} or
{"type": "conv2d", "in": (C, H, W), "out": (C, H, W), "kernel": k, "stride": s, "padding": ((t, b), (l, r))}
or {"type": "avg_pool" | "sum_pool" | "max_pool" | "global_avg_pool", "in": ..., "out": ..., "size": k}.
A dense or conv2d op may hold "pool": a pooling op applied to the source first (`pool = avg_pool(2)`
in the spec), so that pooled spikes feed the weights with no neurons in between.

A projection with `norm = batch` (PROJECTIONS[key]["norm"] = {"channels": C, "positions": H * W,
"momentum": m, "eps": e}) passes its op's output through batch_norm before the gain.
"""

import jax
import jax.numpy as jnp

from . import network
from .network import project
from .spikes import real

# defined in network.py (which this module imports, not the reverse); the trainers read it here
norm_keys = network.norm_keys

DENSE = {"type": "dense"}
POOLS = ("avg_pool", "sum_pool", "max_pool", "global_avg_pool")


def to_image(flat, shape):
    """A flat channels-last vector of a (C, H, W) layer as an (H, W, C) array (leading axes kept)."""
    c, h, w = shape
    return flat.reshape(flat.shape[:-1] + (h, w, c))


def from_image(image):
    """An (..., H, W, C) array back to the flat channels-last vector."""
    return image.reshape(image.shape[:-3] + (-1,))


def channels_first(flat, shape):
    """The flat layer as a (C, H, W) array, the order specs and NIR write (for export and display).
    Keeps the array's kind and dtype (numpy float64 stays float64, for NIR's exact round trip)."""
    image = to_image(flat, shape)
    lead = tuple(range(image.ndim - 3))
    return image.transpose(lead + (image.ndim - 1, image.ndim - 3, image.ndim - 2))


def channels_first_order(shape):
    """The permutation `order` with flat[order] = channels_first(flat, shape).ravel(): where each
    channels-first position (c * H + h) * W + w of a flattened (C, H, W) layer sits in snndsl's flat
    vector.  A dense matrix's rows W[order] are then in the order NIR's Flatten delivers."""
    import numpy as np

    c, h, w = shape
    return channels_first(np.arange(c * h * w), shape).reshape(-1)


def kernel_to_oihw(kernel):
    """An HWIO kernel (kH, kW, C_in, C_out), snndsl's, as OIHW (C_out, C_in, kH, kW), NIR's Conv2d weight."""
    return kernel.transpose(3, 2, 0, 1)


def kernel_from_oihw(weight):
    """An OIHW kernel (NIR's Conv2d weight) as snndsl's HWIO: kernel_to_oihw's inverse."""
    return weight.transpose(2, 3, 1, 0)


def from_channels_first(image):
    """An (..., C, H, W) array (the order of specs, NIR and PyTorch) as the flat channels-last
    vector: the inverse of channels_first.  Only array methods, so a numpy array (a dataset read
    from a file) stays numpy."""
    n = image.ndim
    return from_image(image.transpose(*range(n - 3), n - 2, n - 1, n - 3))


def per_channel(values, positions):
    """A per-channel parameter (C,) over a flat channels-last layer of `positions` = H * W pixels."""
    return jnp.tile(values, positions)


# the named vmap axis over a training batch's samples: batch_norm's statistics are means over it
BATCH_AXIS = "samples"


def batch_norm(z, norm, info, stats=None, key=None):
    """Batch normalisation of ONE sample's flat channels-last drive z, per channel (statistics over
    the batch and the H * W positions of a channel; a flat layer has one position per neuron).

    norm {"scale", "shift"}: training; the statistics are this step's batch's, so the caller must
    vmap over the samples with axis_name=BATCH_AXIS (means over it by jax.lax.pmean; variance
    biased, taken after the mean).  With `stats` (a dict) records stats[key] = {"mean", "var",
    "centered": z - mean (positions, C)} for the running statistics and STOP's weight gradient.
    norm {"scale", "shift", "mean", "var"}: evaluation, with the running statistics; no collective."""
    zc = z.reshape(-1, info["channels"])  # (positions, C): per-channel values broadcast over positions
    if "mean" in norm:
        mean, var = norm["mean"], norm["var"]
        centered = zc - mean
    else:
        mean = jax.lax.pmean(jnp.mean(zc, 0), BATCH_AXIS)
        centered = zc - mean
        var = jax.lax.pmean(jnp.mean(jnp.square(centered), 0), BATCH_AXIS)
        if stats is not None:
            stats[key] = {"mean": mean, "var": var, "centered": centered}
    y = centered * (norm["scale"] * jax.lax.rsqrt(var + info["eps"])) + norm["shift"]
    return y.reshape(z.shape).astype(z.dtype)


def batch_norm_vjp(centered, cotangent, norm, var, info):
    """J_BN^T cotangent for a batch of flat channels-last drives, BN taken with this batch's
    statistics: scale / sigma * (g - mean(g) - x_hat * mean(g * x_hat)), x_hat = centered / sigma,
    the means per channel over the batch and positions.  centered: (B, positions, C), the z - mean
    batch_norm recorded (the array its own gradient keeps, so STOP holds no other copy of z)."""
    g = cotangent.reshape(centered.shape).astype(centered.dtype)
    inv = jax.lax.rsqrt(var + info["eps"])
    a = norm["scale"] * inv
    # x_hat stays folded into per-channel factors: no array of z's size is made but the result
    out = a * (g - jnp.mean(g, (0, 1))) - centered * (a * inv ** 2 * jnp.mean(g * centered, (0, 1)))
    return out.reshape(cotangent.shape)


def running_stats(model, fixed, stats, batch):
    """`fixed` with every batch-normalised projection's running mean and variance moved towards this
    batch's: stats[key] = (mean, var), each (STEPS, C), the per-step batch statistics (variance
    biased); their mean over time, the variance made unbiased over the batch * positions values
    each step normalised, enters as running = (1 - momentum) running + momentum value."""
    fixed = dict(fixed)
    for k, (mean, var) in stats.items():
        info = model.PROJECTIONS[k]["norm"]
        n = batch * info["positions"]
        m = info["momentum"]
        fixed[k + ".mean"] = (1 - m) * fixed[k + ".mean"] + m * jnp.mean(mean, 0)
        fixed[k + ".var"] = (1 - m) * fixed[k + ".var"] + m * jnp.mean(var, 0) * (n / max(n - 1, 1))
    return fixed


def apply_projection(signal, weights, op):
    """A presynaptic signal (flat, one sample) through a projection: dense (see network.project),
    a convolution with its kernel, or a pooling (no weights).  Returns the flat postsynaptic drive."""
    kind = op["type"]
    if "pool" in op:
        signal = apply_projection(signal, None, op["pool"])
    if kind == "dense":
        return project(signal, weights)
    x = to_image(signal.astype(real()), op["in"])
    if kind == "conv2d":
        s = op["stride"]
        y = jax.lax.conv_general_dilated(x[None], weights.astype(x.dtype), (s, s), tuple(map(tuple, op["padding"])),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                         preferred_element_type=real())[0]
    elif kind == "global_avg_pool":
        y = jnp.mean(x, axis=(0, 1), keepdims=True)
    else:
        k = op["size"]
        _, oh, ow = op["out"]
        # windows of k x k (stride k) as axes 1 and 3; one that would run past the edge is dropped
        windows = x[:oh * k, :ow * k].reshape(oh, k, ow, k, x.shape[-1])
        y = {"max_pool": jnp.max, "sum_pool": jnp.sum, "avg_pool": jnp.mean}[kind](windows, axis=(1, 3))
    return from_image(y)


def weight_gradient(op, weights, presynaptic, error):
    """dL/dW of a projection for a batch: the vjp of W -> apply_projection(presynaptic, W, op)
    with `error` (B, n_out) as cotangent, summed over the batch.  For a dense projection this is
    presynaptic^T error; for a convolution the kernel's gradient, summed over positions.  STOP
    evaluates it at its presynaptic traces, which already run on the pooled signal (op without its
    pool; trainers/stop.weight_input)."""
    _, vjp = jax.vjp(lambda w: jax.vmap(lambda s: apply_projection(s, w, op))(presynaptic), weights)
    return vjp(error.astype(weights.dtype))[0]
