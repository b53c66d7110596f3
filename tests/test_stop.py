"""STOP against jax.grad through the unrolled network.  `pytest -k "stop and exact"` selects the
exactness tests: T = 1 at any depth, and one hidden layer at any T, for weights, thresholds and leaks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime import train
from snndsl_runtime.network import init_parameters
from snndsl_runtime.tasks.datasets import load_task
from snndsl_runtime.trainers.gradient import cross_entropy, loss_weights, run_sequence
from snndsl_runtime.trainers.stop import stop_gradients

from .conftest import SPECS, generated, trainer_of, write_spec

ONE_LAYER = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = STEPS }
task digits { }
input pixels = current
population hidden = LIF(32) { tau_m = 3 ms; v_th = 0.3; learn v_th per neuron; learn tau_m per population }
output logits = instant(hidden)
project pixels -> hidden.v { weights = dense(init = normal(0, 0.4)); learn w }
project hidden -> logits   { weights = dense(init = lecun); learn w }
train stop { batch_size = 8; loss = LOSS; surrogate = fast_sigmoid(slope = 5) }
"""

TWO_LAYERS = ONE_LAYER.replace(
    "population hidden = LIF(32)",
    "population h0 = LIF(24) { tau_m = 3 ms; v_th = 0.3; learn v_th per neuron; learn tau_m per population }\n"
    "population hidden = LIF(32)").replace(
    "project pixels -> hidden.v", "project pixels -> h0.v { weights = dense(init = normal(0, 0.4)); learn w }\n"
    "project h0 -> hidden.v")

# a neuron with two state variables: traces are kept per state variable of the target
CURRENT_BASED = ONE_LAYER.replace('from "neurons" import LIF\n', """
neuron SoftCuba {
    param tau_m = 4 ms
    param tau_syn = 2 ms
    param v_th = 0.3
    state i_syn = 0
    state v = 0
    di_syn/dt = -i_syn / tau_syn
    dv/dt = (i_syn - v) / tau_m
    spike when v > v_th
    on spike { v -= v_th }
}
""").replace("LIF(32) { tau_m = 3 ms; v_th = 0.3;", "SoftCuba(32) { learn tau_syn per population;").replace(
    "pixels -> hidden.v { weights = dense(init = normal(0, 0.4))", "pixels -> hidden.i_syn { weights = dense(init = normal(0, 0.8))")


def _grads(tmp_path, text, steps, loss="per_step"):
    spec = write_spec(tmp_path, text.replace("STEPS", str(steps)).replace("LOSS", loss))
    mod = generated(spec)
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    x_train, y_train = load_task(mod, mod.CONFIG["task"])["train"]
    xb, yb = jnp.asarray(x_train[:8]), jnp.asarray(y_train[:8])
    key = jax.random.PRNGKey(5)
    weights = loss_weights(mod.CONFIG["train"]["loss"], mod.STEPS)
    g_stop, loss_stop, _, _ = jax.jit(lambda *a: stop_gradients(mod, weights, *a))(theta, fixed, xb, yb, key)

    def unrolled_loss(theta):  # the same network, differentiated through time by jax.grad
        keys = jax.random.split(key, xb.shape[0])
        outs = jax.vmap(lambda image, k: run_sequence(mod, theta, fixed, image, k))(xb, keys)
        w = jnp.asarray(weights)
        return jnp.mean(jax.vmap(lambda o, y: w @ jax.vmap(cross_entropy, (0, None))(o, y))(outs, yb))

    loss_bptt, g_bptt = jax.value_and_grad(unrolled_loss)(theta)
    np.testing.assert_allclose(loss_stop, loss_bptt, rtol=1e-6)
    return g_stop, g_bptt


def _rel(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def _assert_equal(g_stop, g_bptt, keys):
    for k in keys:
        assert np.linalg.norm(np.ravel(g_bptt[k])) > 0 or k.endswith("tau_m"), f"{k}: zero gradient, vacuous test"
        assert _rel(g_stop[k], g_bptt[k]) < 1e-5, (k, _rel(g_stop[k], g_bptt[k]))


@pytest.mark.slow
def test_stop_exact_T1_any_depth(tmp_path):
    g_stop, g_bptt = _grads(tmp_path, TWO_LAYERS, steps=1)
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


@pytest.mark.parametrize("loss", ["per_step", "final"])
def test_stop_exact_one_hidden_layer(tmp_path, loss):
    g_stop, g_bptt = _grads(tmp_path, ONE_LAYER, steps=8, loss=loss)
    assert set(g_bptt) == {"w0", "w1", "hidden.v_th", "hidden.tau_m"}
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_stop_exact_one_hidden_layer_two_state_neuron(tmp_path):
    g_stop, g_bptt = _grads(tmp_path, CURRENT_BASED, steps=8)
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_stop_deeper_net_is_approximate_but_aligned(tmp_path):
    """Two hidden layers, T = 8: the last hidden layer stays exact; the first is only aligned
    (STOP drops paths through the second layer's membrane memory)."""
    g_stop, g_bptt = _grads(tmp_path, TWO_LAYERS, steps=8)
    _assert_equal(g_stop, g_bptt, ["w1", "w2", "hidden.v_th", "hidden.tau_m"])
    a, b = np.ravel(g_stop["w0"]), np.ravel(g_bptt["w0"])
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.9
    assert _rel(a, b) > 1e-3  # really approximate: the test would notice if STOP became BPTT


@pytest.mark.slow
def test_stop_digits_learns(tmp_path):
    mod = generated(SPECS / "stop_digits.snn")
    rows = train(mod, out_dir=str(tmp_path), sets=["train.epochs=3"])
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["test_accuracy"] > 0.9 and rows[-1]["train_loss"] < rows[0]["train_loss"]


@pytest.mark.slow
def test_stop_online_updates_with_a_cosine_schedule_keep_learning(tmp_path):
    """update = online takes one optimizer step per time step: the schedule must span all of them
    (it once ran out after 1/T of training, and the second epoch changed nothing)."""
    mod = generated(SPECS / "stop_digits.snn", ["train.update=online", "time.steps=4"])
    assert trainer_of(mod).updates_per_batch() == 4
    rows = train(mod, out_dir=str(tmp_path), sets=["train.epochs=2", "train.batch_size=256"])
    assert rows[1]["param_norm"] != rows[0]["param_norm"]
    assert rows[1]["train_loss"] < rows[0]["train_loss"] and rows[1]["test_accuracy"] > 0.8
