"""`for` loops, stages and `{...}` names (snndsl/expand/): a looped spec compiles to the model of
the spec written out by hand, and every misuse is a located diagnostic naming the iteration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from snndsl import compile_spec
from snndsl.codegen.generate import generate
from snndsl.compiler import compile_program
from snndsl.diagnostics import render_all
from snndsl.expand import expand
from snndsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parent.parent

HEAD = """from "neurons" import LIF
from "encoders" import current
from "readouts" import instant

time { dt = 1 ms; steps = 4 }
task digits { }

input pixels = current
"""
TRAIN = "\ntrain surrogate { epochs = 1 }\n"


def _write(folder: Path, body: str, name: str = "net.snn") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(HEAD + body + TRAIN)
    return path


def _model(path: Path, overrides=()) -> str:
    c = compile_program(str(path), list(overrides))
    assert c.spec is not None, render_all(c.diagnostics, c.sources)
    assert not c.diagnostics, render_all(c.diagnostics, c.sources)
    return generate(c.spec, c.plan)


def _same_model(a: str, b: str) -> None:
    """The two model files are equal but for the spec's path and SPEC_HASH (which covers source positions)."""
    def strip(text):
        return [ln for ln in text.splitlines() if "net.snn" not in ln and not ln.startswith("SPEC_HASH")]

    hash_a, hash_b = (re.search(r"NETWORK_HASH = '(\w+)'", t).group(1) for t in (a, b))
    assert hash_a == hash_b
    assert strip(a) == strip(b)


LOOPED_VGG = """
const STAGES = [[16, 1], [8, 2]]          # (width, convolutions) per stage
for s, w, n in enumerate(STAGES) from pixels {
    for k in range(n) from prev {
        population conv{s}_{k} = LIF(w) { tau_m = 2 ms * (k + 1) }
        project {prev} -> conv{s}_{k}.v { weights = dense(init = kaiming); learn w }
    }
    population pool{s} = LIF(w / 2)
    project conv{s}_{n-1} -> pool{s}.v { weights = dense(init = kaiming) }
}
output logits = instant(pool1)
project pool1 -> logits { weights = dense(init = lecun); learn w }
"""

HAND_VGG = """
population conv0_0 = LIF(16) { tau_m = 2 ms }
project pixels -> conv0_0.v { weights = dense(init = kaiming); learn w }
population pool0 = LIF(8)
project conv0_0 -> pool0.v { weights = dense(init = kaiming) }
population conv1_0 = LIF(8) { tau_m = 2 ms }
project pool0 -> conv1_0.v { weights = dense(init = kaiming); learn w }
population conv1_1 = LIF(8) { tau_m = 4 ms }
project conv1_0 -> conv1_1.v { weights = dense(init = kaiming); learn w }
population pool1 = LIF(4)
project conv1_1 -> pool1.v { weights = dense(init = kaiming) }
output logits = instant(pool1)
project pool1 -> logits { weights = dense(init = lecun); learn w }
"""


def test_nested_loops_emit_the_model_written_out(tmp_path):
    looped, hand = _write(tmp_path / "a", LOOPED_VGG), _write(tmp_path / "b", HAND_VGG)
    _same_model(_model(looped), _model(hand))
    spec, _, _ = compile_spec(str(looped))
    assert [p.name for p in spec.populations] == ["conv0_0", "pool0", "conv1_0", "conv1_1", "pool1"]
    assert [(p.source, p.target) for p in spec.projections][:3] == [
        ("pixels", "conv0_0"), ("conv0_0", "pool0"), ("pool0", "conv1_0")]


LOOPED_RESNET = """
# a residual block: x drives a, a drives b, and x drives b too (two projections into b add)
stage residual(x, name, n) {
    population {name}_a = LIF(n)
    population {name}_b = LIF(n)
    project x -> {name}_a.v { weights = dense(init = kaiming); learn w }
    project {name}_a -> {name}_b.v { weights = dense(init = kaiming); learn w }
    project x -> {name}_b.v { weights = dense(init = kaiming); learn w }
}
population stem = LIF(16)
project pixels -> stem.v { weights = dense(init = kaiming); learn w }
for i, n in zip(range(2), [16, 16]) from stem {
    use residual(prev, block{i}, n = n)
}
output logits = instant(block1_b)
project block1_b -> logits { weights = dense(init = lecun); learn w }
"""

