"""The front end on the shipped specs: compiles, IR round-trips, spans, --set overrides, EC facts,
and error recovery (many mistakes reported in one pass, no cascades)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from snndsl import ir
from snndsl.diagnostics import render_all
from snndsl import compile_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.snn"))
EC_HOPPER = ROOT / "specs" / "ec_hopper.snn"


def _compile(path, overrides=()):
    spec, diags, sources = compile_spec(str(path), list(overrides))
    return spec, diags, sources


def _errors(diags):
    return [d for d in diags if d.is_error]


def test_there_are_specs():
    assert len(SPECS) >= 5


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_compiles(path):
    spec, diags, sources = _compile(path)
    assert not _errors(diags), render_all(diags, sources)
    assert spec is not None
    assert spec.name == path.stem
    assert spec.populations
    if spec.trainable:  # a spec to simulate (no task, no train) may be one population and nothing else
        assert spec.projections and spec.inputs and spec.outputs


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_ir_json_round_trip(path):
    spec, _, _ = _compile(path)
    text = spec.model_dump_json()
    back = ir.Spec.model_validate_json(text)
    assert back == spec
    assert back.model_dump_json() == text
    # the derived numbers survive too
    assert back.parameter_counts() == spec.parameter_counts()
    assert [p.gain for p in back.projections] == [p.gain for p in spec.projections]


def _missing_spans(node, path):
    """Paths of every IR node below `node` whose `span` is None."""
    if isinstance(node, BaseModel):
        if "span" in type(node).model_fields and node.span is None:
            yield path
        for k in type(node).model_fields:
            if k != "span":
                yield from _missing_spans(getattr(node, k), f"{path}.{k}")
    elif isinstance(node, (list, tuple)):
        for i, x in enumerate(node):
            yield from _missing_spans(x, f"{path}[{i}]")
    elif isinstance(node, dict):
        for k, x in node.items():
            yield from _missing_spans(x, f"{path}[{k}]")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_network_nodes_have_spans(path):
    spec, _, sources = _compile(path)
    n_lines = len(path.read_text().splitlines())
    for field in ("populations", "groups", "projections", "inputs", "outputs"):
        for i, node in enumerate(getattr(spec, field)):
            missing = list(_missing_spans(node, f"{field}[{i}]"))
            assert not missing, f"{path.name}: no span on {missing}"
            sp = node.span
            assert sp.file == str(path)
            assert 1 <= sp.line <= n_lines and sp.col >= 1
            assert sources.line(sp.file, sp.line) is not None
    for f in ("task", "train", "time"):
        if getattr(spec, f) is not None or spec.trainable:  # a spec to simulate has no task, no train
            assert getattr(spec, f).span is not None, f


def test_spans_point_at_the_declaration():
    spec, _, sources = _compile(EC_HOPPER)
    pop = spec.population("inh")
    assert sources.line(pop.span.file, pop.span.line).startswith("population inh = CubaLIF")
    proj = next(p for p in spec.projections if p.name == "hidden->hidden.i_syn")
    assert sources.line(proj.span.file, proj.span.line).startswith("project hidden -> hidden.i_syn")
    # stdlib models keep their own file
    cuba = spec.neuron("CubaLIFStep")
    assert cuba.span.file.endswith("neurons.snn")


# ---------------------------------------------------------------- --set overrides


QUICKSTART = ROOT / "specs" / "quickstart.snn"


def test_set_train_population():
    base, _, _ = _compile(QUICKSTART)
    spec, diags, _ = _compile(QUICKSTART, ["train.population=64"])
    assert not _errors(diags)
    assert base.train.population == 256 and spec.train.population == 64
    # ec_hopper keeps 128 evaluation copies, so a small population needs fewer of them
    spec, diags, _ = _compile(EC_HOPPER, ["train.population=64", "train.eval_copies=8"])
    assert not _errors(diags)
    assert spec.train.population == 64 and spec.train.eval_copies == 8


def test_set_population_below_eval_copies_points_at_the_command_line():
    spec, diags, _ = _compile(EC_HOPPER, ["train.population=64"])
    assert spec is None
    (d,) = _errors(diags)
    assert d.code == "E401" and d.span.file == "<command line>"


def test_set_task_episode_length():
    spec, diags, _ = _compile(EC_HOPPER, ["task.episode_length=100"])
    assert not _errors(diags)
    assert spec.task.episode_length == 100


def test_set_time_dt_with_unit():
    spec, diags, _ = _compile(EC_HOPPER, ["time.dt=0.25ms"])
    assert not _errors(diags)
    assert spec.time.dt == pytest.approx(0.25)
    spec, _, _ = _compile(EC_HOPPER, ["time.dt=250 us"])
    assert spec.time.dt == pytest.approx(0.25)


@pytest.mark.parametrize("key", ["N", "const.N"])
def test_set_constant(key):
    spec, diags, _ = _compile(EC_HOPPER, [f"{key}=64"])
    assert not _errors(diags)
    assert spec.consts["N"] == 64
    assert [p.size for p in spec.populations] == [32, 32]
    assert spec.size_of("hidden") == 64


def test_set_several_and_the_last_wins():
    spec, diags, _ = _compile(QUICKSTART, ["train.population=64", "train.lr=0.3", "train.population=32"])
    assert not _errors(diags)
    assert spec.train.population == 32 and spec.train.lr == pytest.approx(0.3)


def test_set_leaves_the_ast_untouched():
    """Overrides are applied to copies of the blocks and to the constants' override table: the
    parsed program is the same before and after elaboration (a time block is not added to it)."""
    import copy

    from snndsl.compiler import _modules
    from snndsl.diagnostics import Sources
    from snndsl.elaborate.overrides import parse_overrides
    from snndsl.elaborate.spec import elaborate
    from snndsl.syntax.loader import load_program

    main, _ = load_program(EC_HOPPER, Sources())
    before = copy.deepcopy(main.ast)
    ovs, _, _ = parse_overrides(["train.population=512", "task.episode_length=100", "time.substeps=2"])
    spec, diags = elaborate(main, _modules(main), ovs)
    assert spec is not None and not [d for d in diags if d.is_error]
    assert (spec.train.population, spec.task.episode_length, spec.time.substeps) == (512, 100, 2)
    assert main.ast == before


def test_set_unknown_key_hints_the_right_one():
    spec, diags, sources = _compile(EC_HOPPER, ["train.popsize=3"])
    assert spec is None
    (d,) = _errors(diags)
    assert d.code == "E203"
    assert "train.population" in (d.hint or "")
    assert d.span.file == "<command line>"
    text = render_all(diags, sources)
    assert "--set train.popsize=3" in text and "^" in text
    # the caret sits under the key
    line = sources.line("<command line>", 1)
    assert line[d.span.col - 1:d.span.end_col - 1] == "train.popsize"


@pytest.mark.parametrize("pair", ["nonsense=1", "foo", "=3", "task.=1", "train.population"])
def test_set_malformed_or_unknown(pair):
    spec, diags, sources = _compile(EC_HOPPER, [pair])
    assert spec is None
    errs = _errors(diags)
    assert errs and all(d.code == "E203" for d in errs)
    assert all(d.span and d.span.file == "<command line>" for d in errs)
    render_all(diags, sources)


@pytest.mark.parametrize("pair", ["train.population=abc", "train.population=2.5", 'train.population="x"',
                                  "train.population=((", "train.lr=-1", "time.dt=3", "task.env=42",
                                  "train.matmul=int3", "N=abc", "time.dt=1 parsec", "train.population=1e400"])
def test_set_bad_value_is_a_diagnostic(pair):
    spec, diags, sources = _compile(EC_HOPPER, [pair])
    assert spec is None
    errs = _errors(diags)
    assert errs, pair
    assert any(d.span and d.span.file == "<command line>" for d in errs), [(d.code, d.span) for d in errs]
    assert "^" in render_all(diags, sources)


# ---------------------------------------------------------------- EC facts (ec_hopper)


def test_set_constant_out_of_range_is_reported_where_used():
    spec, diags, sources = _compile(EC_HOPPER, ["N=-4"])
    assert spec is None
    errs = _errors(diags)
    assert {d.code for d in errs} == {"E403"}
    assert all(d.span.file == str(EC_HOPPER) for d in errs)
    assert "^" in render_all(diags, sources)


def test_ec_hopper_gains():
    spec, _, _ = _compile(EC_HOPPER)
    gains = {p.name: p.gain for p in spec.projections}
    assert gains["obs->hidden.i_in"] == pytest.approx(0.6030, abs=1e-3)
    assert gains["hidden->hidden.i_syn"] == pytest.approx(0.25, abs=1e-3)
    assert gains["hidden->action"] == pytest.approx(0.4419, abs=1e-3)
    assert all(p.gain_rule == "auto" for p in spec.projections)


def test_ec_hopper_counts():
    spec, _, _ = _compile(EC_HOPPER)
    assert spec.parameter_counts()["probabilities"] == 71936
    assert spec.parameter_counts()["probabilities"] == 22 * 256 + 256 * 256 + 256 * 3
    assert sum(p.size for p in spec.populations) == 256
    assert spec.size_of("hidden") == 256
    assert sum(p.size for p in spec.populations if p.sign == -1) == 128
    assert spec.population("inh").sign == -1 and spec.population("exc").sign == 1
    assert spec.inputs[0].size == 22 and spec.outputs[0].size == 3


def test_ode_methods():
    spec, _, _ = _compile(EC_HOPPER)
    step = spec.neuron("CubaLIFStep")  # the EC reference's discrete form
    assert step.integration.method == "step" and not step.odes
    assert [u.var for u in step.steps] == ["i_syn", "v"]


def test_izhikevich_is_euler(tmp_path):
    p = tmp_path / "izh.snn"
    p.write_text(
        'from "neurons" import Izhikevich\nfrom "encoders" import current\nfrom "readouts" import spike_count\n'
        "time { dt = 1 ms; steps = 4 }\ntask digits { }\ninput pixels = current\n"
        "population hidden = Izhikevich(8)\noutput logits = spike_count(hidden)\n"
        "project pixels -> hidden.i_ext { weights = dense(init = kaiming); learn w }\n"
        "project hidden -> logits { weights = dense(init = lecun); learn w }\n"
        "train surrogate { epochs = 1 }\n")
    spec, diags, sources = _compile(p)
    assert not _errors(diags), render_all(diags, sources)
    izh = spec.neuron("Izhikevich")
    # dv/dt has v ** 2: the whole model is integrated by forward Euler, both equations together
    assert {o.var: o.method for o in izh.odes} == {"v": "euler", "u": "euler"}
    assert izh.integration.method == "euler" and "nonlinear" in izh.integration.reason
    assert izh.ode("v").linear is None


# ---------------------------------------------------------------- error recovery

FIVE_MISTAKES = """\
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant

