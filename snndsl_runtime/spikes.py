"""The spike nonlinearity: a Heaviside step, with a surrogate derivative for the gradient rules."""

import jax
import jax.numpy as jnp


def real():
    """The floating dtype arrays are made in: float32, or float64 while JAX's x64 mode is on
    (`time.precision = float64`)."""
    return jnp.result_type(float)


# x = (membrane - threshold); k = the family's scale (slope or width)
SURROGATE_DERIVATIVES = {
    "fast_sigmoid": lambda x, k: 1.0 / (1.0 + k * jnp.abs(x)) ** 2,
    "arctan": lambda x, k: (k / 2.0) / (1.0 + (jnp.pi * k * x / 2.0) ** 2),
    "sigmoid": lambda x, k: k * jax.nn.sigmoid(k * x) * (1.0 - jax.nn.sigmoid(k * x)),
    "triangle": lambda x, k: jnp.maximum(0.0, 1.0 - jnp.abs(x) / k) / k,
    "boxcar": lambda x, k: (jnp.abs(x) < k / 2.0).astype(real()) / k,
}


def heaviside_spike(x, inclusive=False):
    """Heaviside step: 1.0 where the spike condition holds (evolution needs no gradient)."""
    return (x >= 0 if inclusive else x > 0).astype(real())


def surrogate_spike(family, scale):
    """spike(x, inclusive): the Heaviside step forward, the family's surrogate derivative backward."""
    derivative = SURROGATE_DERIVATIVES[family]

    def with_surrogate(step):
        f = jax.custom_jvp(step)
        f.defjvp(lambda primals, tangents: (step(primals[0]), derivative(primals[0], scale) * tangents[0]))
        return f

    strict = with_surrogate(lambda x: (x > 0).astype(real()))
    inclusive_step = with_surrogate(lambda x: (x >= 0).astype(real()))
    return lambda x, inclusive=False: inclusive_step(x) if inclusive else strict(x)


def identity_reset(z):
    return z


def detached_reset(z):
    """The spike as the reset sees it, a constant in the backward pass."""
    return jax.lax.stop_gradient(z)


def hard_reset(x, value, z, zr):
    """x set to `value` where the neuron spiked: x*(1-zr) + value*zr, so the surrogate gradient flows
    through zr, and a select where x is not finite (an overflowed state), where inf*0 would be NaN."""
    return jnp.where(jnp.isfinite(x), x * (1.0 - zr) + value * zr, jnp.where(z > 0, value, x))
