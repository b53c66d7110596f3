"""The running observation normaliser: the reference's semantics by default, a std floor and
clipping as settings, and a warning when an observation barely varies."""

import jax.numpy as jnp
import numpy as np

from snndsl_runtime.tasks.brax import Normalizer

# observation 0 varies, observation 1 is almost constant (std 1e-4)
OBS = jnp.stack([jnp.linspace(-1.0, 1.0, 64), 0.5 + 1e-4 * jnp.sign(jnp.linspace(-1.0, 1.0, 64))], axis=1)


def _fitted(**kw):
    norm = Normalizer(2, True, **kw)
    return norm, norm.update(norm.init(), OBS)


def test_default_amplifies_a_near_constant_observation_and_says_so():
    norm, state = _fitted()
    out = np.asarray(norm(jnp.array([0.0, 0.51]), state))
    assert abs(out[1]) > 50  # 0.01 away from the mean is ~100 std: the collapse seen on reacher
    assert "near-constant observations 1 " in norm.near_zero(state)


def test_std_floor_and_clip_bound_the_normalised_values():
    norm, state = _fitted(std_min=0.01, clip=5.0)
    out = np.asarray(norm(jnp.array([0.0, 0.51]), state))
    np.testing.assert_allclose(out[1], 1.0, rtol=0.05)  # 0.01 / floor 0.01
    assert np.all(np.abs(np.asarray(norm(jnp.array([100.0, -100.0]), state))) <= 5.0)
    assert norm.near_zero(state) is None


def test_disabled_normaliser_passes_observations_through():
    norm = Normalizer(2, False)
    np.testing.assert_array_equal(norm(OBS, None), OBS)
    assert norm.near_zero(None) is None
