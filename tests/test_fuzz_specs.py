"""Property test: mutate the shipped specs, the stdlib modules they import, and the `--set`
overrides; the front end never raises.

Each mutated spec is accepted (then it summarises and its IR round-trips through JSON), or every
error has a span whose line and column lie inside the file it names (the mutated spec, an
imported module, or the reconstructed command line) and whose quoted line is that line; the
diagnostics render as text and JSON.  What this found is kept as @example regressions below.

FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_specs.py   # a longer hunt
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from snndsl import ir
from snndsl.diagnostics import render_all
from snndsl import compile_spec
from snndsl.summary import summarize

ROOT = Path(__file__).resolve().parent.parent
SPECS = {p.name: p.read_text() for p in sorted((ROOT / "specs").glob("*.snn"))}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None
WORK = Path(tempfile.mkdtemp(prefix="snndsl-fuzz-"))  # not tmp_path: hypothesis reruns the test body
atexit.register(shutil.rmtree, WORK, True)

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.?\d*(?:[eE][+-]?\d+)?|->|\+=|-=|[<>]=|\S")
NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+\.?\d*(?:[eE][+-]?\d+)?")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PUNCT = list('{}()[]=;.,-+*/"#') + ["\n", "\t", " ", "'", "<", ">", "\r", "\x0c", "\u00e9", "\u2028", "\\"]
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"


# ---------------------------------------------------------------- mutations

def _delete_span(draw, text):
    i = draw(st.integers(0, max(0, len(text) - 1)))
    n = draw(st.integers(1, 30))
    return text[:i] + text[i + n:]


def _duplicate_line(draw, text):
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines)))
    lines.insert(j, lines[i])
    return "\n".join(lines)


def _swap_tokens(draw, text):
    toks = list(TOKEN.finditer(text))
    if len(toks) < 2:
        return text
    a, b = sorted(draw(st.lists(st.integers(0, len(toks) - 1), min_size=2, max_size=2, unique=True)))
    ta, tb = toks[a], toks[b]
    return text[:ta.start()] + tb.group() + text[ta.end():tb.start()] + ta.group() + text[tb.end():]


def _insert_char(draw, text):
    i = draw(st.integers(0, len(text)))
    ch = draw(st.sampled_from(PUNCT) | st.sampled_from(LETTERS))
    return text[:i] + ch + text[i:]


def _number(draw, text):
    nums = list(NUMBER.finditer(text))
    if not nums:
        return text
    m = draw(st.sampled_from(nums))
    new = draw(st.sampled_from(["-" + m.group(), "0", "0.0", "-0", "1e400", "1e-400", "2.5", "99999999999"]))
    return text[:m.start()] + new + text[m.end():]


def _near_miss(draw, text):
    ids = [m for m in IDENT.finditer(text) if len(m.group()) > 1]
    if not ids:
        return text
    m = draw(st.sampled_from(ids))
    w = m.group()
    k = draw(st.integers(0, len(w) - 1))
    how = draw(st.sampled_from(["drop", "double", "swap", "case", "suffix", "keyword"]))
    if how == "drop":
        w = w[:k] + w[k + 1:]
    elif how == "double":
        w = w[:k] + w[k] + w[k:]
    elif how == "swap" and k + 1 < len(w):
        w = w[:k] + w[k + 1] + w[k] + w[k + 2:]
    elif how == "case":
        w = w.swapcase()
    elif how == "suffix":
        w = w + draw(st.sampled_from(["s", "_", "2", "x"]))
    else:
        w = draw(st.sampled_from(["population", "project", "input", "output", "train", "task", "time", "neuron",
                                  "const", "learn", "per", "spike", "on", "from", "import", "group", "state",
                                  "param", "when", "true", "auto", "dt", "x", "s", "v", "task.obs"]))
    return text[:m.start()] + w + text[m.end():]


ALL_LINES = sorted({ln for t in SPECS.values() for ln in t.split("\n") if ln.strip()})
ALL_TOKENS = sorted({m.group() for t in SPECS.values() for m in TOKEN.finditer(t)})


def _replace_token(draw, text):
    toks = list(TOKEN.finditer(text))
    if not toks:
        return text
    m = draw(st.sampled_from(toks))
    return text[:m.start()] + draw(st.sampled_from(ALL_TOKENS)) + text[m.end():]


def _splice_line(draw, text):
    """A line from any shipped spec, in place of or beside one of this spec's lines."""
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    new = draw(st.sampled_from(ALL_LINES))
    if draw(st.booleans()):
        lines[i] = new
    else:
        lines.insert(i, new)
    return "\n".join(lines)


