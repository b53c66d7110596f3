"""Per-neuron parameters drawn once per run (`tau_m = uniform(5 ms, 20 ms)`, normal, file): where
they are kept (the trainer state's `fixed`), their units and bounds, the exact propagator per
neuron against the closed form, learnables that start from a draw, STOP (a drawn threshold is
exact against jax.grad; a drawn leak is refused), and `snndsl sim` / `snndsl export` using them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest

import snndsl
from snndsl import compile_spec
from snndsl.cli import main
from snndsl_runtime.network import init_parameters, network, tau_from_raw
from tests.conftest import generated, write_spec

HEAD = """\
from "neurons" import LIF, CubaLIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 4 }
task digits { }
input pixels = current
"""
TAIL = """\
output logits = instant(hidden)
project pixels -> hidden.v { weights = dense(init = kaiming); learn w }
project hidden -> logits   { weights = dense(init = lecun); learn w }
train RULE { epochs = 1; batch_size = 8 }
"""


def _spec(tmp_path, body, rule="surrogate", name="spec.snn"):
    return write_spec(tmp_path, HEAD + f"population hidden = LIF(16) {{ {body} }}\n" + TAIL.replace("RULE", rule),
                      name)


def _diags(path):
    return compile_spec(str(path))[1]


def test_draws_are_per_neuron_in_fixed_and_follow_the_seed(tmp_path):
    m = generated(_spec(tmp_path, "tau_m = uniform(5 ms, 20 ms); v_th = normal(1, 0.1)"))
    assert set(m.DRAWN_PARAMS) == {"hidden.tau_m", "hidden.v_th"} and not m.NEURON_PARAMS
    theta, fixed = init_parameters(m, jax.random.PRNGKey(0))
    tau = np.asarray(fixed["hidden.tau_m"])
    assert tau.shape == (16,) and tau.min() >= 5 and tau.max() <= 20 and np.ptp(tau) > 3
    v_th = np.asarray(fixed["hidden.v_th"])
    assert abs(v_th.mean() - 1) < 0.1 and 0.03 < v_th.std() < 0.3
    again = init_parameters(m, jax.random.PRNGKey(0))[1]["hidden.tau_m"]
    other = init_parameters(m, jax.random.PRNGKey(1))[1]["hidden.tau_m"]
    assert np.array_equal(again, tau) and not np.allclose(other, tau)
    _, bp, bc = network(m, theta, fixed)
    np.testing.assert_array_equal(bp["hidden"]["tau_m"], tau)
    np.testing.assert_allclose(bc["hidden"]["decay_v"], np.exp(-1.0 / tau), rtol=1e-6)  # exact, per neuron


def test_drawn_leaks_of_a_coupled_system_are_exact_per_neuron(tmp_path):
    """CubaLIF (i_syn feeds v: one propagator per neuron) with both time constants drawn, against the
    closed-form solution of di/dt = -i/ts, dv/dt = (i + i_in - v)/tm over one step."""
    p = write_spec(tmp_path, HEAD + "population hidden = CubaLIF(16) { tau_m = uniform(4 ms, 12 ms); "
                                    "tau_syn = uniform(1 ms, 3 ms); v_th = 100 }\n"
                   + TAIL.replace("hidden.v {", "hidden.i_in {").replace("RULE", "surrogate"))
    m = generated(p)
    _, bp, bc = network(m, *init_parameters(m, jax.random.PRNGKey(3)))
    tm, ts = np.asarray(bp["hidden"]["tau_m"], float), np.asarray(bp["hidden"]["tau_syn"], float)
    assert np.ptp(tm) > 1 and np.ptp(ts) > 0.3
    rng = np.random.default_rng(0)
    i0, v0, i_in = rng.normal(size=16), rng.normal(size=16), rng.normal(size=16)
    drive = {k: jnp.zeros(16) for k in m.BLOCKS["hidden"]["drive"]}
    drive["i_in"] = jnp.asarray(i_in, jnp.float32)
    x = {"i_syn": jnp.asarray(i0, jnp.float32), "v": jnp.asarray(v0, jnp.float32)}
    new = m.BLOCKS["hidden"]["integrate"](x, drive, bp["hidden"], bc["hidden"])
    dt = 1.0
    c = i0 * ts / (ts - tm)
    v_ref = i_in + (v0 - i_in - c) * np.exp(-dt / tm) + c * np.exp(-dt / ts)
    np.testing.assert_allclose(new["i_syn"], i0 * np.exp(-dt / ts), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["v"], v_ref, rtol=1e-5, atol=1e-6)


def test_units_and_positivity_of_a_draw_are_checked(tmp_path, capsys):
    for body, code, words in [("tau_m = uniform(5, 20)", "E303", "needs units of time"),
                              ("tau_m = uniform(5 ms, 20 mV)", "E303", "needs units of time"),
                              ("tau_m = uniform(0 ms, 5 ms)", "E402", "as low as 0 ms"),
                              ("tau_m = uniform(6 ms, 5 ms)", "E401", "low <= high"),
                              ("tau_m = normal(5 ms, -1 ms)", "E401", "standard deviation"),
                              ("tau_m = gamma(5 ms, 1 ms)", "E305", "normal(mean, sd)"),
                              ("tau_m = unifrm(5 ms, 9 ms)", "E305", "did you mean `uniform`?")]:
        p = _spec(tmp_path, body)
        assert main(["check", str(p)]) == 2, body
        err = capsys.readouterr().err
        assert f"error[{code}]" in err and words in err and "spec.snn:7:" in err and "Traceback" not in err, err


def test_normal_time_constant_is_clipped_at_a_tenth_of_its_mean(tmp_path):
    p = _spec(tmp_path, "tau_m = normal(4 ms, 3 ms)")
    w = [d for d in _diags(p) if d.code == "W404"]
    assert len(w) == 1 and "below 0.4 ms; they are clipped there" in w[0].message and w[0].span.line == 7
    assert not [d for d in _diags(_spec(tmp_path, "tau_m = normal(10 ms, 1 ms)", name="narrow.snn")) if d.code == "W404"]
    m = generated(p)
    tau = np.concatenate([np.asarray(init_parameters(m, jax.random.PRNGKey(s))[1]["hidden.tau_m"])
                          for s in range(20)])
    assert tau.min() == pytest.approx(0.4) and (tau == np.float32(0.4)).sum() > 5  # some were clipped
    assert (tau > 0.4).mean() > 0.8


def test_file_values_are_read_exactly_and_checked(tmp_path, capsys):
    values = np.linspace(3, 9, 16).astype(np.float32)
    np.savez(tmp_path / "p.npz", tau=values, short=values[:5])
    m = generated(_spec(tmp_path, 'tau_m = file("p.npz", "tau")'))
    np.testing.assert_array_equal(init_parameters(m, jax.random.PRNGKey(0))[1]["hidden.tau_m"], values)
    for body, code, words in [('tau_m = file("p.npz", "short")', "E501", "has shape (5,), but population"),
                              ('tau_m = file("p.npz", "tua")', "E203", "did you mean `tau`?"),
                              ('tau_m = file("q.npz", "tau")', "E003", "cannot read the file q.npz")]:
        assert main(["check", str(_spec(tmp_path, body))]) == 2
        err = capsys.readouterr().err
        assert f"error[{code}]" in err and words in err and "spec.snn:7:" in err, err
    np.savez(tmp_path / "p.npz", tau=-values)
    assert main(["check", str(_spec(tmp_path, 'tau_m = file("p.npz", "tau")'))]) == 2
    assert "error[E402]" in capsys.readouterr().err


def test_a_learnable_starts_from_its_draw_per_neuron(tmp_path):
    m = generated(_spec(tmp_path, "tau_m = uniform(5 ms, 20 ms); learn tau_m per neuron { bounds = [6 ms, 30 ms] }"))
    assert not m.DRAWN_PARAMS and m.NEURON_PARAMS["hidden.tau_m"]["init"] == ("uniform", 5.0, 20.0)
    theta, fixed = init_parameters(m, jax.random.PRNGKey(0))
    tau = np.asarray(tau_from_raw(theta["hidden.tau_m"], m.DT))
    assert tau.shape == (16,) and np.ptp(tau) > 3 and tau.min() >= 6 - 1e-3 and tau.max() <= 20 + 1e-3
    e = [d for d in _diags(_spec(tmp_path, "tau_m = uniform(5 ms, 20 ms); learn tau_m")) if d.code == "E608"]
    assert len(e) == 1 and "learned per population" in e[0].message and "per neuron" in e[0].hint


def test_stop_refuses_a_drawn_leak(tmp_path):
    e = [d for d in _diags(_spec(tmp_path, "tau_m = uniform(2 ms, 4 ms)", "stop")) if d.is_error]
    assert [d.code for d in e] == ["E605"] and "drawn per neuron" in e[0].message and e[0].span.line == 7


def test_stop_with_a_drawn_threshold_is_exact(tmp_path):
    """The threshold is not part of the traces' dynamics, so a per-neuron draw keeps STOP exact (one
    hidden layer) against jax.grad through the unrolled network."""
    from tests.test_stop import ONE_LAYER, _assert_equal, _grads

    text = ONE_LAYER.replace("v_th = 0.3; learn v_th per neuron;", "v_th = uniform(0.2, 0.4);")
    g_stop, g_bptt = _grads(tmp_path, text, steps=6)
    assert set(g_bptt) == {"w0", "w1", "hidden.tau_m"}
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_sim_and_nir_export_use_the_drawn_values(tmp_path):
    p = _spec(tmp_path, "tau_m = uniform(5 ms, 20 ms); v_th = uniform(0.5, 1.5)")
    m = generated(p)
    fixed = init_parameters(m, jax.random.PRNGKey(4))[1]
    snndsl.export_nir(p, tmp_path / "net.nir", seed=4)
    lif = nir.read(str(tmp_path / "net.nir")).nodes["hidden"]
    np.testing.assert_allclose(lif.tau, np.asarray(fixed["hidden.tau_m"]) / 1000, rtol=1e-6)  # seconds
    np.testing.assert_allclose(lif.v_threshold, fixed["hidden.v_th"], rtol=1e-6)
    # one neuron's membrane under a constant input: v <- exp(-dt/tau_j) v + I, reset by its own v_th
    x = np.full(64, 0.3)
    rec = snndsl.simulate(p, inputs={"pixels": x}, duration="4 ms", record=["hidden.v"], seed=4)
    w, bp, _ = network(m, *init_parameters(m, jax.random.PRNGKey(4)))
    current = np.asarray(x @ np.asarray(w["w0"]), float)
    tau, th = np.asarray(fixed["hidden.tau_m"], float), np.asarray(fixed["hidden.v_th"], float)
    v, rows = np.zeros(16), []
    for _ in range(4):
        v = np.exp(-1 / tau) * v + current
        v = v - th * (v > th)
        rows.append(v)
    np.testing.assert_allclose(rec["hidden.v"], np.stack(rows), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_run_keeps_its_draws_through_checkpoint_resume_and_export(tmp_path):
    p = _spec(tmp_path, "tau_m = uniform(5 ms, 20 ms); learn v_th per neuron")
    run = tmp_path / "run"
    assert main(["run", str(p), "--out", str(run), "--seed", "3"]) == 0
    ck = np.load(run / "checkpoint.npz")
    tau = ck["state/fixed/hidden.tau_m"]
    np.testing.assert_array_equal(ck["network/block/hidden/tau_m"], tau)
    assert main(["run", str(p), "--out", str(run), "--resume", "--set", "train.epochs=2"]) == 0
    np.testing.assert_array_equal(np.load(run / "checkpoint.npz")["state/fixed/hidden.tau_m"], tau)
    snndsl.export_nir(run, tmp_path / "run.nir")
    np.testing.assert_allclose(nir.read(str(tmp_path / "run.nir")).nodes["hidden"].tau, tau / 1000, rtol=1e-6)


def test_nir_round_trip_keeps_per_neuron_values_and_delays(tmp_path):
    """Export writes per-neuron arrays (and a long delay in metadata, W862); import reads both back
    (the arrays through `file(...)`), so the imported spec simulates the same spikes."""
    p = write_spec(tmp_path, HEAD.replace("task digits { }\n", "") .replace("input pixels = current",
                   "input pixels = current { size = 6 }") +
                   "population h0 = LIF(8) { tau_m = uniform(2 ms, 6 ms); v_th = uniform(0.3, 0.6) }\n"
                   "population hidden = LIF(5) { v_th = 0.4 }\n"
                   "project pixels -> h0.v { weights = dense(init = normal(0.5, 0.5)) }\n"
                   "project h0 -> hidden.v { weights = dense(init = normal(0.3, 0.5)); delay = 3 }\n",
                   "orig.snn")
    diags = snndsl.export_nir(p, tmp_path / "net.nir", seed=2)
    assert any(d.code == "W862" and "3 steps late" in d.message for d in diags)
    spec2, npz = snndsl.import_nir(tmp_path / "net.nir", tmp_path / "imported.snn")
    text = open(spec2).read()
    assert 'tau_m = file("imported.npz"' in text and "delay = 3" in text
    x = np.random.default_rng(0).random((20, 6))
    rec = ["h0.spikes", "hidden.spikes", "hidden.v"]
    a = snndsl.simulate(p, inputs={"pixels": x}, duration="20 ms", record=rec, seed=2)
    b = snndsl.simulate(spec2, inputs={"pixels": x}, duration="20 ms", record=rec)
    assert a["h0.spikes"].sum() > 10 and a["hidden.spikes"].sum() > 0
    for k in rec:
        np.testing.assert_allclose(np.asarray(a[k], float), np.asarray(b[k], float), atol=1e-5, err_msg=k)


def test_a_group_concatenates_drawn_learned_and_constant_members(tmp_path):
    p = write_spec(tmp_path, HEAD + "population a = LIF(5) { tau_m = uniform(5 ms, 9 ms) }\n"
                                    "population b = LIF(3) { tau_m = 4 ms; learn tau_m per neuron }\n"
                                    "population c = LIF(4) { tau_m = 7 ms; v_th = file(\"th.npz\", \"th\") }\n"
                                    "group hidden = [a, b, c]\n" + TAIL.replace("RULE", "surrogate"))
    np.savez(tmp_path / "th.npz", th=np.array([0.5, 1.0, 1.5, 2.0]))
    m = generated(p)
    theta, fixed = init_parameters(m, jax.random.PRNGKey(0))
    _, bp, bc = network(m, theta, fixed)
    tau = np.asarray(bp["hidden"]["tau_m"])
    np.testing.assert_allclose(tau[:5], fixed["a.tau_m"])
    np.testing.assert_allclose(tau[5:8], 4.0, rtol=1e-5)
    np.testing.assert_allclose(tau[8:], 7.0)
    np.testing.assert_allclose(bp["hidden"]["v_th"], [1] * 8 + [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(bc["hidden"]["decay_v"], np.exp(-1.0 / tau), rtol=1e-6)
