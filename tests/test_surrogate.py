"""Surrogate gradients: formulas, the BPTT wiring against finite differences of the smoothed network,
learning on digits, and a 2-iteration PPO run on Brax."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime import train
from snndsl_runtime.network import init_parameters
from snndsl_runtime.spikes import SURROGATE_DERIVATIVES
from snndsl_runtime.tasks.datasets import load_task
from snndsl_runtime.trainers.bptt import sequence_loss
from snndsl_runtime.trainers.gradient import loss_weights
from snndsl_runtime.trainers.ppo import log_prob, policy_means

from .conftest import SPECS, generated, trainer_of, write_spec

# family -> (parameter, formula of the surrogate derivative, documented peak and area)
FORMULAS = {
    "fast_sigmoid": ("slope", lambda x, k: 1 / (1 + k * np.abs(x)) ** 2, lambda k: (1.0, 2 / k)),
    "arctan": ("alpha", lambda x, k: (k / 2) / (1 + (np.pi * k * x / 2) ** 2), lambda k: (k / 2, 1.0)),
    "sigmoid": ("slope", lambda x, k: k * np.exp(-k * x) / (1 + np.exp(-k * x)) ** 2, lambda k: (k / 4, 1.0)),
    "triangle": ("width", lambda x, k: np.maximum(0, 1 - np.abs(x) / k) / k, lambda k: (1 / k, 1.0)),
    "boxcar": ("width", lambda x, k: (np.abs(x) < k / 2) / k, lambda k: (1 / k, 1.0)),
}


@pytest.mark.parametrize("family", sorted(FORMULAS))
def test_surrogate_derivative_matches_formula(family):
    param, formula, documented = FORMULAS[family]
    k = 3.0
    mod = generated(SPECS / "surrogate_digits.snn", [f"train.surrogate={family}({param} = {k})"])
    x = np.linspace(-3, 3, 60001, dtype=np.float32)
    grad = np.asarray(jax.vmap(jax.grad(lambda v: mod.spike(v)))(jnp.asarray(x)))
    expect = formula(x.astype(np.float64), k)
    edge = np.abs(np.abs(x) - k / 2) < 1e-3 if family == "boxcar" else np.zeros_like(x, bool)
    np.testing.assert_allclose(grad[~edge], expect[~edge], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(mod.spike(jnp.asarray(x))), (x > 0).astype(np.float32))
    peak, area = documented(k)
    assert math.isclose(grad.max(), peak, rel_tol=1e-3)
    tails = {"fast_sigmoid": 2 / (k * (1 + 3 * k)), "arctan": 1 - 2 / np.pi * np.arctan(3 * np.pi * k / 2),
             "sigmoid": 2 / (1 + np.exp(3 * k))}
    tail = tails.get(family, 0.0)  # the mass beyond |x| > 3
    assert math.isclose(np.trapezoid(grad, x) + tail, area, rel_tol=2e-3)


def _smooth(family, k, primitive):
    """A spike nonlinearity whose forward is the surrogate's antiderivative (a smoothed network)."""

    @jax.custom_jvp
    def f(x):
        return primitive(x)

    f.defjvp(lambda p, t: (f(p[0]), SURROGATE_DERIVATIVES[family](p[0], k) * t[0]))
    return lambda x, inclusive=False: f(x)


