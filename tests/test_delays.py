"""Synaptic delays of more than one step: a spike at step k arrives at step k + d (hand-computed),
the rounding warning, STOP's refusal, and the surrogate gradient through the delay buffer against
an unrolled reference without a buffer (spikes kept in a Python list)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snndsl
from snndsl import compile_spec
from snndsl.cli import main
from snndsl_runtime.network import init_parameters, network
from tests.conftest import generated, write_spec

# `Pulse` spikes in the step its port is above 0.5; `Acc` only adds up what arrives (it never spikes),
# so its v after step t is the sum of the weights of the spikes delivered up to t
CELLS = """\
neuron Pulse {
    state v = 0
    input i_ext
    step { v <- i_ext }
    spike when v > 0.5
    on spike { v = 0 }
}
neuron Acc {
    param v_th = 1000
    state v = 0
    step { v <- v }
    spike when v > v_th
    on spike { v = 0 }
}
time { dt = 0.5 ms }
population a = Pulse(1)
population b = Acc(1)
"""


@pytest.mark.parametrize("delay,steps", [("0", 0), ("1", 1), ("2", 2), ("3 ms", 6), ("4", 4)])
def test_a_spike_at_step_k_arrives_at_step_k_plus_d(tmp_path, delay, steps):
    p = write_spec(tmp_path, CELLS + f"project a -> b.v {{ weights = dense(init = 1.5); delay = {delay} }}\n")
    k, n = 3, 16
    pulse = np.zeros((n, 1))
    pulse[k] = 1.0
    rec = snndsl.simulate(p, inputs={"a.i_ext": pulse}, duration=n * 0.5, record=["a.spikes", "b.v"])
    assert rec["a.spikes"][:, 0].tolist() == [int(t == k) for t in range(n)]
    expected = [1.5 if t >= k + steps else 0.0 for t in range(n)]
    np.testing.assert_array_equal(rec["b.v"][:, 0], expected)


def test_two_delays_from_one_source_share_its_buffer(tmp_path):
    p = write_spec(tmp_path, CELLS + "population c = Acc(1)\n"
                                     "project a -> b.v { weights = dense(init = 1); delay = 2 }\n"
                                     "project a -> c.v { weights = dense(init = 1); delay = 5 }\n"
                                     "project a -> b.v { weights = dense(init = 10); delay = 4 }\n")
    pulse = np.zeros((12, 1))
    pulse[1] = 1.0
    rec = snndsl.simulate(p, inputs={"a.i_ext": pulse}, duration=6.0, record=["b.v", "c.v"])
    assert rec["b.v"][:, 0].tolist() == [0, 0, 0, 1, 1, 11, 11, 11, 11, 11, 11, 11]
    assert rec["c.v"][:, 0].tolist() == [0] * 6 + [1] * 6
    m = generated(p)
    assert m.init_state(jax.random.PRNGKey(0), None)["a"]["s_past"].shape == (4, 1)  # the longest delay - 1


def test_delay_not_on_the_grid_is_rounded_with_a_warning(tmp_path):
    p = write_spec(tmp_path, CELLS + "project a -> b.v { weights = dense(init = 1); delay = 1.2 ms }\n")
    spec, diags, _ = compile_spec(str(p))
    w = [d for d in diags if d.code == "W403"]
    assert len(w) == 1 and not any(d.is_error for d in diags)
    assert "1.2 ms is 2.4 steps of 0.5 ms; it is rounded to 2 (1 ms)" in w[0].message
    assert w[0].span.line == 18 and spec.projections[0].delay == 2


def test_bad_delays_are_located(tmp_path, capsys):
    for text, code, words in [("delay = 2.5", "E403", "whole number"), ("delay = -1", "E401", "0 to"),
                              ('delay = "x"', "E404", "number of network steps")]:
        p = write_spec(tmp_path, CELLS + f"project a -> b.v {{ weights = dense(init = 1); {text} }}\n")
        assert main(["check", str(p)]) == 2
        err = capsys.readouterr().err
        assert f"error[{code}]" in err and words in err and "spec.snn:18:" in err and "Traceback" not in err


DIGITS = """\
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 6 }
task digits { }
input pixels = current
population a = LIF(12) { v_th = 0.3 }
population b = LIF(10) { v_th = 0.3 }
output logits = instant(b)
project pixels -> a.v { weights = dense(init = normal(0, 0.5)); learn w }
project a -> b.v { weights = dense(init = normal(0, 1)); delay = 2; learn w }
project b -> b.v { weights = dense(init = normal(0, 0.3)); delay = 3; learn w }
project b -> logits { weights = dense(init = lecun); learn w }
train RULE { batch_size = 4 }
"""


def test_stop_refuses_a_long_delay(tmp_path):
    p = write_spec(tmp_path, DIGITS.replace("RULE", "stop"))
    _, diags, _ = compile_spec(str(p))
    e = [d for d in diags if d.code == "E607"]
    assert [d.span.line for d in e] == [11, 12]
    assert "arrive 2 steps late" in e[0].message and "train surrogate" in e[0].hint


def test_evolution_runs_a_long_delay(tmp_path):
    """ES perturbs weights and runs the same network_step: the buffer is part of each member's state."""
    p = write_spec(tmp_path, CELLS + "project a -> b.v { weights = dense(init = 1); delay = 3 }\n")
    m = generated(p)
    w, bp, bc = network(m, *init_parameters(m, jax.random.PRNGKey(0)))
    x = jax.vmap(lambda k: m.init_state(k, bp))(jax.random.split(jax.random.PRNGKey(1), 5))
    step = jax.vmap(lambda x, i: m.network_step(w, bp, bc, x, {}, external={"a": {"i_ext": i}}))
    vs = []
    for t in range(6):
        x = step(x, jnp.full((5, 1), 1.0 if t == 0 else 0.0))
        vs.append(np.asarray(x["b"]["v"][:, 0]))
    np.testing.assert_array_equal(np.stack(vs)[:, 0], [0, 0, 0, 1, 1, 1])