MUTATIONS = [_delete_span, _duplicate_line, _swap_tokens, _insert_char, _number, _near_miss, _replace_token,
             _splice_line]


@st.composite
def mutated_specs(draw):
    name = draw(st.sampled_from(sorted(SPECS)))
    text = SPECS[name]
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    return name, text


OVERRIDE_KEYS = ["train.population", "train.lr", "train.epochs", "train.surrogate", "train.optimizer",
                 "train.matmul", "train.fitness", "task.episode_length", "task.env", "task.path",
                 "task.test_fraction", "time.dt", "time.substeps", "time.steps", "N", "const.N",
                 "train", "train.", ".x", "", "foo.bar", "task.obs"]
OVERRIDE_VALUES = st.sampled_from(["64", "-1", "0", "0.5", "1e400", "abc", '"x"', "0.25ms", "1 ms", "((", ")",
                                   "adam(lr = 0.1)", "sgd(", "[1, 2]", "true", "none", "auto", "=", "", "1 parsec",
                                   "fast_sigmoid(slope = -1)", "triangle(2, 3)", "task.obs", "N", "\"", "#"]) \
    | st.text(alphabet='abc01.-+*/()[]="# ', max_size=8)


@st.composite
def overrides(draw):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(OVERRIDE_KEYS))
        value = draw(OVERRIDE_VALUES)
        out.append(draw(st.sampled_from([f"{key}={value}", key, f"={value}", f"{key}=={value}"])))
    return out


# ---------------------------------------------------------------- the property

def _check(path: Path, text: str, sets=()):
    spec, diags, sources = compile_spec(str(path), list(sets))  # must not raise
    errors = [d for d in diags if d.is_error]
    if spec is not None:
        assert not errors
        summarize(spec)
        assert ir.Spec.model_validate_json(spec.model_dump_json()) == spec
    else:
        assert errors, "rejected without an error"
    for d in diags:
        assert d.code and d.message
        if not d.is_error:
            continue
        assert d.span is not None, f"{d.code} {d.message}: no span"
        sp = d.span
        if sp.file == str(path):
            src = text
        elif sp.file == "<command line>":
            src = sources._text.get("<command line>", "")
        else:  # an imported module (the stdlib): must be a file that was read
            assert sp.file in sources._text, f"{d.code} points at unknown file {sp.file}"
            src = sources._text[sp.file]
        lines = src.split("\n")
        if lines and lines[-1] == "" and len(lines) > 1:
            lines.pop()
        assert 1 <= sp.line <= max(1, len(lines)), f"{d.code} {d.message}: line {sp.line} of {len(lines)}"
        assert 1 <= sp.col <= len(lines[sp.line - 1] if lines else "") + 1, \
            f"{d.code} {d.message}: col {sp.col} beyond line {sp.line}"
        if sp.end_line is not None:
            assert sp.end_line >= sp.line
        # the line a diagnostic quotes is the line the parser counted (lines end at "\n" only)
        assert sources.line(sp.file, sp.line) == (lines[sp.line - 1].rstrip("\r") if lines else ""), \
            f"{d.code}: quotes the wrong line"
    text_out = render_all(diags, sources)
    json.loads(render_all(diags, sources, fmt="json"))
    for d in errors:
        assert f"[{d.code}]" in text_out
    return spec, diags


def _write(name: str, text: str) -> Path:
    p = WORK / name
    p.write_text(text, encoding="utf-8", newline="")
    return p


@settings(max_examples=EXAMPLES or 700, deadline=None, derandomize=EXAMPLES is None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_specs())
@example(("ec_hopper.snn", SPECS["ec_hopper.snn"]))
# regression: a form feed / U+2028 is whitespace to the lexer but str.splitlines() split lines at
# it, so diagnostics quoted the wrong source line (diagnostics.Sources.line, parser._syntax_error)
@example(("stop_digits.snn", SPECS["stop_digits.snn"].replace("# STOP", "#\x0c STOP\u2028", 1)
          .replace("dt = 1 ms", "dt = 1")))