HAND_RESNET = """
population stem = LIF(16)
project pixels -> stem.v { weights = dense(init = kaiming); learn w }
population block0_a = LIF(16)
population block0_b = LIF(16)
project stem -> block0_a.v { weights = dense(init = kaiming); learn w }
project block0_a -> block0_b.v { weights = dense(init = kaiming); learn w }
project stem -> block0_b.v { weights = dense(init = kaiming); learn w }
population block1_a = LIF(16)
population block1_b = LIF(16)
project block0_b -> block1_a.v { weights = dense(init = kaiming); learn w }
project block1_a -> block1_b.v { weights = dense(init = kaiming); learn w }
project block0_b -> block1_b.v { weights = dense(init = kaiming); learn w }
output logits = instant(block1_b)
project block1_b -> logits { weights = dense(init = lecun); learn w }
"""


def test_stage_in_a_loop_emits_the_model_written_out(tmp_path):
    _same_model(_model(_write(tmp_path / "a", LOOPED_RESNET)), _model(_write(tmp_path / "b", HAND_RESNET)))


def test_a_constant_set_on_the_command_line_changes_the_loop(tmp_path):
    path = _write(tmp_path, """
const DEPTH = 2
for i in range(DEPTH) from pixels {
    population h{i} = LIF(8)
    project {prev} -> h{i}.v { weights = dense; learn w }
}
output logits = instant(h0)
project h0 -> logits { weights = dense; learn w }
""")
    assert len(compile_spec(str(path))[0].populations) == 2
    spec, diags, sources = compile_spec(str(path), ["DEPTH=4"])
    assert [p.name for p in spec.populations] == ["h0", "h1", "h2", "h3"], render_all(diags, sources)


def test_names_values_and_strings_in_a_loop(tmp_path):
    # a list of names drives the endpoints; a string and an index build the names; a group of the copies
    path = _write(tmp_path, """
for src, tag, n in [[pixels, "x", 8], [pixels, "y", 4]] {
    population cell_{tag} = LIF(n + 0 * 1)
    project src -> cell_{tag}.v { weights = dense; learn w }
}
group both = [cell_x, cell_y]
output logits = instant(cell_x)
project cell_x -> logits { weights = dense; learn w }
""")
    spec, diags, sources = compile_spec(str(path))
    assert spec is not None, render_all(diags, sources)
    assert [(p.name, p.size) for p in spec.populations] == [("cell_x", 8), ("cell_y", 4)]
    assert spec.groups[0].members == ["cell_x", "cell_y"]


def test_a_spec_without_loops_is_not_copied():
    module = parse(HEAD + HAND_VGG + TRAIN, "x.snn")
    out, diags = expand(module)
    assert out is module and diags == []


def test_a_body_written_against_a_name_is_still_a_body(tmp_path):
    path = _write(tmp_path, """
population h = LIF(8){tau_m = 2 ms}
project pixels -> h.v{weights=dense;learn w}
output logits = instant(h)
project h -> logits { weights = dense; learn w }
""")
    spec, diags, sources = compile_spec(str(path))
    assert spec is not None, render_all(diags, sources)


LAYER = """
stage layer(x, name, n) {
    population {name} = LIF(n)
    project x -> {name}.v { weights = dense; learn w }
}
"""
OUT = "\noutput logits = instant(h1)\nproject h1 -> logits { weights = dense; learn w }\n"

