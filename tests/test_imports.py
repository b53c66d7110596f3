"""Imports stay inside the spec's tree (issue 15, part 2).

`from "x" import Y` reads only beside the importing spec and below it (after resolving symlinks),
in the standard library and in folders named with `--import-path DIR` (`import_path=[...]` in the
Python API); anything else is E105, before the file is opened.  Only regular `.snn` files of at most
MAX_SPEC_BYTES are read (E003, E002), and no diagnostic quotes a file that is not a spec.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import snndsl
from snndsl import compile_spec
from snndsl.cli import main
from snndsl.compiler import compile_program
from snndsl.syntax.loader import MAX_SPEC_BYTES

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CELLS = (FIXTURES / "valid" / "lib" / "cells.snn").read_text()
# a whole spec whose first line imports its neuron `Cell`
BODY = (FIXTURES / "valid" / "E101.snn").read_text().split("\n", 2)[2]


def spec_importing(folder: Path, module: str, name: str = "spec.snn") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'from "{module}" import Cell\n{BODY}')
    return path


@pytest.fixture
def tree(tmp_path):
    """tmp/proj/ holds the spec (and sub/cells.snn); tmp/outside/cells.snn lies outside its tree."""
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "cells.snn").write_text(CELLS)
    (tmp_path / "proj" / "sub" / "cells.snn").write_text(CELLS)
    return tmp_path


def check(capsys, *args) -> tuple[int, str]:
    """`snndsl check ARGS` in this process: the exit status and everything it printed."""
    status = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out + out.err


def check_subprocess(*args) -> subprocess.CompletedProcess:
    """`python -m snndsl check ARGS`, killed after 60 s so that a hang fails the test."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "snndsl", "check", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=60)


def the_error(text: str, code: str) -> str:
    assert f"error[{code}]" in text, text
    assert "Traceback" not in text and "internal error" not in text, text
    return text


# ---- the ways out of the tree: E105, located at the import, with --import-path in the hint

def test_import_from_the_parent_folder_is_E105(tree, capsys):
    spec = spec_importing(tree / "proj", "../outside/cells.snn")
    status, out = check(capsys, spec)
    assert status == 2
    the_error(out, "E105")
    assert f"{spec}:1:6: error[E105]" in out  # at the import's path string
    assert "--import-path DIR" in out and f"--import-path {tree / 'outside'}" in out


def test_import_by_absolute_path_is_E105(tree, capsys):
    spec = spec_importing(tree / "proj", str(tree / "outside" / "cells.snn"))
    status, out = check(capsys, spec)
    assert status == 2 and f"{spec}:1:6: error[E105]" in the_error(out, "E105")
    assert "--import-path" in out


def test_import_of_a_missing_file_outside_is_E105_not_E101(tree, capsys):
    """Whether a file exists outside the tree is not probed: the path alone is refused."""
    status, out = check(capsys, spec_importing(tree / "proj", "../outside/nothing_here.snn"))
    assert status == 2 and "E101" not in the_error(out, "E105")


def test_symlink_out_of_the_tree_is_E105(tree, capsys):
    (tree / "proj" / "cells.snn").symlink_to(tree / "outside" / "cells.snn")
    status, out = check(capsys, spec_importing(tree / "proj", "cells"))
    assert status == 2
    the_error(out, "E105")
    assert f"resolves to {tree / 'outside' / 'cells.snn'}" in out


def test_symlinked_folder_out_of_the_tree_is_E105(tree, capsys):
    (tree / "proj" / "lib").symlink_to(tree / "outside", target_is_directory=True)
    status, out = check(capsys, spec_importing(tree / "proj", "lib/cells.snn"))
    assert status == 2 and "error[E105]" in the_error(out, "E105")


