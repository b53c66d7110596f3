"""`snndsl compare` and `snndsl sweep` (snndsl/driver/compare.py): run folders per variant and seed, one
table, compare.json and compare.png, resumable; rule switching with what the tool changed."""

import json
import os

import pytest

from snndsl import cli
from snndsl.driver.compare import parse_seeds, split_list

SPEC = os.path.join(os.path.dirname(__file__), "..", "specs", "stop_digits.snn")


def test_lists_split_outside_brackets():
    assert split_list("adam(lr = 1e-2, b1 = 0.9),sgd(lr = 0.1)") == ["adam(lr = 1e-2, b1 = 0.9)", "sgd(lr = 0.1)"]
    assert split_list("0.01, 0.1,[1, 2]") == ["0.01", "0.1", "[1, 2]"]
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("0,x") is None and parse_seeds("") is None


def test_bad_rules_and_seeds_are_diagnostics(tmp_path, capsys):
    assert cli.main(["compare", SPEC, "--rules", "stop,stopp", "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "E404" in err and "`stopp`" in err and "stop" in err and "Traceback" not in err
    assert cli.main(["compare", SPEC, "--seeds", "0,a", "-o", str(tmp_path / "c")]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert cli.main(["sweep", SPEC, "--set", "train.epochs=1", "-o", str(tmp_path / "s")]) == 2
    assert "several values" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_stop_and_surrogate_over_seeds_then_resume(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", SPEC, "--rules", "stop,surrogate", "--seeds", "0,1", "-o", str(out), "--set", "train.epochs=1"]
    assert cli.main(args) == 0
    summary = json.loads((out / "compare.json").read_text())
    assert set(summary) == {"stop", "surrogate"}
    for rule, s in summary.items():
        assert s["metric"] == "test_accuracy" and s["seeds"] == [0, 1] and len(s["final"]) == 2
        assert min(s["final"]) > 0.5, s  # one epoch on digits learns
        assert (out / f"{rule}-seed1" / "checkpoint.npz").exists()
    # one hidden layer with the same surrogate (carried over): STOP is exact there, so the curves agree; BPTT keeps
    # every step, STOP's memory does not grow with T
    assert summary["stop"]["final"] == pytest.approx(summary["surrogate"]["final"], abs=0.02)
    assert summary["stop"]["memory_bytes"] < summary["surrogate"]["memory_bytes"]
    assert (out / "compare.png").stat().st_size > 1000
    # a finished compare rerun trains nothing more and gives the same table
    before = (out / "stop-seed0" / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert cli.main(args) == 0
    assert (out / "stop-seed0" / "metrics.jsonl").read_text() == before
    assert json.loads((out / "compare.json").read_text())["stop"]["final"] == summary["stop"]["final"]


@pytest.mark.slow
def test_compare_derives_ec_and_sweep_grid(tmp_path, capsys):
    out = tmp_path / "ec"
    assert cli.main(["compare", SPEC, "--rules", "ec", "--seeds", "0", "-o", str(out), "--set", "ec:train.generations=3",
                     "--set", "ec:train.population=16", "--set", "ec:train.eval_copies=4"]) == 0
    err = capsys.readouterr().err
    assert "dense learn w -> bernoulli learn p" in err and "fixed at its initial values" in err
    s = json.loads((out / "compare.json").read_text())["ec"]
    assert s["metric"] == "test_accuracy" and 0 <= s["final"][0] <= 1
    out = tmp_path / "sw"
    assert cli.main(["sweep", SPEC, "--set", "train.optimizer=adam(lr = 1e-3),adam(lr = 1e-2)", "--set", "train.epochs=1",
                     "-o", str(out)]) == 0
    summary = json.loads((out / "compare.json").read_text())
    assert list(summary) == ["train.optimizer=adam(lr = 1e-3)", "train.optimizer=adam(lr = 1e-2)"]
    assert all(len(v["final"]) == 1 for v in summary.values())
