"""Careless and hostile input gets a located diagnostic and exit status 2, never an internal error."""

import subprocess
import sys

import pytest

from snndsl import compile_spec
from snndsl_runtime.config import apply_overrides
from snndsl_runtime.errors import RunError

from .conftest import SPECS, write_spec

DIGITS = (SPECS / "stop_digits.snn").read_text()


def _errors(path, sets=()):
    _, diags, _ = compile_spec(str(path), list(sets))
    return [d for d in diags if d.is_error]


def test_deep_parentheses_alone_just_work(tmp_path):
    assert _errors(write_spec(tmp_path, DIGITS.replace("epochs = 40", "epochs = " + "(" * 300 + "4" + ")" * 300))) == []


@pytest.mark.parametrize("value", [" + ".join(["1"] * 600), "-" * 600 + "1"])
def test_deeply_nested_expression_in_a_spec_is_E004(tmp_path, value):
    (err,) = _errors(write_spec(tmp_path, DIGITS.replace("epochs = 40", f"epochs = {value}")))
    assert err.code == "E004" and err.span.line == DIGITS[: DIGITS.index("epochs = 40")].count("\n") + 1


def test_deeply_nested_set_value_is_E004_on_the_command_line():
    (err,) = _errors(SPECS / "stop_digits.snn", ["train.epochs=" + "+".join(["1"] * 600)])
    assert err.code == "E004" and err.span.file == "<command line>" and err.span.col == len("--set train.epochs=") + 1


def test_a_count_beyond_int32_is_E403(tmp_path):
    (err,) = _errors(write_spec(tmp_path, DIGITS.replace("epochs = 40", "epochs = 1e308")))
    assert err.code == "E403" and "too large" in err.message
    (err,) = _errors(SPECS / "stop_digits.snn", ["train.epochs=3e9"])
    assert err.code == "E403"
    with pytest.raises(RunError) as e:
        apply_overrides({"train": {"epochs": 3}, "task": {}, "time": {}}, ["train.epochs=3e9"], "stop", "dataset")
    assert e.value.code == "E403" and "too large" in e.value.message


def test_cli_exit_status_for_a_deep_expression(tmp_path):
    spec = write_spec(tmp_path, DIGITS.replace("epochs = 40", "epochs = " + " + ".join(["1"] * 600)))
    r = subprocess.run([sys.executable, "-m", "snndsl", "check", str(spec)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "error[E004]" in r.stderr and "Traceback" not in r.stderr


def test_a_path_needs_no_quotes_in_a_set():
    (_, diags, _) = compile_spec(str(SPECS / "stop_mnist.snn"), ["task.path=data/mnist"])
    assert not [d for d in diags if d.is_error]
    spec, _, _ = compile_spec(str(SPECS / "stop_mnist.snn"), ["task.path=data/mnist"])
    assert spec.task.path == "data/mnist"


def test_a_line_break_in_a_set_value_is_an_error_not_dropped():
    (err,) = _errors(SPECS / "stop_digits.snn", ["train.epochs=3\nimport os"])
    assert err.code == "E404" and "line break" in err.message and err.span.file == "<command line>"


def test_memory_estimate_counts_the_biggest_arrays():
    from snndsl.compiler import compile_program
    from snndsl.lower import estimate

    ec = estimate(compile_program(str(SPECS / "ec_hopper.snn")).plan)
    learned = 22 * 256 + 256 * 256 + 256 * 3  # obs doubled [x, -x] -> hidden, hidden -> hidden, hidden -> action
    assert ec.terms["the population's sampled weights"] == 10240 * learned // 8  # bit-packed masks
    bptt = estimate(compile_program(str(SPECS / "surrogate_digits.snn")).plan)
    big = estimate(compile_program(str(SPECS / "surrogate_digits.snn"), ["train.batch_size=3200"]).plan)
    key = "states kept for BPTT (T x state x batch)"
    assert big.terms[key] == 100 * bptt.terms[key]  # linear in the batch


def test_a_job_too_large_for_the_machine_is_refused_before_compiling(tmp_path):
    spec = write_spec(tmp_path, DIGITS.replace("LIF(1024)", "LIF(100000000)"))
    r = subprocess.run([sys.executable, "-m", "snndsl", "run", str(spec), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "error[E851]" in r.stderr and "GB" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
    r = subprocess.run([sys.executable, "-m", "snndsl", "check", str(spec)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "memory    at its peak at least" in r.stdout


def test_folding_many_constants_lists_the_names_only_for_a_hint(tmp_path, monkeypatch):
    """Listing every name for every folded value made a spec of 40,000 constants take 37 s to check."""
    from snndsl.elaborate import scope

    listed = []
    monkeypatch.setattr(scope.LazyNames, "__iter__", lambda self: listed.append(1) or iter(()))
    consts = "".join(f"const c{i} = {i} + 1\n" for i in range(2000))
    assert _errors(write_spec(tmp_path, consts + DIGITS)) == [] and listed == []
    errs = _errors(write_spec(tmp_path, consts + DIGITS.replace("epochs = 40", "epochs = c19999"), "typo.snn"))
    assert [e.code for e in errs] == ["E201"] and len(listed) >= 1  # the hint for the undefined name


def test_resume_with_another_spec_names_the_run_s_spec_not_its_set_list(tmp_path):
    import json

    import numpy as np

    run = tmp_path / "run"
    run.mkdir()
    meta = {"step": 1, "spec": "stop_digits", "rule": "stop", "spec_sets": ["train.update=online"]}
    np.savez(run / "checkpoint.npz", meta=np.array(json.dumps(meta)))
    r = subprocess.run([sys.executable, "-m", "snndsl", "run", str(SPECS / "surrogate_digits.snn"), "--out", str(run),
                        "--resume"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "E822" in r.stderr and "stop_digits" in r.stderr and "E203" not in r.stderr, r.stderr