time { dt = 1; steps = 4 }
task digits { }

input pixels = current
population hidden = LIF(8) { tau = 2 ms }
population other = LIF(8) { v_th = 1 mV }
output logits = instant(hidden)

project pixels -> hidden.v { weights = dense(init = kaiming); learn w }
project hidden -> logits   { weights = dense(init = lecun); learn w }
project pixels -> other.v  { weights = bernoulli(p = 1.5) }
project pixels -> hiden.v  { weights = dense(init = kaiming); learn w }

train surrogate { epoch = 1 }
"""


def test_many_mistakes_in_one_pass(tmp_path):
    p = tmp_path / "five.snn"
    p.write_text(FIVE_MISTAKES)
    spec, diags, sources = _compile(p)
    assert spec is None
    got = {(d.code, d.span.line) for d in _errors(diags)}
    want = {("E303", 5), ("E204", 9), ("E301", 10), ("E401", 15), ("E201", 16), ("E203", 18)}
    assert want <= got, got
    assert len(_errors(diags)) == len(want), render_all(diags, sources)
    # reported in source order
    lines = [d.span.line for d in diags]
    assert lines == sorted(lines)


def test_broken_population_does_not_cascade(tmp_path):
    p = tmp_path / "neg.snn"
    p.write_text(EC_HOPPER.read_text().replace("CubaLIFStep(N / 2) { sign = -1 }", "CubaLIFStep(-4) { sign = -1 }"))
    spec, diags, sources = _compile(p)
    errs = _errors(diags)
    assert [d.code for d in errs] == ["E403"], render_all(diags, sources)
    assert "undefined" not in render_all(diags, sources)


def test_broken_model_does_not_cascade(tmp_path):
    p = tmp_path / "model.snn"
    p.write_text(EC_HOPPER.read_text().replace("CubaLIFStep", "CubaLIFF"))
    spec, diags, sources = _compile(p)
    assert [d.code for d in _errors(diags)] == ["E103"], render_all(diags, sources)


def test_missing_task_and_train(tmp_path):
    p = tmp_path / "empty.snn"
    p.write_text("# nothing here\n")
    spec, diags, sources = _compile(p)
    assert spec is None
    codes = [d.code for d in _errors(diags)]
    assert codes == ["E206"]  # no population; a missing task and train block only stop `run`
    assert all(d.span.file == str(p) for d in diags)


# ---------------------------------------------------------------- regressions: front-end bugs fixed
# Each case was accepted silently, crashed, or cascaded before the fix (see the helper's report).

SMALL_EC = """\
from "neurons" import CubaLIF
from "encoders" import signed_current
from "readouts" import filtered_rate
time { dt = 0.5 ms; substeps = 2 }
task brax { env = "inverted_pendulum"; episode_length = 10 }
input obs = signed_current
population hidden = CubaLIF(4)
output action = filtered_rate(hidden)
project obs -> hidden.i_in { weights = bernoulli(p = 0.5); learn p }
project hidden -> action   { weights = bernoulli(p = 0.5); learn p }
train ec { population = 8; eval_copies = 2; generations = 1 }
"""


def _codes_of(tmp_path, text, name="spec.snn"):
    p = tmp_path / name
    p.write_text(text)
    spec, diags, sources = _compile(p)
    render_all(diags, sources)
    return spec, [d.code for d in diags], render_all(diags, sources)


def test_regression_small_ec_is_valid(tmp_path):
    spec, codes, text = _codes_of(tmp_path, SMALL_EC)
    assert spec is not None and codes == [], text


@pytest.mark.parametrize("old,new,code", [
    # non-finite numbers: were folded to inf/nan (or a complex number) and crashed later
    ("CubaLIF(4)", "CubaLIF(1e400)", "E401"),
    ("dt = 0.5 ms", "dt = 1e300 ms * 1e300", "E401"),
    ("dt = 0.5 ms", "dt = (-8) ** 0.5 * 1 ms", "E401"),
    ("dt = 0.5 ms", "dt = 2 ** 2000 * 1 ms", "E401"),
    # an empty group crashed the summary (lower() indexed its first member)
    ("population hidden = CubaLIF(4)", "population hidden = CubaLIF(4)\ngroup g = []", "E503"),
    # settings or `learn` given twice in a body: the last one won silently
    ("CubaLIF(4)", "CubaLIF(4) { tau_m = 10 ms; tau_m = 20 ms }", "E202"),
    ("CubaLIF(4)", "CubaLIF(4) { v = 0; v = 1 }", "E202"),
    ("input obs = signed_current", "input obs = signed_current { normalize = running; normalize = none }", "E202"),
    ("filtered_rate(hidden)", "filtered_rate(hidden) { clip = 1; clip = 2 }", "E202"),
    ("bernoulli(p = 0.5); learn p }\nproject hidden", "bernoulli(p = 0.5); gain = 1; gain = 2; learn p }\nproject hidden", "E202"),
    ("bernoulli(p = 0.5); learn p }\nproject hidden", "bernoulli(p = 0.5); learn p; learn p }\nproject hidden", "E202"),
    # a gain with units, and an unknown argument of auto(): accepted before
    ("bernoulli(p = 0.5); learn p }\nproject hidden", "bernoulli(p = 0.5); gain = 2 ms; learn p }\nproject hidden", "E301"),
    ("bernoulli(p = 0.5); learn p }\nproject hidden", "bernoulli(p = 0.5); gain = auto(j = 2); learn p }\nproject hidden", "E203"),
    # a readout time constant of 0: division by zero at run time
    ("filtered_rate(hidden)", "filtered_rate(hidden) { tau = 0 ms }", "E402"),
    # output head and body
    ("filtered_rate(hidden)", "filtered_rate(hidden, 3)", "E305"),
    ("filtered_rate(hidden)", "filtered_rate(hidden) { size = 0 }", "E403"),
    ("filtered_rate(hidden)", "filtered_rate(obs)", "E205"),
    # `env = 3` is a value of the wrong type, not an unknown environment
    ('env = "inverted_pendulum"', "env = 3", "E404"),
    ('episode_length = 10', 'episode_length = 10; backend = 3', "E404"),
])
def test_regression_single_mistake(tmp_path, old, new, code):
    assert old in SMALL_EC
    spec, codes, text = _codes_of(tmp_path, SMALL_EC.replace(old, new, 1))
    assert spec is None
    assert codes == [code], text


LEAKY = """\
neuron Leaky {
    param tau  = 10 ms
    param v_th = 1
    state v = 0
    dv/dt = -v / tau
    spike when v > v_th
    on spike { v -= v_th }
}
"""
SMALL_LOCAL = SMALL_EC.replace('from "neurons" import CubaLIF\n', "").replace("CubaLIF", "Leaky") \
    .replace("hidden.i_in", "hidden.v") + LEAKY


@pytest.mark.parametrize("old,new,code", [
    # a spike condition that tests no state (it compiled into invalid Python)
    ("spike when v > v_th", "spike when 1 > 0", "E404"),
    # a state whose initial value fails: one error, not also "no state variable"
    ("state v = 0", "state v = uniform(0, w)", "E201"),
    # `dt` is a builtin; `refractory` given twice
    ("param tau  = 10 ms", "param tau  = 10 ms\n    param dt = 1 ms", "E202"),
    ("on spike { v -= v_th }", "on spike { v -= v_th }\n    refractory = 1 ms\n    refractory = 2 ms", "E202"),
    # non-finite literal in an equation
    ("dv/dt = -v / tau", "dv/dt = -v / tau + 1e400 / tau", "E401"),
])
def test_regression_model_mistake(tmp_path, old, new, code):
    assert old in SMALL_LOCAL
    spec, codes, text = _codes_of(tmp_path, SMALL_LOCAL.replace(old, new, 1))
    assert spec is None
    assert codes == [code], text


def test_regression_linear_forms_carry_spans(tmp_path):
    spec, codes, text = _codes_of(tmp_path, SMALL_LOCAL)
    assert spec is not None, text
    for m in spec.neurons:
        for o in m.odes:
            if o.linear is not None:
                assert o.linear.span is not None
                assert not list(_missing_spans(o.linear, "linear")), m.name


def test_regression_import_cycle_does_not_cascade(tmp_path):
    # a constant through an import cycle was reported again as "undefined name `X`; did you mean `X`?"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.snn").write_text('from "b.snn" import Y\nconst X = Y\n')
    (tmp_path / "lib" / "b.snn").write_text('from "a.snn" import X\nconst Y = X\n')
    text = SMALL_EC.replace("CubaLIF(4)", "CubaLIF(X)") + 'from "lib/a.snn" import X\n'
    spec, codes, rendered = _codes_of(tmp_path, text)
    assert codes == ["E102"], rendered


def test_regression_library_duplicate(tmp_path):
    (tmp_path / "lib.snn").write_text(LEAKY + LEAKY.replace("10 ms", "5 ms"))
    text = SMALL_EC.replace('from "neurons" import CubaLIF', 'from "lib.snn" import Leaky') \
        .replace("CubaLIF", "Leaky").replace("hidden.i_in", "hidden.v")
    spec, codes, rendered = _codes_of(tmp_path, text)
    assert codes == ["E202"], rendered
    assert "lib.snn:9:" in rendered


def test_regression_builtin_dt_is_not_a_duplicate(tmp_path):
    spec, codes, rendered = _codes_of(tmp_path, SMALL_LOCAL.replace("param tau  = 10 ms", "param tau  = 10 ms\n    param dt = 1 ms"))
    assert codes == ["E202"] and "`dt` is a builtin" in rendered, rendered


# ---------------------------------------------------------------- source positions and rendering


def _caret(rendered: str) -> tuple[str, int, int]:
    """(quoted line, caret column, caret width) of the first diagnostic in `rendered`."""
    lines = rendered.splitlines()
    quoted = lines[2].split("| ", 1)[1]
    caret = lines[3].split("| ", 1)[1]
    start = len(caret) - len(caret.lstrip(" "))
    return quoted, start, len(caret.strip())


def _one(tmp_path, text: bytes | str, code: str):
    p = tmp_path / "spec.snn"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    spec, diags, sources = _compile(p)
    (d,) = [d for d in diags if d.code == code]
    return d, render_all([d], sources)


STOP_DIGITS = (ROOT / "specs" / "stop_digits.snn").read_text()


def test_caret_after_tabs(tmp_path):
    d, text = _one(tmp_path, STOP_DIGITS.replace("    dt = 1 ms", "\tdt =\t1 msec"), "E304")
    quoted, start, width = _caret(text)
    assert "\t" not in quoted
    assert quoted[start:start + width] == "1 msec"


def test_crlf_and_bom(tmp_path):
    src = "\ufeff" + STOP_DIGITS.replace("tau_m = 2 ms", "tau = 2 ms").replace("\n", "\r\n")
    d, text = _one(tmp_path, src, "E204")
    quoted, start, width = _caret(text)
    assert quoted[start:start + width] == "tau"
    assert not quoted.endswith("\r")


def test_form_feed_does_not_shift_lines(tmp_path):
    # \f and U+2028 are whitespace to the lexer, not line breaks
    src = STOP_DIGITS.replace("# STOP", "#\f STOP \u2028", 1).replace("dt = 1 ms", "dt = 1")
    d, text = _one(tmp_path, src, "E303")
    assert d.span.line == src.split("\n").index("    dt = 1") + 1
    quoted, start, width = _caret(text)
    assert quoted == "    dt = 1" and quoted[start] == "1"


@pytest.mark.parametrize("cut, hint", [("bernoulli(p = 0.5", "a `(` is not closed"),
                                       ("clip = [-1, 1", "a `[` is not closed"),
                                       ('env = "hop', "a string is not closed"),
                                       ("train ec {\n    population = 10240", "a `{` is not closed")])
def test_truncated_file_hints(tmp_path, cut, hint):
    text = EC_HOPPER.read_text()
    src = text[:text.index(cut) + len(cut)]
    d, rendered = _one(tmp_path, src, "E001")
    assert hint in (d.hint or ""), rendered
    assert d.span.line <= len(src.split("\n"))


def test_bad_train_values_do_not_hide_rule_compatibility_errors(tmp_path):
    path = tmp_path / "spec.snn"
    path.write_text(
        'from "neurons" import LIF\nfrom "encoders" import current\nfrom "readouts" import instant\n'
        "task digits { }\ninput pixels = current\npopulation hidden = LIF(32)\noutput logits = instant(hidden)\n"
        "project pixels -> hidden.v { weights = dense(init = kaiming); learn w }\n"
        "project hidden -> logits { weights = dense(init = lecun); learn w }\n"
        "train ec { lr = -3; generations = many }\n")
    spec, diags, _ = _compile(path)
    assert spec is None
    codes = sorted(d.code for d in _errors(diags))
    assert codes == ["E201", "E401", "E602", "E603", "E603"], codes  # values, then the rule's fit (EC trains on digits)


@pytest.mark.parametrize("start, warned", [("0.05", True), ("0.1", False), ("4", False), ("5", True)])
def test_learnable_starting_outside_its_bounds_is_w401(tmp_path, start, warned):
    """A learned threshold (dimensionless) that starts outside `bounds` warns at the bounds; the
    ends of the bounds are inside."""
    text = (ROOT / "tests" / "fixtures" / "valid" / "W401.snn").read_text()
    text = text.replace("    learn tau_m per neuron { bounds = [1 ms, 30 ms] }",
                        f"    v_th = {start}\n    learn v_th per neuron {{ bounds = [0.1, 4] }}")
    path = tmp_path / "spec.snn"
    path.write_text(text)
    spec, diags, _ = _compile(path)
    assert spec is not None and not _errors(diags)
    w = [d for d in diags if d.code == "W401"]
    assert len(w) == int(warned)
    if warned:
        assert w[0].severity == "warning"
        assert w[0].message == f"`v_th` of population `hidden` starts at {float(start):g}, outside its bounds [0.1, 4]"
        assert w[0].span.line == 13 and "bounds" in text.splitlines()[12][: w[0].span.col]


@pytest.mark.parametrize("node, fields", [
    (ir.Time, {"dt": 0.0}), (ir.Time, {"substeps": 0}), (ir.Time, {"steps": 0}),
    (ir.Population, {"name": "h", "model": "LIF", "size": 0}),
    (ir.Bernoulli, {"p": 1.5}), (ir.Bernoulli, {"p": -0.1}),
    (ir.Sparse, {"p": 2.0, "init": ir.Init(dist="kaiming")}),
])
def test_ir_nodes_state_their_invariants(node, fields):
    """The IR's invariants are field bounds on its nodes: a node that breaks one cannot be made."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        node(**fields)
