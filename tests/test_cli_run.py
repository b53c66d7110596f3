"""The driver as a user meets it: `snndsl run`, `snndsl emit`, `snndsl eval` in a subprocess (each
command at least once; the repeat calls run the entry point in-process, which skips the start-up)."""

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import PYTHON, ROOT, SPECS, cli_in_process

TINY_EC = ["--set", "train.population=24", "--set", "train.eval_copies=4", "--set", "task.episode_length=20",
           "--set", "time.substeps=3", "--set", "train.generations=2"]


def snndsl(*args, cwd=ROOT):
    r = subprocess.run([PYTHON, "-m", "snndsl", *args], capture_output=True, text=True, cwd=cwd, timeout=900)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def snndsl_here(*args):
    r = cli_in_process(*args, cwd=ROOT)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return r


@pytest.mark.slow
def test_run_then_eval_ec(tmp_path):
    out = tmp_path / "run"
    r = snndsl("run", str(SPECS / "quickstart.snn"), *TINY_EC, "--out", str(out), "--seed", "2")
    assert r.returncode == 0, r.stderr
    assert "generation 2/2" in r.stderr and "run summary" in r.stderr
    for name in ("metrics.jsonl", "curve.png", "checkpoint.npz", "config.json", "train.py",
                 "snndsl_runtime/__init__.py", "snndsl_runtime/loop.py"):
        assert (out / name).exists(), name
    assert any((out / "tensorboard").iterdir())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == [1, 2]
    assert set(rows[0]) >= {"generation", "fitness", "eval_fitness", "env_steps", "wall_s"}
    r = snndsl("eval", str(out))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["generation"] == 2 and result["steps"] >= 1 and isinstance(result["return"], float)
    assert (out / "rollout.html").stat().st_size > 1000 and (out / "raster.png").exists()
    assert "http" not in (out / "rollout.html").read_text() and (out / "rollout.gif").exists()
    assert {"rate/exc", "silent/inh"} <= set(rows[-1])
    r = snndsl_here("eval", str(out), "--episodes", "3")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(result["returns"]) == 3 and result["return_mean"] == sum(result["returns"]) / 3


@pytest.mark.slow
def test_run_then_eval_classification(tmp_path):
    out = tmp_path / "run"
    r = snndsl_here("run", str(SPECS / "surrogate_digits.snn"), "--set", "train.epochs=1", "--out", str(out), "--sample", "2")
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stderr and "test sample 2, label" in r.stderr and (out / "rates.png").exists()
    r = snndsl_here("eval", str(out))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0.5 < result["test_accuracy"] <= 1 and (out / "raster.png").exists()
    assert result["sample"] == 0 and 0 <= result["predicted"] < 10 and 0 < result["rate/hidden"] < 1000
    r = snndsl_here("eval", str(out), "--sample", "3")
    assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["sample"] == 3


def test_emit_is_the_module_run_uses(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    assert snndsl("emit", str(SPECS / "stop_digits.snn"), "-o", str(a)).returncode == 0
    assert snndsl_here("emit", str(SPECS / "stop_digits.snn"), "-o", str(b), "--set", "train.epochs=7").returncode == 0
    from snndsl.driver.build import load_spec, module_text

    spec, _ = load_spec(str(SPECS / "stop_digits.snn"))
    assert a.read_text() == module_text(spec)
    assert "'epochs': 7" in b.read_text() and "'epochs': 40" in a.read_text()
    # beside the model, a copy of the runtime it runs on (the same files as the installed one)
    import snndsl_runtime

    installed = Path(snndsl_runtime.__file__).parent
    copied = sorted(str(f.relative_to(tmp_path / "snndsl_runtime")) for f in (tmp_path / "snndsl_runtime").rglob("*.py"))
    assert copied == sorted(str(f.relative_to(installed)) for f in installed.rglob("*.py"))
    assert "trainers/stop.py" in copied and not list((tmp_path / "snndsl_runtime").rglob("__pycache__"))
    for name in copied:
        assert (tmp_path / "snndsl_runtime" / name).read_text() == (installed / name).read_text(), name


def test_eval_of_a_folder_that_is_not_a_run(tmp_path):
    r = snndsl_here("eval", str(tmp_path))
    assert r.returncode == 2 and "E821" in r.stderr