@pytest.mark.skipif(not os.path.isfile("/etc/passwd"), reason="no /etc/passwd")
def test_symlink_to_etc_passwd_is_refused_without_echoing_it(tree, capsys):
    passwd = Path("/etc/passwd").read_text(errors="replace")
    first = passwd.splitlines()[0] if passwd.strip() else "root:x:0:0"
    (tree / "proj" / "leak.snn").symlink_to("/etc/passwd")
    # as an import: outside the tree, refused before it is opened
    status, out = check(capsys, spec_importing(tree / "proj", "leak"))
    assert status == 2 and "resolves to /etc/passwd" in the_error(out, "E105")
    assert "root:" not in out and first not in out
    # as the spec itself: not a .snn file once the link is resolved, refused before it is read
    status, out = check(capsys, tree / "proj" / "leak.snn")
    assert status == 2 and "links to /etc/passwd" in the_error(out, "E002")
    assert "root:" not in out and first not in out and "E001" not in out


# ---- only regular .snn files, not too large, UTF-8 text

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_the_spec_is_refused_at_once(tmp_path):
    fifo = tmp_path / "spec.snn"
    os.mkfifo(fifo)
    r = check_subprocess(fifo)  # hangs (and fails by timeout) if the FIFO is opened
    assert r.returncode == 2, r.stderr
    assert f"{fifo}:1:1: error[E003]" in the_error(r.stderr, "E003") and "not a regular file" in r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_an_import_is_refused_at_once(tree):
    os.mkfifo(tree / "proj" / "cells.snn")
    spec = spec_importing(tree / "proj", "cells")
    r = check_subprocess(spec)
    assert r.returncode == 2, r.stderr
    assert f"{spec}:1:6: error[E003]" in the_error(r.stderr, "E003") and "not a regular file" in r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_not_read(tree):
    (tree / "proj" / "zero.snn").symlink_to("/dev/zero")
    spec = spec_importing(tree / "proj", "zero", name="uses_zero.snn")
    # as the spec; as an import (out of the tree); and as an import from an --import-path that allows /dev
    r = check_subprocess(tree / "proj" / "zero.snn", spec)
    assert r.returncode == 2, r.stderr
    assert f"{tree / 'proj' / 'zero.snn'}:1:1: error[E003]" in r.stderr and "not a regular file" in r.stderr
    assert f"{spec}:1:6: error[E105]" in r.stderr
    r = check_subprocess(spec, "--import-path", "/dev")
    assert r.returncode == 2, r.stderr
    assert f"{spec}:1:6: error[E003]" in the_error(r.stderr, "E003") and "not a regular file" in r.stderr


def test_binary_file_is_refused_without_echoing_it(tree, capsys):
    secret = b"SECRET-CONTENT"
    (tree / "proj" / "cells.snn").write_bytes(b"\x7fELF\x02\x01\x00" + secret + b"\xff\xfe\n")
    status, out = check(capsys, spec_importing(tree / "proj", "cells"))
    assert status == 2 and "not a UTF-8 text file" in the_error(out, "E002")
    assert "SECRET" not in out and "ELF" not in out
    status, out = check(capsys, tree / "proj" / "cells.snn")
    assert status == 2 and "SECRET" not in the_error(out, "E002")


def test_text_file_not_named_snn_is_refused_before_parsing(tree, capsys):
    (tree / "proj" / "notes.txt").write_text("private: not a spec { at all\n")
    (tree / "proj" / "notes.snn").symlink_to(tree / "proj" / "notes.txt")
    for args in ([tree / "proj" / "notes.txt"], [spec_importing(tree / "proj", "notes")]):
        status, out = check(capsys, *args)
        assert status == 2 and "is not a .snn file" in the_error(out, "E002")
        assert "private" not in out and "E001" not in out


def test_spec_larger_than_the_limit_is_refused_before_reading(tmp_path, capsys):
    big = tmp_path / "big.snn"
    with open(big, "wb") as f:  # sparse: its size says it all
        f.truncate(MAX_SPEC_BYTES + 1)
    status, out = check(capsys, big)
    assert status == 2 and "more than the limit" in the_error(out, "E003")
    assert f"{MAX_SPEC_BYTES:,}" in out


