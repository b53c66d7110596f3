"""Bounds on learnable parameters: a learned time constant stays inside its bounds and still moves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime.network import clip_to_bounds, init_parameters, raw_bounds, tau_from_raw

from .conftest import generated, trainer_of, write_spec

SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 4 }
task digits { }
input pixels = current
population hidden = LIF(32) {
    tau_m = 3 ms
    v_th = 0.3
    learn v_th per neuron { bounds = [0.1, 4] }
    learn tau_m PER { bounds = [1 ms, 30 ms] }
}
output logits = instant(hidden)
project pixels -> hidden.v { weights = dense(init = normal(0, 0.4)); learn w }
project hidden -> logits   { weights = dense(init = lecun); learn w }
train RULE { epochs = 2; batch_size = 32; optimizer = adam(lr = 0.05) }
"""


def _tau(mod, theta):
    (key,) = [k for k, q in mod.NEURON_PARAMS.items() if q["role"] == "time_constant"]
    return np.asarray(tau_from_raw(theta[key], mod.DT)), key


def test_clipping_keeps_an_initial_time_constant_inside_its_bounds(tmp_path):
    mod = generated(write_spec(tmp_path, SPEC.replace("RULE", "surrogate").replace("PER", "per neuron")))
    theta, _ = init_parameters(mod, jax.random.PRNGKey(0))
    tau, key = _tau(mod, clip_to_bounds(theta, raw_bounds(mod)))
    np.testing.assert_allclose(tau, 3.0, rtol=1e-5)  # was pinned to 30 ms
    lo, hi = raw_bounds(mod)[key]
    assert lo < hi
    np.testing.assert_allclose(sorted(np.asarray(tau_from_raw(jnp.array([lo, hi]), mod.DT))), [1.0, 30.0], rtol=1e-4)
    far = {**theta, key: jnp.array([-50.0, 50.0])}  # raw values far outside, either way
    np.testing.assert_allclose(sorted(_tau(mod, clip_to_bounds(far, raw_bounds(mod)))[0]), [1.0, 30.0], rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["stop", "surrogate"])
def test_learned_time_constants_stay_inside_their_bounds_and_move(tmp_path, rule):
    per = "per population" if rule == "stop" else "per neuron"  # STOP shares a leak per population
    mod = generated(write_spec(tmp_path, SPEC.replace("RULE", rule).replace("PER", per)))
    trainer = trainer_of(mod, seed=0)
    for epoch in (1, 2):
        trainer.step(epoch)
    tau, _ = _tau(mod, trainer.state["theta"])
    assert np.all(tau >= 1.0 - 1e-4) and np.all(tau <= 30.0 + 1e-3)
    assert np.abs(tau - 3.0).max() > 0.05  # learned, not fixed
    assert not np.allclose(tau, 30.0)
    if rule == "surrogate":
        assert np.ptp(tau) > 0.01  # per neuron: each its own