@pytest.mark.parametrize("family,param,primitive", [
    pytest.param("fast_sigmoid", "slope", lambda k: lambda x: x / (1 + k * jnp.abs(x)), marks=pytest.mark.slow),
    ("sigmoid", "slope", lambda k: lambda x: jax.nn.sigmoid(k * x)),
])
def test_surrogate_bptt_equals_finite_difference_of_smoothed_network(monkeypatch, family, param, primitive):
    """With the spike's forward replaced by the surrogate's antiderivative, BPTT's gradient must be the
    true derivative of that smooth network (the reset attached, so nothing is deliberately cut)."""
    k = 2.0
    mod = generated(SPECS / "surrogate_digits.snn", [f"train.surrogate={family}({param} = {k})",
                                                      "train.detach_reset=false", "time.steps=4"])
    monkeypatch.setattr(mod, "spike", _smooth(family, k, primitive(k)))
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(0))
    x_train, y_train = load_task(mod, mod.CONFIG["task"])["train"]
    xb, yb = jnp.asarray(x_train[:4]), jnp.asarray(y_train[:4])
    key = jax.random.PRNGKey(1)
    weights = jnp.asarray(loss_weights(mod.CONFIG["train"]["loss"], mod.STEPS))
    loss = lambda th: sequence_loss(mod, weights, th, fixed, xb, yb, key)[0]  # noqa: E731
    grads = jax.grad(loss)(theta)
    rng = np.random.default_rng(0)
    for name in theta:  # one direction per learnable: its gradient's plus a random one (float32 FD needs
        g = np.asarray(grads[name], np.float64)  # a derivative well above the loss's rounding noise)
        r = rng.normal(size=g.shape)
        d = g / np.linalg.norm(g) + 0.5 * r / np.linalg.norm(r)
        d = jnp.asarray(d / np.linalg.norm(d), jnp.float32)
        h = 1e-2 if name.startswith("w") else 3e-2
        fd = (loss({**theta, name: theta[name] + h * d}) - loss({**theta, name: theta[name] - h * d})) / (2 * h)
        analytic = jnp.sum(grads[name] * d)
        assert abs(float(fd) - float(analytic)) < 5e-3 * abs(float(analytic)), (name, float(fd), float(analytic))


@pytest.mark.slow
def test_surrogate_digits_learns(tmp_path):
    mod = generated(SPECS / "surrogate_digits.snn")
    rows = train(mod, out_dir=str(tmp_path), sets=["train.epochs=3"])
    assert rows[-1]["test_accuracy"] > 0.9 and rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert (tmp_path / "curve.png").exists()
    logged = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert set(logged[0]) >= {"epoch", "train_loss", "train_accuracy", "test_accuracy", "wall_s"}


@pytest.mark.slow
def test_ppo_two_iterations_on_brax(tmp_path):
    mod = generated(SPECS / "sg_hopper.snn", [
        "task.env=inverted_pendulum", "task.episode_length=40", "time.substeps=3", "train.num_envs=16",
        "train.minibatches=2", "train.update_epochs=1", "train.eval_episodes=4", "train.unroll_length=8"])
    rows = train(mod, out_dir=str(tmp_path), sets=["train.iterations=2"])
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["eval_fitness"]) and np.isfinite(r["loss"]) for r in rows)
    assert rows[-1]["env_steps"] == 2 * 16 * 8
    logged = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert set(logged[-1]) >= {"iteration", "fitness", "eval_fitness", "env_steps", "wall_s"}
    rates = [k for k in logged[-1] if k.startswith("rate/")]  # from the evaluation episodes
    assert rates and all(0 <= logged[-1][k] <= 1000 / 0.5 for k in rates)
    assert all(0 <= logged[-1]["silent/" + k[5:]] <= 1 for k in rates)


POISSON_PPO = """
from "neurons" import CubaLIF
from "encoders" import poisson
from "readouts" import filtered_rate
time { dt = 0.5 ms; substeps = 33 }
task brax { env = "inverted_pendulum"; episode_length = 40 }
input obs = poisson
population hidden = CubaLIF(32)
output action = filtered_rate(hidden) { tau = 10 ms; clip = 1 }
project obs -> hidden.i_in     { weights = dense(init = normal(0, 1)); gain = auto; learn w }
project hidden -> hidden.i_syn { weights = dense(init = normal(0, 1)); gain = auto; learn w }
project hidden -> action       { weights = dense(init = normal(0, 1)); gain = auto; learn w }
train surrogate { num_envs = 8; unroll_length = 6; minibatches = 2; update_epochs = 1 }
"""


@pytest.mark.slow
def test_ppo_replays_the_collected_network_exactly(tmp_path):
    """With a random (Poisson) encoder, the BPTT replay must see the spikes the rollout saw: before
    any update the PPO ratio is 1 (same keys, same state resets)."""
    mod = generated(write_spec(tmp_path, POISSON_PPO))
    trainer = trainer_of(mod, seed=0)
    state = trainer.state
    _, _, _, data, _ = trainer.collect(state, jax.random.PRNGKey(3))
    _, means = policy_means(mod, state["theta"], state["fixed"], state["x"], data["obs"], data["start"],
                                trainer.x_reset, data["net_key"])
    logp = log_prob(means, state["theta"]["log_std"], data["action"])
    np.testing.assert_allclose(np.asarray(logp), np.asarray(data["logp"]), rtol=1e-5, atol=1e-5)
