"""Every diagnostic code a spec can trigger at check time has a fixture pair (NESTML style):

    tests/fixtures/invalid/<CODE>.snn   one mistake; `snndsl check` reports <CODE> there
    tests/fixtures/valid/<CODE>.snn     the same spec with the mistake fixed; no errors

E002 (not UTF-8) and E003 (missing file) are written / named by the tests themselves.  Import
codes use helper modules in tests/fixtures/{valid,invalid}/lib/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snndsl.diagnostics.codes import CODES
from snndsl.diagnostics import render_all
from snndsl import compile_spec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VALID, INVALID = FIXTURES / "valid", FIXTURES / "invalid"

# Reported at run time (by `snndsl run`, the emitted train.py, `snndsl eval`), not by `check`.
# The arrays-file codes E815-E819 are also reported by `check`, which reads the file's header.
ARRAYS_CHECK_CODES = {"E815", "E816", "E817", "E818", "E819"}
RUNTIME_CODES = ({"E703", "E613"} | {c for c in CODES if c.startswith(("E8", "W86", "E90"))}) - \
    ARRAYS_CHECK_CODES  # W86x: NIR export; E613: `snndsl eval --best`; E90x: a job of several processes
CHECK_CODES = sorted(c for c in CODES if c not in RUNTIME_CODES)
# The invalid file for these is made by the test, not stored.
GENERATED = {"E002", "E003"}
# Codes whose diagnostic points into an imported helper module under <kind>/lib/.
IN_LIB = {"E102", "E104"}


def _errors(diags):
    return [d for d in diags if d.is_error]


def _invalid_path(code: str, tmp_path: Path) -> Path:
    if code == "E002":
        # the valid spec with a NUL byte and an invalid UTF-8 sequence on line 10
        text = (VALID / "E002.snn").read_bytes()
        lines = text.split(b"\n")
        lines[9] = lines[9][:5] + b"\x00\xff\xfe" + lines[9][5:]
        p = tmp_path / "E002.snn"
        p.write_bytes(b"\n".join(lines))
        return p
    if code == "E003":
        return tmp_path / "no_such_spec.snn"
    return INVALID / f"{code}.snn"


def _same_file(span_file: str, path: Path) -> bool:
    try:
        return Path(span_file).resolve() == path.resolve()
    except OSError:
        return False


@pytest.mark.parametrize("code", CHECK_CODES)
def test_invalid_fixture_reports_its_code(code, tmp_path):
    path = _invalid_path(code, tmp_path)
    spec, diags, sources = compile_spec(str(path))
    codes = [d.code for d in diags]
    assert code in codes, f"{path.name}: expected {code}, got {codes}"
    # exactly one mistake: the only error reported is this code (warnings: only this one too)
    others = sorted({d.code for d in diags} - {code})
    assert not others, f"{path.name}: expected only {code}, also got {others}"
    if code.startswith("E"):
        assert spec is None
    else:
        assert spec is not None and not _errors(diags)
    d = next(d for d in diags if d.code == code)
    assert d.span is not None, f"{code} has no source position"
    if code == "E003":
        # a missing file has no text to point into: the span names the file, no caret
        assert d.span.file == str(path)
        return
    allowed = [path] + ([p for p in (INVALID / "lib").glob("*.snn")] if code in IN_LIB else [])
    assert any(_same_file(d.span.file, p) for p in allowed), f"{code} points at {d.span.file}"
    text = Path(d.span.file).read_bytes()
    n_lines = text.count(b"\n") + 1
    assert 1 <= d.span.line <= n_lines and d.span.col >= 1
    if code == "E002":
        assert d.span.line == 10 and d.span.col == 6
        return
    rendered = render_all(diags, sources)
    assert f"[{code}]" in rendered
    head = f"{d.span.file}:{d.span.line}:{d.span.col}:"
    assert head in rendered
    # the quoted source line is followed by a caret line under the offending column
    lines = rendered.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith(head))
    quoted, caret = lines[i + 2], lines[i + 3]
    assert quoted.split("|", 1)[1][1:] == sources.line(d.span.file, d.span.line)
    m = re.fullmatch(r"\s*\| ( *)(\^+)", caret)
    assert m, f"no caret line under {quoted!r}: {caret!r}"
    assert len(m.group(1)) == d.span.col - 1


@pytest.mark.parametrize("code", CHECK_CODES)
def test_valid_fixture_has_no_errors(code):
    path = VALID / f"{code}.snn"
    spec, diags, sources = compile_spec(str(path))
    assert not _errors(diags), render_all(diags, sources)
    assert spec is not None
    assert not diags, render_all(diags, sources)  # no warnings either: the pair differs in one mistake


def test_every_check_time_code_has_a_pair():
    missing = [c for c in CHECK_CODES if not (VALID / f"{c}.snn").exists()
               or (c not in GENERATED and not (INVALID / f"{c}.snn").exists())]
    assert not missing, f"codes without a fixture pair: {missing}"


def test_every_fixture_names_a_known_code():
    for kind in (VALID, INVALID):
        for p in kind.glob("*.snn"):
            assert p.stem in CODES, f"{p} is not named after a code in snndsl/diagnostics/codes.py"
            assert p.stem not in RUNTIME_CODES, f"{p}: {p.stem} is reported at run time"
            first = p.read_text().splitlines()[0]
            assert first.startswith(f"# {p.stem}"), f"{p}: the first line should say what it tests"
    for c in GENERATED:
        assert not (INVALID / f"{c}.snn").exists()


def test_codes_are_well_formed():
    for c, title in CODES.items():
        assert re.fullmatch(r"[EW]\d{3}", c), c
        assert title and title == title.strip()
