"""A hard reset after a state overflowed: the reset value, not NaN forever (inf * 0 = NaN)."""

import jax
import jax.numpy as jnp
import numpy as np

from snndsl_runtime.network import network, init_parameters
from snndsl_runtime.spikes import hard_reset

from .conftest import generated, write_spec

OVERSHOOT = """
from "encoders" import current
from "readouts" import instant
# one forward-Euler step from v = 0.6 overflows float32 (exp(120) > 3.4e38)
neuron Blowup {
    param tau = 1 ms
    state v = 0.6
    input i_ext
    dv/dt = (exp(200 * v) + i_ext) / tau
    spike when v > 1
    on spike { v = 0 }
}
time { dt = 1 ms; steps = 6 }
task digits { }
input pixels = current
population hidden = Blowup(4)
output logits = instant(hidden)
project pixels -> hidden.i_ext { weights = dense(init = normal(0, 0)); learn w }
project hidden -> logits { weights = dense(init = lecun); learn w }
train surrogate { epochs = 1 }
"""


def test_hard_reset_of_an_overflowed_state_is_the_reset_value():
    v = jnp.array([jnp.inf, 0.5, 2.0, jnp.inf])
    z = jnp.array([1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(hard_reset(v, -1.0, z, z), [-1.0, 0.5, -1.0, jnp.inf])


def test_hard_reset_keeps_the_surrogate_gradient_through_the_spike():
    # d/dzr of x*(1-zr) + value*zr is value - x, also where no spike happened (the surrogate's reach)
    g = jax.grad(lambda zr: hard_reset(jnp.float32(0.7), 0.0, jnp.float32(0.0), zr))(jnp.float32(0.0))
    np.testing.assert_allclose(g, -0.7)


def _recovers_after_overflow(model):
    theta, fixed = init_parameters(model, jax.random.PRNGKey(0))
    w, bp, bc = network(model, theta, fixed)
    x = model.init_state(jax.random.PRNGKey(1), bp)
    spikes = []
    for t in range(6):
        x, out = model.forward_step(w, bp, bc, x, {model.INPUT: jnp.zeros(model.IN_SIZE)}, jax.random.PRNGKey(t))
        assert np.all(np.isfinite(np.asarray(x["hidden"]["v"]))), (t, x["hidden"]["v"])
        spikes.append(np.asarray(x["hidden"]["s"]))
    assert np.asarray(spikes).sum() >= 4  # it overflowed, spiked and was reset (not stuck at NaN)


def test_exponential_model_recovers_after_overflow(tmp_path):
    model = generated(write_spec(tmp_path, OVERSHOOT))
    assert "hard_reset(" in open(model.__file__).read()
    _recovers_after_overflow(model)


def test_step_form_model_recovers_after_overflow(tmp_path):
    """The same overflow written as a discrete-time `step` update: its reset is the same select."""
    spec = OVERSHOOT.replace("    dv/dt = (exp(200 * v) + i_ext) / tau\n",
                             "    step {\n        v <- v + dt * (exp(200 * v) + i_ext) / tau\n    }\n")
    model = generated(write_spec(tmp_path, spec))
    text = open(model.__file__).read()
    assert "v <- v + dt" in text and "hard_reset(" in text
    _recovers_after_overflow(model)
