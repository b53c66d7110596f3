"""`snndsl check` as a user runs it: exit status, summary, JSON, --ir, bad input files, and that
checking stays light (no JAX import, fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snndsl import ir

ROOT = Path(__file__).resolve().parent.parent
EC_HOPPER = ROOT / "specs" / "ec_hopper.snn"
STOP_DIGITS = ROOT / "specs" / "stop_digits.snn"
INVALID = ROOT / "tests" / "fixtures" / "invalid"


def check(*args, cwd=ROOT):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "snndsl", "check", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_valid_spec_exit_0_and_summary():
    r = check("specs/ec_hopper.snn")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "specs/ec_hopper.snn: ok" in r.stdout
    assert "71,936" in r.stdout  # learnable probabilities
    assert "CubaLIF" in r.stdout and "hidden" in r.stdout


def test_several_files_one_bad_exit_2():
    r = check("specs/stop_digits.snn", INVALID / "E204.snn")
    assert r.returncode == 2
    assert "stop_digits.snn: ok" in r.stdout
    assert "error[E204]" in r.stderr


def test_invalid_spec_exit_2_with_located_diagnostic():
    r = check(INVALID / "E204.snn")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{INVALID / 'E204.snn'}:10:30: error[E204]:" in r.stderr
    assert "^^^" in r.stderr and "= hint: did you mean `tau_m`?" in r.stderr
    assert r.stderr.rstrip().endswith("1 error")


def test_warning_only_exit_0():
    r = check(INVALID / "W101.snn")
    assert r.returncode == 0
    assert "warning[W101]" in r.stderr and "1 warning" in r.stderr


def test_json_format():
    r = check("--format", "json", INVALID / "E204.snn", INVALID / "E303.snn")
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert isinstance(out, list) and len(out) == 2
    for d in out:
        assert {"file", "line", "col", "code", "message", "severity"} <= set(d)
        assert isinstance(d["line"], int) and isinstance(d["col"], int)
    assert [d["code"] for d in out] == ["E204", "E303"]
    assert out[0]["file"].endswith("E204.snn") and (out[0]["line"], out[0]["col"]) == (10, 30)


def test_json_format_valid_is_empty_list():
    r = check("--format", "json", "specs/stop_digits.snn")
    assert r.returncode == 0
    assert json.loads(r.stdout) == []


def test_ir_output_validates():
    r = check("--ir", "specs/ec_hopper.snn", "--set", "train.population=64", "--set", "train.eval_copies=8")
    assert r.returncode == 0, r.stderr
    spec = ir.Spec.model_validate_json(r.stdout)
    assert spec.name == "ec_hopper" and spec.train.population == 64
    assert spec.parameter_counts()["probabilities"] == 71936


def test_set_unknown_key_on_the_command_line():
    r = check("specs/ec_hopper.snn", "--set", "train.popsize=3")
    assert r.returncode == 2
    assert "<command line>:1:7: error[E203]" in r.stderr
    assert "train.population" in r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- hostile input files

def _truncated(text: str, marker: str, extra: int) -> str:
    i = text.index(marker) + extra
    return text[:i]


HOPPER = EC_HOPPER.read_text()
BAD_FILES = {
    "binary.snn": b"\x7fELF\x02\x01\x01\x00\x00\x00garbage\x00\xff\xfe\n" * 4,
    "empty.snn": b"",
    "whitespace.snn": b"   \n\n\t\n",
    "latin1.snn": "# caf\u00e9\n".encode("latin-1") + HOPPER.encode(),
    "mid_token.snn": _truncated(HOPPER, "signed_current", 6).encode(),       # `import sign`
    "mid_block.snn": _truncated(HOPPER, "train ec {", len("train ec {") + 20).encode(),
    "mid_string.snn": _truncated(HOPPER, '"hopper"', 4).encode(),
    "mid_call.snn": _truncated(HOPPER, "bernoulli(p = 0.5)", 12).encode(),
    "mid_arrow.snn": _truncated(HOPPER, "project obs -", len("project obs -")).encode(),
    "only_braces.snn": b"}}}{{{",
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    for name, data in BAD_FILES.items():
        (d / name).write_bytes(data)
    return d


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_exit_2_located_no_traceback(name, bad_files):
    p = bad_files / name
    r = check(p)
    assert r.returncode == 2, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert f"{p}:" in r.stderr and "error[" in r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{p}:") or first.startswith(f"{ROOT / 'stdlib'}"), first


def test_bad_files_json_every_error_located(bad_files):
    paths = [bad_files / n for n in sorted(BAD_FILES)]
    r = check("--format", "json", *paths)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr, r.stderr
    diags = json.loads(r.stdout)
    for p in paths:
        errs = [d for d in diags if d.get("file") == str(p) and d["severity"] == "error"]
        assert errs, f"no located error for {p.name}"
        n_lines = max(1, BAD_FILES[p.name].count(b"\n") + 1)
        for d in errs:
            assert 1 <= d["line"] <= n_lines and d["col"] >= 1, d
    assert all("file" in d for d in diags), [d for d in diags if "file" not in d]


def test_binary_file_is_E002(bad_files):
    p = bad_files / "binary.snn"
    r = check(p, p.with_name("latin1.snn"))
    assert r.returncode == 2
    assert f"{p}:1:8: error[E002]" in r.stderr  # the first NUL byte
    assert f"{p.with_name('latin1.snn')}:1:6: error[E002]" in r.stderr  # the 0xe9 of café


def test_directory_is_E003(tmp_path):
    r = check(tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{tmp_path}:1:1: error[E003]" in r.stderr and "directory" in r.stderr


def test_missing_file_is_E003(tmp_path):
    p = tmp_path / "nope.snn"
    r = check(p)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{p}:1:1: error[E003]" in r.stderr


def test_truncated_mid_block_says_unclosed(bad_files):
    r = check(bad_files / "mid_block.snn")
    assert "error[E001]: unexpected end of file" in r.stderr
    assert "not closed" in r.stderr


# ---------------------------------------------------------------- staying light

PROBE = """
import runpy, sys
sys.argv = ["snndsl", "check", {spec!r}]
try:
    runpy.run_module("snndsl", run_name="__main__")
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "brax", "optax", "torch"))
print("HEAVY", heavy, "EXIT", code, file=sys.stderr)
"""


def test_check_does_not_import_jax():
    r = subprocess.run([sys.executable, "-c", PROBE.format(spec=str(EC_HOPPER))], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert last == "HEAVY [] EXIT 0", r.stderr


def test_check_is_fast_in_process():
    from snndsl import compile_spec
    from snndsl.summary import summarize

    compile_spec(str(STOP_DIGITS))  # warm the parser cache
    for spec_path in (EC_HOPPER, STOP_DIGITS):
        t0 = time.perf_counter()
        spec, diags, _ = compile_spec(str(spec_path))
        summarize(spec)
        assert spec is not None
        assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("command", ["check", "emit"])
def test_the_plan_is_computed_once(command, monkeypatch, capsys, tmp_path):
    """`snndsl check` (checks + summary) and `snndsl emit` (checks + code) lower the spec once."""
    import snndsl.codegen.generate
    import snndsl.compiler
    import snndsl.summary
    from snndsl import cli

    calls = []
    lower = snndsl.compiler.lower
    monkeypatch.setattr(snndsl.compiler, "lower", lambda spec: calls.append(spec.name) or lower(spec))

    def again(spec):
        raise AssertionError("the spec was lowered a second time")

    monkeypatch.setattr(snndsl.summary, "lower", again)
    monkeypatch.setattr(snndsl.codegen.generate, "lower", again)
    args = [command, str(STOP_DIGITS)] + (["-o", str(tmp_path / "train.py")] if command == "emit" else [])
    assert cli.main(args) == 0
    assert calls == ["stop_digits"]
