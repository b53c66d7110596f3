"""No text from the user becomes code: --set values, file and folder names, recorded --set lists.

Each vector used to run `touch PWNED` when the generated program was imported (issue: hardening §1).
"""

import ast
import shutil
import subprocess

import pytest

from .conftest import PYTHON, SPECS, cli_in_process

PAYLOAD = '__import__("os").system("touch PWNED")'
SETS = {  # --set strings
    "path value": ("stop_mnist.snn", [f'task.path=x"""; {PAYLOAD}; """']),
    "comment after a value": ("stop_digits.snn", [f'train.epochs=2 # """; {PAYLOAD}; """']),
    "single quotes": ("stop_mnist.snn", [f"task.path=x'''; {PAYLOAD}; '''"]),
}
NAMES = {  # spec file names, folder names
    "quote in the file name": ("stop_digits.snn", f'x"+{PAYLOAD}+".snn'),
    "newline in the folder": ("stop_digits.snn", f'd\n{PAYLOAD}\n#/spec.snn'),
    "backslash at the end of the name": ("stop_digits.snn", "x\\.snn"),
    "jinja braces and triple quotes": ("quickstart.snn", '{{ 1 }}"""{% x %}/spec.snn'),
}


def _program(tmp_path, spec, name=None, sets=()):
    from snndsl.driver.build import load_spec, module_text

    path = SPECS / spec
    if name is not None:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SPECS / spec, path)
    spec_ir, _ = load_spec(str(path), list(sets))
    return module_text(spec_ir)


def _assert_inert(text):
    """The program parses, and no call to __import__ or system exists in it: the payload stays a string."""
    tree = ast.parse(text)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "__import__" not in names and "system" not in attrs


@pytest.mark.parametrize("vector", list(SETS))
def test_set_value_stays_data(tmp_path, vector):
    spec, sets = SETS[vector]
    text = _program(tmp_path, spec, sets=sets)
    _assert_inert(text)
    assert repr(sets[0]) in text  # recorded as a literal, for --resume


@pytest.mark.parametrize("vector", list(NAMES))
def test_file_and_folder_names_stay_data(tmp_path, vector):
    spec, name = NAMES[vector]
    _assert_inert(_program(tmp_path, spec, name=name))


@pytest.mark.slow
@pytest.mark.parametrize("vector", ["path value", "comment after a value", "quote in the file name",
                                    "newline in the folder"])
def test_help_runs_no_payload(tmp_path, vector):
    spec, sets = SETS.get(vector, (None, ()))
    name = NAMES[vector][1] if vector in NAMES else None
    text = _program(tmp_path, spec or NAMES[vector][0], name=name, sets=sets)
    work = tmp_path / "work"
    work.mkdir()
    (work / "t.py").write_text(text)
    r = subprocess.run([PYTHON, "t.py", "--help"], cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not (work / "PWNED").exists() and not (tmp_path / "PWNED").exists()



@pytest.mark.slow
def test_tampered_checkpoint_runs_no_payload(tmp_path):
    """The --set list recorded in a checkpoint is re-applied on --resume: it stays data too."""
    import json

    import numpy as np

    run = tmp_path / "run"
    run.mkdir()
    meta = {"step": 1, "seed": 0, "spec": "stop_digits", "rule": "stop",
            "spec_sets": [f'train.epochs=2 # """; {PAYLOAD}; """']}
    np.savez(run / "checkpoint.npz", meta=np.array(json.dumps(meta)))
    # in this process: a payload that ran would leave PWNED all the same
    r = cli_in_process("run", SPECS / "stop_digits.snn", "--out", run, "--resume", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert not (tmp_path / "PWNED").exists()
