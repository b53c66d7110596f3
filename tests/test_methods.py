"""Integration methods: which one each model gets and why, their accuracy against closed forms, the
propagator against scipy, the errors of a bad `method`, `step` block or `delay`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import snndsl
from snndsl.diagnostics import SpecError

ROOT = Path(__file__).resolve().parents[1]
F64 = ["time.precision=float64"]

STDLIB = {  # model -> (method, coupled)
    "CubaLIF": ("exact", True), "LIF": ("exact", False), "HardLIF": ("exact", False), "LI": ("exact", False),
    "ALIF": ("exact", False), "LIFPhysical": ("exact", False), "Izhikevich": ("euler", None),
    "AdEx": ("euler", None), "CubaLIFStep": ("step", None),
}


def _load(tmp_path, text, name="m"):
    p = tmp_path / f"{name}.snn"
    p.write_text(text)
    return snndsl.load(str(p))


def _codes(tmp_path, text):
    with pytest.raises(SpecError) as e:
        _load(tmp_path, text)
    return [d.code for d in e.value.diagnostics if d.is_error], e.value.diagnostics


@pytest.mark.parametrize("model", sorted(STDLIB))
def test_stdlib_methods(tmp_path, model):
    spec = _load(tmp_path, f'from "neurons" import {model}\npopulation h = {model}(2)\n')
    integ = spec.neuron(model).integration
    method, coupled = STDLIB[model]
    assert integ.method == method, integ
    if coupled is not None:
        assert integ.system.coupled is coupled
    assert integ.reason


def test_state_dependent_coefficient_defaults_to_exponential_euler(tmp_path):
    spec = _load(tmp_path, """
neuron G {
    param tau = 10 ms
    param e = 1
    state g = 0.5
    state v = 0
    dg/dt = -g / tau
    dv/dt = g * (e - v) / tau
}
population h = G(1)
""")
    integ = spec.neuron("G").integration
    assert integ.method == "exponential_euler" and "own variable" in integ.reason


def test_check_prints_the_method_and_why():
    out = subprocess.run([sys.executable, "-m", "snndsl", "check", str(ROOT / "specs" / "stop_digits.snn")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "LIF: exact, linear with constant coefficients" in out.stdout


# ---------------------------------------------------------------- accuracy against closed forms

RICCATI = """
neuron Q {
    state v = 1
    dv/dt = -v ** 2 / (1 ms)
    METHOD
}
population h = Q(1)
"""


def test_runge_kutta_orders_on_a_riccati_equation(tmp_path):
    """dv/dt = -v^2, v(0) = 1: v(t) = 1 / (1 + t).  Halving dt divides the error by 2, 4 and 16."""
    errors = {}
    for method in ("euler", "rk2", "rk4"):
        p = tmp_path / f"{method}.snn"
        p.write_text(RICCATI.replace("METHOD", f"method = {method}"))
        errs = []
        for dt in (0.1, 0.05):
            rec = snndsl.simulate(str(p), duration="2 ms", record=["h.v"], sets=F64 + [f"time.dt={dt} ms"])
            errs.append(abs(rec["h.v"][-1, 0] - 1 / (1 + rec["t"][-1])))
        errors[method] = errs
    for method, order in (("euler", 1), ("rk2", 2), ("rk4", 4)):
        ratio = errors[method][0] / errors[method][1]
        assert 2 ** order * 0.8 < ratio < 2 ** order * 1.25, (method, errors[method])
    assert errors["rk4"][1] < 1e-7 < errors["euler"][1]


def test_exponential_euler_is_exact_for_a_frozen_coefficient(tmp_path):
    p = tmp_path / "ee.snn"
    p.write_text("""
