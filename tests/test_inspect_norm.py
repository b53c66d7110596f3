"""`snndsl inspect` of a run with `norm = batch`: the learned scale and shift and the running mean
and variance of each normalised projection, checked against values written into a checkpoint by hand."""

import json

import numpy as np
import pytest

from .conftest import generated, write_spec
from .test_inspect import make_run

# a normalised convolution (3 channels) and a normalised dense projection (5 neurons, one channel each)
NORMED = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 2 }
task digits { }
input pixels = current
population c1 = LIF([3, 8, 8]) { tau_m = 3 ms }
population h = LIF(5) { tau_m = 3 ms }
output logits = instant(h)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); init = kaiming; learn w; norm = batch }
project c1 -> h.v      { weights = dense(init = lecun); learn w; norm = batch }
project h -> logits    { weights = dense(init = lecun); learn w }
train surrogate { epochs = 1; batch_size = 8 }
"""

# by hand: per projection, the four per-channel arrays a trained run would hold
VALUES = {
    "w0": {"scale": [0.5, 1.0, 2.5], "shift": [-1.0, 0.0, 0.5], "mean": [0.1, 0.2, 0.6], "var": [1.0, 4.0, 0.25]},
    "w1": {"scale": [1.0, 1.0, 1.0, 3.0, 1.0], "shift": [0.0, 0.0, 0.0, 0.0, -2.0],
           "mean": [1.0, 2.0, 3.0, 4.0, 5.0], "var": [2.0, 2.0, 2.0, 2.0, 7.0]},
}


@pytest.fixture
def normed_run(tmp_path):
    import jax

    from snndsl_runtime.network import init_parameters

    model = generated(write_spec(tmp_path, NORMED, "normed.snn"))
    theta, fixed = init_parameters(model, jax.random.PRNGKey(0))
    theta = {k: np.asarray(v) for k, v in theta.items()}
    fixed = {k: np.asarray(v) for k, v in fixed.items()}
    for key, params in VALUES.items():
        for p, v in params.items():
            (theta if p in ("scale", "shift") else fixed)[f"{key}.{p}"] = np.asarray(v, np.float32)
    return model, theta, fixed, make_run(tmp_path, model, theta, fixed)


def test_inspect_lists_batch_norm_scale_shift_and_running_statistics(normed_run):
    from snndsl_runtime.inspection import inspect_run

    model, _, _, out = normed_run
    report, _ = inspect_run(model, str(out))
    rows = {(r["projection"], r["parameter"]): r for r in report["norm"]}
    labels = {"w0": "pixels->c1.v", "w1": "c1->h.v"}
    assert set(rows) == {(labels[k], p) for k in VALUES for p in ("scale", "shift", "mean", "var")}
    for key, params in VALUES.items():
        for p, v in params.items():
            row, a = rows[(labels[key], p)], np.asarray(v, np.float64)
            assert row["shape"] == [len(v)] and row["n"] == len(v)
            assert row["learned"] == (p in ("scale", "shift"))
            assert (row["mean"], row["sd"], row["min"], row["max"]) == pytest.approx((a.mean(), a.std(), a.min(), a.max()))
    assert rows[("pixels->c1.v", "var")]["role"] == "running variance"
    assert rows[("c1->h.v", "scale")]["role"] == "learned scale"


def test_inspect_command_prints_the_batch_norm_table_and_json(normed_run, capsys):
    from snndsl.cli import main

    _, _, _, out = normed_run
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    table = text[text.index("batch norm"):]
    assert "pixels->c1.v" in table and "c1->h.v" in table
    # the running variance of pixels->c1.v: mean 1.75, range 0.25 - 4; c1->h.v's shift: mean -0.4
    assert "running variance" in table and "1.75" in table and "0.25 – 4" in table and "-0.4" in table
    assert main(["inspect", str(out), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    shift = next(r for r in report["norm"] if r["projection"] == "c1->h.v" and r["parameter"] == "shift")
    assert shift["mean"] == pytest.approx(-0.4) and shift["min"] == pytest.approx(-2.0)
    assert (out / "inspect.png").stat().st_size > 1000


def test_inspect_refuses_a_checkpoint_without_the_running_statistics(normed_run, capsys):
    from snndsl.cli import main
    from snndsl_runtime.checkpoint import save_checkpoint

    model, theta, fixed, out = normed_run
    fixed = {k: v for k, v in fixed.items() if k != "w1.var"}
    save_checkpoint(str(out / "checkpoint.npz"), {"theta": theta, "fixed": fixed}, {"step": 1})
    assert main(["inspect", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error[E822]" in err and "c1->h.v" in err and "Traceback" not in err