@example(("stop_digits.snn", "#\x0c\n\x0cpopulation ("))
# regression: tabs before the error column misplaced the caret (diagnostics.render)
@example(("stop_digits.snn", SPECS["stop_digits.snn"].replace("    dt = 1 ms", "\tdt = 1\tms")))
def test_mutated_specs_never_crash(case):
    name, text = case
    _check(_write(name, text), text)


# comment lines dropped, so that mutations land in definitions
STDLIB = {p.name: "\n".join(ln for ln in p.read_text().split("\n") if not ln.startswith("#"))
          for p in sorted((ROOT / "stdlib").glob("*.snn"))}
LOCAL = WORK / "local"  # a module beside the spec shadows the stdlib one of the same name
LOCAL.mkdir()


KEYWORDS = {"from", "import", "const", "neuron", "encoder", "readout", "time", "task", "train", "input",
            "population", "group", "output", "project", "param", "state", "spike", "when", "on", "learn", "per"}
DERIV = re.compile(r"\bd[A-Za-z_]\w*/dt\b")


def _plain_names(text):
    """Identifiers that are not keywords and not part of a `dx/dt`."""
    derivs = [m.span() for m in DERIV.finditer(text)]
    return [m for m in IDENT.finditer(text) if m.group() not in KEYWORDS
            and not any(a <= m.start() < b for a, b in derivs)]


ALL_IDENTS = sorted({m.group() for t in STDLIB.values() for m in _plain_names(t)})
ALL_OPS = ["+", "-", "*", "/", "**", ">", ">=", "<", "=", "+=", "-="]


def _replace_ident(draw, text):
    """A name replaced by another name of the stdlib: mostly still parses, so it reaches the builders."""
    ids = _plain_names(text)
    if not ids:
        return text
    m = draw(st.sampled_from(ids))
    return text[:m.start()] + draw(st.sampled_from(ALL_IDENTS)) + text[m.end():]


def _replace_op(draw, text):
    ops = [m for m in re.finditer(r"\*\*|[<>]=?|[-+]=|(?<![-+*/<>=])[-+*/=](?![=>])", text)]
    if not ops:
        return text
    m = draw(st.sampled_from(ops))
    return text[:m.start()] + draw(st.sampled_from(ALL_OPS)) + text[m.end():]


def _delete_line(draw, text):
    lines = text.split("\n")
    del lines[draw(st.integers(0, len(lines) - 1))]
    return "\n".join(lines)


# mutations that mostly keep the module parseable, so the model builders see them
MODEL_MUTATIONS = [_number, _near_miss, _replace_ident, _replace_op, _delete_line, _duplicate_line]


@st.composite
def mutated_modules(draw):
    spec = draw(st.sampled_from(sorted(SPECS)))
    module = draw(st.sampled_from(sorted(STDLIB)))
    text = STDLIB[module]
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MODEL_MUTATIONS if draw(st.integers(0, 3)) else MUTATIONS))(draw, text)
    return spec, module, text


@settings(max_examples=EXAMPLES or 250, deadline=None, derandomize=EXAMPLES is None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_modules())
@example(("ec_hopper.snn", "neurons.snn", STDLIB["neurons.snn"]))
def test_mutated_modules_never_crash(case):
    spec_name, module, text = case
    (LOCAL / module).write_text(text, encoding="utf-8", newline="")
    try:
        spec_path = LOCAL / spec_name
        spec_path.write_text(SPECS[spec_name])
        _, diags = _check(spec_path, SPECS[spec_name])
        for d in diags:
            if d.is_error and d.span.file != str(spec_path):
                assert Path(d.span.file).name in STDLIB, d.span.file
    finally:
        (LOCAL / module).unlink()


@settings(max_examples=EXAMPLES or 150, deadline=None, derandomize=EXAMPLES is None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SPECS)), overrides())
@example("ec_hopper.snn", ["train.population=64"])
# regression: `--set ""` put its caret past the end of the reconstructed command line
# (elaborate.overrides.parse_overrides stripped the trailing space)
@example("ec_hopper.snn", [""])
@example("ec_hopper.snn", ["train.popsize=3", "=", "N"])
def test_overrides_never_crash(name, sets):
    _check(_write(name, SPECS[name]), SPECS[name], sets)