def test_import_path_that_is_not_a_folder_is_E003(tree, capsys):
    status, out = check(capsys, spec_importing(tree / "proj", "sub/cells.snn"), "--import-path", tree / "nowhere")
    assert status == 2 and "--import-path" in the_error(out, "E003")


# ---- what stays allowed, and --import-path

def test_imports_below_the_spec_and_from_the_stdlib_work(tree, capsys):
    spec = spec_importing(tree / "proj", "sub/cells.snn")  # BODY imports "encoders" and "readouts"
    status, out = check(capsys, spec)
    assert status == 0, out


def test_module_in_a_subfolder_may_import_back_up_inside_the_tree(tree, capsys):
    (tree / "proj" / "shared.snn").write_text("const TAU = 2 ms\n")
    (tree / "proj" / "sub" / "cells.snn").write_text('from "../shared.snn" import TAU\n'
                                                     + CELLS.replace("tau_m = 2 ms", "tau_m = TAU"))
    (tree / "proj" / "sub" / "inner.snn").symlink_to(tree / "proj" / "sub" / "cells.snn")  # a link inside is fine
    status, out = check(capsys, spec_importing(tree / "proj", "sub/inner.snn"))
    assert status == 0, out


def test_import_path_allows_the_outside_folder_from_the_cli(tree, capsys):
    for module in ("../outside/cells.snn", str(tree / "outside" / "cells.snn")):
        spec = spec_importing(tree / "proj", module)
        status, out = check(capsys, spec, "--import-path", tree / "outside")
        assert status == 0, out
    # a bare name is also looked up in the --import-path folders (after the spec's folder)
    spec = spec_importing(tree / "proj", "cells")
    status, out = check(capsys, spec)
    assert status == 2 and "error[E101]" in out
    status, out = check(capsys, spec, "--import-path", tree / "elsewhere", "--import-path", tree / "outside")
    assert status == 2 and "error[E003]" in out  # elsewhere does not exist
    (tree / "elsewhere").mkdir()
    status, out = check(capsys, spec, "--import-path", tree / "elsewhere", "--import-path", tree / "outside")
    assert status == 0, out


def test_import_path_allows_a_symlink_out_of_the_tree(tree, capsys):
    (tree / "proj" / "cells.snn").symlink_to(tree / "outside" / "cells.snn")
    status, out = check(capsys, spec_importing(tree / "proj", "cells"), "--import-path", tree / "outside")
    assert status == 0, out


def test_import_path_in_a_subprocess_and_with_emit(tree):
    spec = spec_importing(tree / "proj", "../outside/cells.snn")
    r = check_subprocess(spec, "--import-path", tree / "outside")
    assert r.returncode == 0, r.stderr
    emit = [sys.executable, "-m", "snndsl", "emit", str(spec)]
    r = subprocess.run(emit, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "error[E105]" in r.stderr
    r = subprocess.run(emit + ["--import-path", str(tree / "outside")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "def " in r.stdout, r.stderr


def test_run_accepts_import_path():
    from snndsl.cli import build_parser

    for command in ("check", "run", "emit"):
        args = build_parser().parse_args([command, "x.snn", "--import-path", "a", "--import-path", "b"])
        assert args.import_path == ["a", "b"]


def test_import_path_from_the_python_api(tree):
    spec = spec_importing(tree / "proj", "../outside/cells.snn")
    with pytest.raises(snndsl.SpecError) as e:
        snndsl.load(spec)
    assert [d.code for d in e.value.diagnostics] == ["E105"]
    assert "--import-path" in e.value.diagnostics[0].hint
    assert snndsl.load(spec, import_path=[tree / "outside"]).name == "spec"
    assert snndsl.load(str(spec), [], [str(tree / "outside")]).name == "spec"
    ir, diags, _ = compile_spec(spec, import_path=[tree / "outside"])
    assert ir is not None and not diags
    ir, diags, _ = compile_spec(spec)  # the old signature: no import path
    assert ir is None and [d.code for d in diags] == ["E105"]
    assert compile_program(spec, [], [str(tree / "outside")]).spec is not None