def _unrolled_loss(m, theta, fixed, xb, yb):
    """The network of DIGITS stepped by hand: delayed spikes are taken from a list of every step's
    spikes (no buffer), the surrogate spike and soft reset as the model's; mean per-step cross-entropy."""
    from snndsl_runtime.trainers.gradient import cross_entropy

    w, bp, _ = network(m, theta, fixed)
    decay_a, decay_b = jnp.exp(-1.0 / bp["a"]["tau_m"]), jnp.exp(-1.0 / bp["b"]["tau_m"])

    def one(image, label):
        va, vb = jnp.zeros(12), jnp.zeros(10)
        sa, sb, loss = [jnp.zeros(12)] * 3, [jnp.zeros(10)] * 3, 0.0
        for _ in range(m.STEPS):
            va = decay_a * va + image @ w["w0"]
            za = m.spike(va - 0.3)
            va = va - m.reset_gate(za) * 0.3
            vb = decay_b * vb + sa[-2] @ w["w1"] + sb[-3] @ w["w2"]  # spikes of 2 and 3 steps back
            zb = m.spike(vb - 0.3)
            vb = vb - m.reset_gate(zb) * 0.3
            sa, sb = sa + [za], sb + [zb]
            loss = loss + cross_entropy(zb @ w["w3"], label)
        return loss / m.STEPS

    return jnp.mean(jax.vmap(one)(xb, yb))


def test_surrogate_gradient_through_the_delay_matches_an_unrolled_reference(tmp_path):
    from snndsl_runtime.tasks.datasets import load_task
    from snndsl_runtime.trainers.bptt import sequence_loss
    from snndsl_runtime.trainers.gradient import loss_weights

    m = generated(write_spec(tmp_path, DIGITS.replace("RULE", "surrogate")))
    theta, fixed = init_parameters(m, jax.random.PRNGKey(2))
    x_train, y_train = load_task(m, m.CONFIG["task"])["train"]
    xb, yb = jnp.asarray(x_train[:4]), jnp.asarray(y_train[:4])
    key = jax.random.PRNGKey(0)

    def model_loss(th):
        return sequence_loss(m, jnp.asarray(loss_weights("per_step", m.STEPS)), th, fixed, xb, yb, key)[0]

    g_model = jax.grad(model_loss)(theta)
    g_ref = jax.grad(lambda th: _unrolled_loss(m, th, fixed, xb, yb))(theta)
    np.testing.assert_allclose(model_loss(theta), _unrolled_loss(m, theta, fixed, xb, yb), rtol=1e-6)
    for k in ("w1", "w2"):  # through the buffer: nonzero, and equal to the reference's
        assert np.abs(g_ref[k]).max() > 0, k
        np.testing.assert_allclose(g_model[k], g_ref[k], rtol=1e-5, atol=1e-7)


def test_the_memory_estimate_counts_the_buffer(tmp_path):
    from snndsl.lower import estimate, lower

    def state_bytes(delay):
        p = write_spec(tmp_path, CELLS.replace("Pulse(1)", "Pulse(10)") +
                       f"project a -> b.v {{ weights = dense(init = 1); delay = {delay} }}\n")
        return estimate(lower(snndsl.load(str(p)))).terms["network state"]

    assert state_bytes(7) - state_bytes(1) == 6 * 10 * 4  # six more rows of 10 float32 spikes


def test_a_projection_from_a_population_that_does_not_spike_is_located(tmp_path, capsys):
    """It carries no spikes to delay or deliver (this was an internal error)."""
    p = write_spec(tmp_path, 'from "neurons" import LI, LIF\ntime { dt = 1 ms }\npopulation a = LI(2)\n'
                             "population b = LIF(2)\nproject a -> b.v { weights = dense(init = 1); delay = 2 }\n")
    assert main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "error[E502]" in err and "`a` (LI) does not spike" in err and "spec.snn:5:9:" in err