# (body, code, the line reported (counted in the body), words in the message, words in its notes or hint)
MISUSES = [
    ("for i in [0, 1] from pixels {\n    population h{j} = LIF(8)\n}", "E207", 2, "unknown name `j` in `h{j}`",
     "iteration i = 0"),
    ("for i in [0, 1] {\n    population h{i} = LIF(8)\n    project {prev} -> h{i}.v { weights = dense }\n}", "E207", 3,
     "`prev`", "from pixels"),
    ("for i in range(M) {\n    population h{i} = LIF(8)\n}", "E207", 1, "unknown name `M`", ""),
    ("const N = 3\nfor i in N {\n    population h{i} = LIF(8)\n}", "E208", 2, "not `N` (= 3)", "range(n)"),
    ("for i, n in [[0, 8], [1, 8, 2]] {\n    population h{i} = LIF(n)\n}", "E208", 1, "[1, 8, 2] has 3 values", ""),
    ("for i, n in zip([0, 1], [8]) {\n    population h{i} = LIF(n)\n}", "E208", 1, "different lengths (2, 1)", ""),
    ("for i in range(1000000) {\n    population h{i} = LIF(8)\n}", "E208", 1, "range of 1,000,000 values (at most 20,000)", ""),
    (LAYER + "use layer(pixels, h1)", "E209", 6, "`n` is missing", "layer(x, name, n)"),
    (LAYER + "use layer(pixels, h1, 8, 9)", "E209", 6, "takes 3 arguments, got 4", ""),
    (LAYER + "use layer(pixels, h1, size = 8)", "E209", 6, "no parameter `size`", ""),
    (LAYER + "use layr(pixels, h1, 8)", "E209", 6, "unknown stage `layr`", "did you mean `layer`"),
    ("for i in [1] {\n    train es { }\n}", "E211", 2, "`train` inside a `for` loop", "iteration i = 1"),
    ("stage a(x) {\n    stage b(y) { }\n}\nuse a(1)", "E211", 2, "`stage` inside a stage", "use a(1)"),
    ("stage a(x) {\n    population p{x} = LIF(8)\n    use a(x + 1)\n}\nuse a(1)", "E211", 3,
     "`a` uses itself (a -> a)", "use a(1)"),
    ("stage a(x) {\n    use b(x * 2)\n}\nstage b(y) {\n    use a(y)\n}\nuse a(3)", "E211", 5,
     "`a` uses itself (a -> b -> a)", "in `use b(6)` at line 10, within `use a(3)` at line 15"),
    ("for a in range(1000) {\n    for b in range(1000) { }\n}", "E211", 2, "more than 20,000 statements and iterations",
     "iteration a = 19"),
    ("for i in [1, 2] {\n    population h = LIF(8)\n}", "E212", 2, "`h` is defined twice", "iteration i = 2"),
    (LAYER + "use layer(pixels, h1, 8)\nuse layer(pixels, h1, 4)", "E212", 3, "`h1` is defined twice",
     "use layer(pixels, h1, 4)"),
    ("for i in [0] {\n    population {i} = LIF(8)\n}", "E213", 2, "gives `0`, which is not a name", "layer{i}"),
    ("for c in [[1, 2]] {\n    population h{c} = LIF(8)\n}", "E213", 2, "is a list, [1, 2]", ""),
    ("for i in range(task.obs) {\n    population h{i} = LIF(8)\n}", "E208", 1, "known only once the task is read", ""),
]


@pytest.mark.parametrize("body, code, line, message, context", MISUSES, ids=[f"{m[1]}-{k}" for k, m in enumerate(MISUSES)])
def test_misuse_is_located_inside_the_body(tmp_path, body, code, line, message, context):
    path = _write(tmp_path, body + OUT)
    spec, diags, sources = compile_spec(str(path))
    assert spec is None
    errors = [d for d in diags if d.is_error]
    assert [d.code for d in errors] == [code], render_all(diags, sources)
    d = errors[0]
    assert d.span.file == str(path) and d.span.line == HEAD.count("\n") + line, render_all(diags, sources)
    assert message in d.message, d.message
    assert context in " ".join([*d.notes, d.hint or ""]), render_all(diags, sources)
    rendered = render_all(diags, sources)
    assert f"[{code}]" in rendered and "^" in rendered


def test_a_later_error_in_a_copy_names_its_iteration(tmp_path):
    path = _write(tmp_path, """
for i, n in enumerate([8, 4]) from pixels {
    population h{i} = LIF(n) { tau_mm = 2 ms }
    project {prev} -> h{i}.v { weights = dense; learn w }
}
output logits = instant(h1)
project h1 -> logits { weights = dense; learn w }
""")
    spec, diags, sources = compile_spec(str(path))
    [d] = [d for d in diags if d.is_error]
    assert d.code == "E204" and d.span.line == 11
    assert d.notes == ["in iteration i = 0, n = 8 of the `for` at line 10"]
    assert "= note: in iteration i = 0, n = 8" in render_all(diags, sources)
    assert json.loads(render_all(diags, sources, fmt="json"))[0]["notes"] == d.notes


def test_check_exits_2_without_a_traceback_and_prints_the_copies(tmp_path):
    bad = _write(tmp_path / "bad", "for i in [1, 2] {\n    population h = LIF(8)\n}" + OUT)
    good = _write(tmp_path / "good", LOOPED_VGG)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "snndsl", "check", str(good), str(bad)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{bad}:10:16: error[E212]" in r.stderr and "= note: in iteration i = 2" in r.stderr
    assert "conv1_1" in r.stdout and "pool0" in r.stdout


def test_a_stage_in_an_imported_module_is_refused(tmp_path):
    (tmp_path / "blocks.snn").write_text("const W = 8\nstage layer(x) {\n    population p = LIF(x)\n}\n")
    path = tmp_path / "net.snn"
    path.write_text('from "neurons" import LIF\nfrom "blocks" import W\npopulation h = LIF(W)\n')
    spec, diags, sources = compile_spec(str(path))
    [d] = [d for d in diags if d.is_error]
    assert d.code == "E104" and "`stage` in an imported module" in d.message and d.span.line == 2
