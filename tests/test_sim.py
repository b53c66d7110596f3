"""`snndsl sim` and `snndsl.simulate`: specs without task/train, injected currents, input forms,
recording, located errors, the memory refusal, and a trained run simulated with its checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

import snndsl
from snndsl.cli import main
from tests.conftest import SPECS, generated, write_spec

# a leaky integrator with a port and a hard reset, no refractory period: the update is known exactly
LEAKY = """\
neuron Leaky {
    param tau_m = 10 ms
    param v_th  = 1
    state v = 0
    input i_ext
    dv/dt = (-v + i_ext) / tau_m
    spike when v > v_th
    on spike { v = 0 }
}
time { dt = 1 ms }
"""


def leaky_count(current: float, steps: int, tau=10.0, dt=1.0) -> int:
    """Spikes of one Leaky neuron under a constant current, by the exact step (drive held over dt)."""
    decay, v, n = np.exp(-dt / tau), 0.0, 0
    for _ in range(steps):
        v = current + (v - current) * decay
        if v > 1.0:
            n, v = n + 1, 0.0
    return n


def test_spec_without_task_and_train_checks_and_run_refuses(tmp_path, capsys):
    p = write_spec(tmp_path, LEAKY + "population cell = Leaky(2)\n")
    assert main(["check", str(p)]) == 0
    out = capsys.readouterr().out
    assert "can be simulated" in out and "not trained" in out
    for cmd in (["run", str(p)], ["emit", str(p)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert "E206" in err and "training needs a `task` and a `train` block" in err
        assert "snndsl sim" in err and "Traceback" not in err


def test_input_without_task_needs_size(tmp_path, capsys):
    p = write_spec(tmp_path, LEAKY + 'from "encoders" import current\ninput stim = current\n'
                                     "population cell = Leaky(2)\nproject stim -> cell.v { weights = dense(init = 1) }\n")
    assert main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "E206" in err and "needs `size = N`" in err and ":12:" in err  # at the input's line


def test_constant_current_gives_the_exact_spike_count(tmp_path):
    p = write_spec(tmp_path, LEAKY + "population cell = Leaky(3)\n")
    rec = snndsl.simulate(p, inputs={"cell.i_ext": "[0.5, 1.5, 3]"}, duration="200 ms")
    assert rec["cell.spikes"].shape == (200, 3) and rec["cell.spikes"].dtype == np.uint8
    counts = rec["cell.spikes"].sum(0).tolist()
    assert counts == [leaky_count(c, 200) for c in (0.5, 1.5, 3.0)]
    assert counts[0] == 0 and counts[2] > counts[1] > 0
    assert rec["cell.v"].max() <= 1.0 and np.isclose(rec["t"][-1], 200.0)


def test_injection_into_one_population_of_a_group(tmp_path):
    p = write_spec(tmp_path, LEAKY + "population a = Leaky(2)\npopulation b = Leaky(3)\ngroup g = [a, b]\n")
    rec = snndsl.simulate(p, inputs={"b.i_ext": "step(0, 2, at = 50 ms)"}, duration=100.0,
                          record=["a.spikes", "b.spikes", "b.v"])
    assert rec["a.spikes"].sum() == 0 and rec["b.spikes"].shape == (100, 3)
    assert rec["b.spikes"][:50].sum() == 0  # the step starts at 50 ms
    assert (rec["b.spikes"].sum(0) == leaky_count(2.0, 50)).all()


def test_input_node_fed_by_spike_times(tmp_path):
    p = write_spec(tmp_path, LEAKY + 'from "encoders" import current\ninput stim = current { size = 2 }\n'
                                     "population cell = Leaky(2)\n"
                                     "project stim -> cell.v { weights = dense(init = 2) }\n")
    rec = snndsl.simulate(p, inputs={"stim": "spikes(neuron = 1, times = [10 ms, 30 ms])"}, duration=50.0)
    s = rec["cell.spikes"]
    # input neuron 1's spike jumps every cell's v by 2 > v_th in that very step
    assert np.nonzero(s[:, 0])[0].tolist() == [10, 30] and (s[:, 0] == s[:, 1]).all()


def test_npy_input_with_a_wrong_shape_is_located(tmp_path, capsys):
    p = write_spec(tmp_path, LEAKY + "population cell = Leaky(3)\n")
    bad = tmp_path / "i.npy"
    np.save(bad, np.zeros((10, 4)))
    assert main(["sim", str(p), "--input", f"cell.i_ext={bad}", "-o", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert "<command line>:1:20: error[E501]" in err and "(10, 4)" in err and "Traceback" not in err
    good = tmp_path / "g.npy"
    np.save(good, np.full((100, 3), 1.5, np.float32))
    assert main(["sim", str(p), "--input", f"cell.i_ext={good}", "-o", str(tmp_path / "s.npz"), "--no-plot"]) == 0
    assert np.load(tmp_path / "s.npz")["cell.spikes"].sum(0).tolist() == [leaky_count(1.5, 100)] * 3


def test_unknown_names_and_bad_units(tmp_path, capsys):
    p = write_spec(tmp_path, 'from "neurons" import LIFPhysical\npopulation cell = LIFPhysical(2)\n')
    out = str(tmp_path / "s.npz")
    assert main(["sim", str(p), "--record", "cell.v,cell.spike", "-o", out]) == 2
    err = capsys.readouterr().err
    assert "E201" in err and "did you mean `cell.spikes`?" in err
    assert main(["sim", str(p), "--input", "cel.i_ext=1 nA", "-o", out]) == 2
    assert "did you mean `cell.i_ext`?" in capsys.readouterr().err
    assert main(["sim", str(p), "--input", "cell.i_ext=1 mV", "-o", out]) == 2
    err = capsys.readouterr().err
    assert "E301" in err and "current" in err and "Traceback" not in err


def test_recording_that_does_not_fit_is_refused(tmp_path, capsys, monkeypatch):
    import snndsl_runtime.simulate as rs

    p = write_spec(tmp_path, LEAKY + "population cell = Leaky(100)\n")
    monkeypatch.setattr(rs, "available_memory", lambda: 10_000)
    assert main(["sim", str(p), "--duration", "1", "s", "-o", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert "E852" in err and "more than the" in err and "shorter --duration" in err
    assert not (tmp_path / "s.npz").exists()


def test_sim_cli_writes_npz_and_png(tmp_path, capsys):
    out = tmp_path / "sim.npz"
    assert main(["sim", str(SPECS / "sim_lif_step.snn"), "--duration", "200", "ms",
                 "--input", "cell.i_ext=step(0 nA, 0.3 nA, at = 50 ms)", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    rec = np.load(out)
    assert set(rec.files) == {"cell.spikes", "cell.v", "t"} and rec["cell.v"].shape == (2000, 3)
    assert rec["cell.spikes"][:500].sum() == 0 and rec["cell.spikes"].sum() > 0
    assert (tmp_path / "sim.png").stat().st_size > 1000
    assert "spikes" in err and "mean rate" in err


def test_network_step_external_matches_training_step():
    """Without injection the simulator's steps are forward_step's (same spikes on a digits sample)."""
    import jax

    from snndsl_runtime.simulate import simulate
    from snndsl.simulation import initial_params

    m = generated(SPECS / "surrogate_digits.snn")
    net = initial_params(m, 0)
    x = np.linspace(0, 16, m.IN_SIZE).astype(np.float32)
    rec = simulate(m, net, {m.INPUT: x}, m.STEPS * m.SUBSTEPS * m.DT, record=["hidden.spikes"], seed=0)
    w, bp, bc = net
    k_init, k_run = jax.random.split(jax.random.PRNGKey(0))
    state = m.init_state(k_init, bp)
    rows = []
    for t in range(m.STEPS):
        state, _, s = m.forward_step(w, bp, bc, state, {m.INPUT: x}, jax.random.fold_in(k_run, t), record=True)
        rows.append(np.asarray(s))
    assert (rec["hidden.spikes"] == (np.concatenate(rows) != 0)).all()


@pytest.mark.slow
def test_sim_of_a_trained_digits_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", str(SPECS / "surrogate_digits.snn"), "--set", "train.epochs=1", "--out", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "s.npz"
    assert main(["sim", str(run), "--sample", "0", "-o", str(out)]) == 0  # the output is recorded by default
    err = capsys.readouterr().err
    assert "test sample 0: label" in err and "predicted class" in err
    rec = np.load(out)
    assert rec["logits.value"].shape[1] == 10 and (tmp_path / "s.png").exists()  # the plot is named after it


def test_threshold_line_only_on_the_membrane(tmp_path, monkeypatch):
    """sim.png draws v_th on the membrane's panel, not on another state's (whose scale it would crush)."""
    import matplotlib.axes

    from snndsl_runtime.simulate import plot

    lines = []
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline", lambda self, y, **kw: lines.append((self.get_ylabel(), y)))
    t = np.arange(1, 11) * 0.5
    rec = {"t": t, "a.v": np.zeros((10, 1)), "a.w": np.zeros((10, 1)), "a.spikes": np.zeros((10, 1), np.uint8)}
    plot(tmp_path / "p.png", rec, {"a": -40.0}, membranes={"a": "v"}, dt=0.5)
    assert [y for _, y in lines] == [-40.0]
