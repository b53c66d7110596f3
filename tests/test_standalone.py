"""The emitted program is a short model file plus a copy of snndsl_runtime: it trains with the
compiler unimportable."""

import os
import re
import subprocess

import pytest

from .conftest import PYTHON, ROOT, SPECS, cli_in_process


@pytest.mark.slow
def test_emitted_ec_program_trains_without_the_compiler(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = cli_in_process("emit", SPECS / "ec_hopper.snn", "-o", out / "train.py", cwd=ROOT)  # test_cli_run starts one
    assert r.returncode == 0, r.stderr
    text = (out / "train.py").read_text()
    lines = subprocess.run(["wc", "-l", str(out / "train.py")], capture_output=True, text=True, check=True)
    assert int(lines.stdout.split()[0]) < 300, lines.stdout  # the model only; training is in the runtime
    assert not re.search(r"^\s*(import|from)\s+snndsl\b(?!_)", text, re.M)
    assert (out / "snndsl_runtime" / "__init__.py").exists() and (out / "snndsl_runtime" / "trainers" / "ec.py").exists()

    # an `snndsl` package that cannot be imported, ahead of the installed (editable) one
    block = tmp_path / "block"
    (block / "snndsl").mkdir(parents=True)
    (block / "snndsl" / "__init__.py").write_text("raise ImportError('snndsl is blocked in this test')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(block)
    probe = subprocess.run([PYTHON, "-c", "import snndsl"], capture_output=True, text=True, cwd=out, env=env)
    assert probe.returncode != 0 and "snndsl is blocked in this test" in probe.stderr, probe.stderr
    probe = subprocess.run([PYTHON, "-c", "import snndsl.cli"], capture_output=True, text=True, cwd=out, env=env)
    assert probe.returncode != 0 and "snndsl is blocked in this test" in probe.stderr, probe.stderr
    # the runtime the program imports is the copy beside it, not the repository's
    where = subprocess.run([PYTHON, "-c", "import sys; sys.path.insert(0, '.'); import snndsl_runtime; "
                            "print(snndsl_runtime.__file__)"], capture_output=True, text=True, cwd=out, env=env)
    assert where.returncode == 0 and where.stdout.strip() == str(out / "snndsl_runtime" / "__init__.py"), where

    run = subprocess.run([PYTHON, str(out / "train.py"), "--set", "train.population=32", "--set", "train.eval_copies=8",
                          "--set", "train.generations=2", "--set", "task.episode_length=50", "--out", str(out / "run")],
                         capture_output=True, text=True, cwd=out, env=env, timeout=900)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "generation 2/2" in run.stdout, (run.stdout, run.stderr)
    assert (out / "run" / "checkpoint.npz").exists()
    assert (out / "run" / "train.py").read_text() == text and (out / "run" / "snndsl_runtime" / "loop.py").exists()