neuron E {
    param tau = 10 ms
    state g = 2
    state v = 1
    dv/dt = -g * v / tau
}
population h = E(1)
""")
    rec = snndsl.simulate(str(p), duration="20 ms", record=["h.v"], sets=F64 + ["time.dt=0.5 ms"])
    np.testing.assert_allclose(rec["h.v"][:, 0], np.exp(-2 * rec["t"] / 10), atol=1e-12)


def test_linear_propagator_against_scipy():
    import jax
    import scipy.linalg

    from snndsl_runtime.integrators import linear_propagator, linear_step

    rng = np.random.default_rng(0)
    a = -np.eye(3) * 0.3 + 0.1 * rng.normal(size=(3, 3))
    dt = 0.5
    with jax.enable_x64(True):
        pq = linear_propagator(a.tolist(), dt)
        p_ref = scipy.linalg.expm(a * dt)
        q_ref = np.linalg.solve(a, p_ref - np.eye(3))  # A^-1 (e^(A dt) - I)
        np.testing.assert_allclose(pq["P"], p_ref, atol=1e-12)
        np.testing.assert_allclose(pq["Q"], q_ref, atol=1e-12)
        # per-neuron coefficients: one propagator per neuron
        taus = np.array([5.0, 10.0])
        per = linear_propagator([[-1 / taus, 0.0], [1 / taus, -1 / taus]], dt)
        assert per["P"].shape == (2, 2, 2)
        np.testing.assert_allclose(per["P"][1], scipy.linalg.expm(np.array([[-0.1, 0], [0.1, -0.1]]) * dt),
                                   atol=1e-12)
        x = linear_step(per["P"], per["Q"], [np.ones(2), np.zeros(2)], [np.zeros(2), np.ones(2)])
        np.testing.assert_allclose(x[1][0], (np.asarray(per["P"][0]) @ [1.0, 0.0] + np.asarray(per["Q"][0]) @ [0.0, 1.0])[1], atol=1e-12)


# ---------------------------------------------------------------- errors

MODEL = """
neuron M {
    param tau = 10 ms
    state v = 0
    BODY
}
population h = M(1)
"""


@pytest.mark.parametrize("body, code, text", [
    ("dv/dt = -v / tau\n    method = rk5", "E404", "rk4"),
    ("dv/dt = -v ** 2 / tau\n    method = exponential_euler", "E404", "euler, rk2 or rk4"),
    ("dv/dt = -v / tau\n    step {\n        v <- v\n    }", "E205", "not both"),
    ("step {\n        u <- v\n    }", "E201", "not a state"),
    ("step {\n        v <- 1 ms\n    }", "E301", "assigns"),
    ("step {\n        v <- 0.5 * v\n    }\n    method = euler", "E205", "no equations"),
])
def test_method_and_step_errors(tmp_path, body, code, text):
    codes, diags = _codes(tmp_path, MODEL.replace("BODY", body))
    assert codes == [code], diags
    assert any(text in (d.message + " " + (d.hint or "")) for d in diags), diags


DELAY = """
from "neurons" import LIF
from "encoders" import current
input x = current { size = 2 }
population a = LIF(2)
population b = LIF(2)
project x -> a.v { weights = dense(init = 1) XDELAY }
project a -> b.v { weights = dense(init = 1) ABDELAY }
project b -> a.v { weights = dense(init = 1) BADELAY }
"""


def _delay(ab="", ba="", x=""):
    return DELAY.replace("ABDELAY", ab).replace("BADELAY", ba).replace("XDELAY", x)


def test_delay_one_step_delivers_the_previous_steps_spikes(tmp_path):
    from snndsl.lower import lower

    spec = _load(tmp_path, _delay(ab="; delay = 1"))
    plan = lower(spec)
    delayed = {pp.ir.name: pp.delayed for pp in plan.projections}
    assert delayed["a->b.v"] and not delayed["b->a.v"]  # the delay breaks the loop: b now updates first
    spec = _load(tmp_path, _delay())
    assert {pp.ir.name: pp.delayed for pp in lower(spec).projections}["a->b.v"] is False


@pytest.mark.parametrize("kw, where, code", [
    ({"ba": "; delay = 0"}, "", "E401"),
    ({"ab": "; delay = -1"}, "", "E401"),  # 2 steps and more, and 0.7 ms (rounded): tests/test_delays.py
    ({"ab": "; delay = 2.5"}, "", "E403"),
    ({"ab": "; delay = 1 mV"}, "", "E404"),
    ({"x": "; delay = 1"}, "", "E205"),
])
def test_delay_errors(tmp_path, kw, where, code):
    codes, diags = _codes(tmp_path, _delay(**kw))
    assert codes == [code], diags
