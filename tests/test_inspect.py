"""`snndsl inspect RUN_DIR`: a run's learned quantities by name and in physical units, checked
against values written into a checkpoint by hand."""

import json
import shutil

import numpy as np
import pytest

from .conftest import SPECS, generated, write_spec

GROUPED = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 0.5 ms; steps = 4 }
task digits { }
input pixels = current
population a = LIF(8) {
    tau_m = 3 ms
    learn v_th per neuron { bounds = [0.1, 4] }
    learn tau_m per population { bounds = [0.5 ms, 50 ms] }
}
population b = LIF(4) { tau_m = 6 ms }
group hidden = [a, b]
output logits = instant(hidden)
project pixels -> hidden.v { weights = dense(init = kaiming); learn w }
project hidden -> hidden.v { weights = sparse(p = 0.25, init = normal(0, 0.1)) }
project hidden -> logits   { weights = dense(init = lecun); learn w }
train surrogate { epochs = 1 }
"""


def make_run(tmp_path, model, theta, fixed, step=3, config=None):
    """A run folder as `snndsl run` leaves it: train.py, config.json and a checkpoint of (theta, fixed)."""
    from snndsl_runtime.checkpoint import save_checkpoint
    from snndsl_runtime.loop import file_hash

    out = tmp_path / "run"
    out.mkdir()
    shutil.copyfile(model.__file__, out / "train.py")
    cfg = config or model.CONFIG
    (out / "config.json").write_text(json.dumps({"config": cfg, "seed": 0, "model_sha256": file_hash(out / "train.py")}))
    save_checkpoint(str(out / "checkpoint.npz"), {"theta": theta, "fixed": fixed},
                    {"step": step, "spec": model.SPEC_NAME, "rule": model.RULE, "config": cfg})
    return out


@pytest.fixture
def grouped(tmp_path):
    import jax

    from snndsl_runtime.network import init_parameters, tau_to_raw

    model = generated(write_spec(tmp_path, GROUPED, "grouped.snn"))
    theta, fixed = init_parameters(model, jax.random.PRNGKey(0))
    theta = {k: np.asarray(v) for k, v in theta.items()}
    fixed = {k: np.asarray(v) for k, v in fixed.items()}
    theta["a.v_th"] = np.linspace(0.5, 1.5, 8).astype(np.float32)
    theta["a.tau_m"] = np.float32(tau_to_raw(7.5, model.DT))  # stored raw: 7.5 ms in the report
    return model, theta, fixed, make_run(tmp_path, model, theta, fixed)


def _param(report, pop, name):
    p = next(p for p in report["populations"] if p["population"] == pop)
    return next(q for q in p["parameters"] if q["name"] == name)


def test_inspect_reports_learned_thresholds_and_leaks_in_ms(grouped):
    from snndsl_runtime.inspection import inspect_run

    model, theta, fixed, out = grouped
    report, _ = inspect_run(model, str(out))
    assert report["step"] == 3 and report["unit"] == "epoch"
    tau = _param(report, "a", "tau_m")
    assert tau["role"] == "time constant" and tau["learned"] and tau["unit"] == "ms"
    assert tau["mean"] == pytest.approx(7.5, rel=1e-5) and not tau["per_neuron"]
    v_th = _param(report, "a", "v_th")
    assert v_th["role"] == "threshold" and v_th["learned"] and v_th["per_neuron"]
    assert (v_th["mean"], v_th["min"], v_th["max"], v_th["n"]) == pytest.approx((1.0, 0.5, 1.5, 8))
    # population b shares the block but not the learned parameters: its own fixed values
    tau_b = _param(report, "b", "tau_m")
    assert not tau_b["learned"] and tau_b["mean"] == pytest.approx(6.0) and tau_b["unit"] == "ms"
    assert not _param(report, "b", "v_th")["learned"]


def test_inspect_weight_statistics_by_hand(grouped):
    from snndsl_runtime.inspection import inspect_run

    model, theta, fixed, out = grouped
    report, _ = inspect_run(model, str(out))
    rows = {r["projection"]: r for r in report["projections"]}
    w = theta["w0"].astype(np.float64)
    row = rows["pixels->hidden.v"]
    assert row["learned"] and row["weights"]["mean"] == pytest.approx(w.mean())
    assert row["weights"]["sd"] == pytest.approx(w.std()) and row["nonzero"] == pytest.approx(np.mean(w != 0))
    sparse = rows["hidden->hidden.v"]
    masked = fixed["w1"] * fixed["m1"]
    assert not sparse["learned"] and sparse["nonzero"] == pytest.approx(np.mean(masked != 0))
    assert 0.05 < sparse["nonzero"] < 0.5 and sparse["sparsity"] == pytest.approx(1 - sparse["nonzero"])


def test_inspect_connection_probabilities_of_an_ec_run(tmp_path):
    import jax

    from snndsl_runtime.inspection import inspect_run
    from snndsl_runtime.network import init_parameters

    model = generated(SPECS / "quickstart.snn")
    theta, fixed = init_parameters(model, jax.random.PRNGKey(0))
    rho = np.random.default_rng(0).uniform(0, 1, model.PROJECTIONS["w1"]["shape"]).astype(np.float32)
    theta = {**{k: np.asarray(v) for k, v in theta.items()}, "w1": rho}
    cfg = {**model.CONFIG, "train": {**model.CONFIG["train"], "eval_threshold": 0.7}}
    report, _ = inspect_run(model, str(make_run(tmp_path, model, theta, fixed, config=cfg)))
    row = next(r for r in report["projections"] if r["projection"] == "hidden->hidden.i_syn")
    assert row["p"]["mean"] == pytest.approx(rho.mean()) and row["p"]["max"] == pytest.approx(rho.max())
    assert row["connected"] == pytest.approx(np.mean(rho > 0.7)) and row["sparsity"] == pytest.approx(np.mean(rho <= 0.7))
    taus = {q["name"]: q for q in next(p for p in report["populations"] if p["population"] == "exc")["parameters"]}
    assert taus["tau_m"]["mean"] == pytest.approx(10.0) and taus["tau_syn"]["unit"] == "ms"


def test_inspect_command_prints_tables_json_and_histograms(grouped, capsys):
    from snndsl.cli import main

    _, _, _, out = grouped
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tau_m" in text and "7.5 ms" in text and "pixels->hidden.v" in text
    assert (out / "inspect.png").stat().st_size > 1000
    png = out / "other.png"
    assert main(["inspect", str(out), "--format", "json", "-o", str(png)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["plot"] == str(png) and png.exists()
    assert _param(report, "a", "tau_m")["mean"] == pytest.approx(7.5, rel=1e-5)


def test_inspect_bad_folders_are_diagnostics(grouped, tmp_path, capsys):
    from snndsl.cli import main

    _, _, _, out = grouped
    assert main(["inspect", str(tmp_path / "nowhere")]) == 2
    assert "error[E821]" in capsys.readouterr().err
    (out / "checkpoint.npz").write_bytes(b"not a zip")
    assert main(["inspect", str(out)]) == 2
    assert "error[E822]" in capsys.readouterr().err
    (out / "checkpoint.npz").unlink()
    assert main(["inspect", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error[E821]" in err and "no checkpoint" in err and "Traceback" not in err


def test_inspect_refuses_a_checkpoint_of_another_network(grouped, tmp_path, capsys):
    from snndsl.cli import main

    from snndsl_runtime.checkpoint import save_checkpoint

    model, theta, fixed, out = grouped
    save_checkpoint(str(out / "checkpoint.npz"), {"theta": {**theta, "w0": theta["w0"][:3]}, "fixed": fixed},
                    {"step": 1})
    assert main(["inspect", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error[E822]" in err and "pixels->hidden.v" in err


def test_unit_names():
    from snndsl_runtime.inspection import unit_of

    assert unit_of((1, 0, 0)) == "ms" and unit_of((0, 0, 0)) == "" and unit_of((-1, 1, 0)) == "mV/ms"
    assert unit_of((0, 1, -1)) == "mV/nA" and unit_of((-2, 0, 0)) == "1/ms^2"


def test_activity_metrics_by_hand(tmp_path):
    """Counts summed over 2 samples of 4 steps (dt 0.5 ms, 1 substep): 4 ms of network time in all."""
    from snndsl_runtime.activity import activity_metrics, population_slices

    model = generated(write_spec(tmp_path, GROUPED, "grouped.snn"))
    assert population_slices(model) == {"a": (0, 8), "b": (8, 12)}
    counts = np.zeros(12)
    counts[:4] = 2  # population a: 8 spikes among 8 neurons over 4 ms -> 250 Hz, half silent
    m = activity_metrics(model, counts, runs=2, steps=4)
    assert m["rate/a"] == pytest.approx(8 / 8 / 0.004) and m["silent/a"] == 0.5
    assert m["rate/b"] == 0.0 and m["silent/b"] == 1.0


def test_offline_viewer_writes_a_gif_and_a_page_without_web_references(tmp_path):
    from PIL import Image

    from snndsl_runtime.viewer import write_rollout

    t = np.linspace(0, 1, 12)
    pos = np.stack([np.stack([t, 0 * t, 0 * t + 0.5], -1), np.stack([t + np.sin(t), 0 * t, 1 + np.cos(t)], -1)], 1)
    out = write_rollout(str(tmp_path), pos, [-1, 0], "pendulum", step_ms=40.0)
    page = (tmp_path / "rollout.html").read_text()
    assert out["html"].endswith("rollout.html") and "http" not in page and page.count("data:image/png;base64,") == 12
    with Image.open(out["gif"]) as gif:
        assert gif.n_frames == 12


def test_curve_panels_and_rates_plot(tmp_path):
    from snndsl_runtime.metrics import curve_panels, plot_rates

    rows = [{"epoch": i, "train_loss": 1.0 / i, "train_accuracy": 0.5, "test_accuracy": 0.6,
             "rate/hidden": 10.0 * i, "silent/hidden": 0.1} for i in (1, 2, 3)]
    assert curve_panels(rows, ("train_accuracy", "test_accuracy")) == [
        ("loss", ["train_loss"]), ("accuracy (%)", ["train_accuracy", "test_accuracy"])]
    assert curve_panels([{"generation": 1, "fitness": 3.0}], ("fitness", "eval_fitness")) == [
        ("return (episode reward)", ["fitness"])]
    assert plot_rates(str(tmp_path), rows, "epoch") == str(tmp_path / "rates.png")
    assert plot_rates(str(tmp_path), [{"epoch": 1}], "epoch") is None
