"""The generated neuron updates against closed-form solutions and an independent Euler simulator.

Each test simulates a small spec with snndsl.simulate (the same generated network_step that training
uses) in float64 (`time.precision = float64`) and compares with a formula derived by hand:
- LIF under a constant current: interspike intervals, exact method, with and without a refractory
  period, at dt 0.1 and 0.5 ms; and the discrete `step` form (snnTorch's Leaky);
- CubaLIF's postsynaptic potential for one synaptic jump: every sample, the peak and the area;
- ALIF's adaptation (its threshold trace) under the neuron's own spike train;
- AdEx written in either order: the same spikes, equal to a numpy forward-Euler reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import snndsl

F64 = ["time.precision=float64"]


def _spec(tmp_path, text: str, name: str = "cell") -> str:
    p = tmp_path / f"{name}.snn"
    p.write_text(text)
    return str(p)


def _spike_steps(rec, name="h.spikes"):
    return np.nonzero(rec[name][:, 0])[0]


# ---------------------------------------------------------------- LIF, exact method

LIF = """
const REF = 2 ms
const DT = 0.5 ms
time { dt = DT }
neuron L {
    param tau_m = 20 ms
    param r_m = 100 Mohm
    param v_rest = -65 mV
    param v_th = -50 mV
    param v_reset = -65 mV
    state v = -65 mV
    input i_ext
    dv/dt = (v_rest - v + r_m * i_ext) / tau_m
    spike when v > v_th
    on spike { v = v_reset }
    refractory = REF
}
population h = L(1)
"""


def _lif_first_crossing(dt: float, tau=20.0, ri=20.0, v0=0.0, th=15.0) -> tuple[int, float]:
    """(steps of exact integration from v0 until v > th, the continuous time T*), relative to v_rest."""
    t_star = tau * math.log((ri - v0) / (ri - th))
    m = math.floor(t_star / dt) + 1
    assert ri + (v0 - ri) * math.exp(-m * dt / tau) > th >= ri + (v0 - ri) * math.exp(-(m - 1) * dt / tau)
    return m, t_star


@pytest.mark.parametrize("dt", [0.1, 0.5])
@pytest.mark.parametrize("ref", [0.0, 2.0])
def test_lif_interspike_intervals_closed_form(tmp_path, dt, ref):
    spec = _spec(tmp_path, LIF)
    rec = snndsl.simulate(spec, inputs={"h.i_ext": "0.2 nA"}, duration="200 ms", record=["h.v", "h.spikes"],
                          sets=F64 + [f"DT={dt} ms", f"REF={ref} ms"])
    m, t_star = _lif_first_crossing(dt)
    n = round(ref / dt)
    isi = m if n == 0 else n - 1 + m  # steps: n - 1 held after the spike step, then m integrating
    steps = _spike_steps(rec)
    assert steps[0] == m - 1  # the first step integrates once
    assert list(np.diff(steps)) == [isi] * (len(steps) - 1) and len(steps) > 3
    # within one step of the continuous-time interval t_ref + T*: the crossing is detected at the end
    # of its step (up to dt late); a refractory period counts from the spike step's start (dt early)
    late = ref + t_star if n == 0 else ref + t_star - dt
    assert late < isi * dt <= late + dt + 1e-9
    # between spikes the membrane follows the exact solution at every sample
    v = rec["h.v"][:, 0]
    k = np.arange(steps[0])  # samples after steps 0 .. first spike - 1
    exact = -65.0 + 20.0 * (1 - np.exp(-(k + 1) * dt / 20.0))
    np.testing.assert_allclose(v[: steps[0]], exact, rtol=0, atol=1e-9)


def test_refractory_holds_the_declared_time(tmp_path):
    """At dt 0.1 and 0.5 ms a 2 ms refractory period holds v for round(2/dt) - 1 steps after the spike step."""
    for dt in (0.1, 0.5):
        spec = _spec(tmp_path, LIF, f"ref{int(dt * 10)}")
        rec = snndsl.simulate(spec, inputs={"h.i_ext": "0.2 nA"}, duration="60 ms", record=["h.v", "h.spikes"],
                              sets=F64 + [f"DT={dt} ms"])
        k = _spike_steps(rec)[0]
        v = rec["h.v"][:, 0]
        n = round(2.0 / dt)
        assert np.all(v[k: k + n] == -65.0)  # reset in step k, held in k+1 .. k+n-1
        assert v[k + n] > -65.0  # integrates again in step k+n, 2 ms after the spike step's start


def test_lif_discrete_form_closed_form(tmp_path):
    """snnTorch's Leaky, v <- beta*v + i, hard reset: v_n = i (1 - beta^n) / (1 - beta)."""
    spec = _spec(tmp_path, """
neuron Leaky {
    param beta = 0.9
    param v_th = 1
    state v = 0
    input i
    step {
        v <- beta * v + i
    }
    spike when v > v_th
    on spike { v = 0 }
}
population h = Leaky(1)
""")
    i, beta = 0.25, 0.9
    rec = snndsl.simulate(spec, inputs={"h.i": str(i)}, duration="60 ms", record=["h.v", "h.spikes"], sets=F64)
    m = math.floor(math.log(1 - 1.0 * (1 - beta) / i) / math.log(beta)) + 1
    steps = _spike_steps(rec)
    assert steps[0] == m - 1 and list(np.diff(steps)) == [m] * (len(steps) - 1)
    n = np.arange(1, m)
    np.testing.assert_allclose(rec["h.v"][: m - 1, 0], i * (1 - beta ** n) / (1 - beta), atol=1e-12)


# ---------------------------------------------------------------- CubaLIF: the coupled linear system

CUBA = """
from "neurons" import CubaLIF
time { dt = 0.5 ms }
input pre = current { size = 1 }
population h = CubaLIF(1) { v = 0; v_th = 100 }
project pre -> h.i_syn { weights = dense(init = 0.5) }
"""


def _psp(t, w=0.5, tau_m=10.0, tau_s=5.0):
    """v(t) after a jump w into i_syn at t = 0: w tau_s / (tau_s - tau_m) (e^-t/tau_s - e^-t/tau_m)."""
    return w * tau_s / (tau_s - tau_m) * (np.exp(-t / tau_s) - np.exp(-t / tau_m))


@pytest.mark.parametrize("dt", [0.1, 0.5])
def test_cubalif_psp_peak_and_area(tmp_path, dt):
    spec = _spec(tmp_path, 'from "encoders" import current\n' + CUBA)
    rec = snndsl.simulate(spec, inputs={"pre": "spikes(times = [0 ms])"}, duration="300 ms",
                          record=["h.v", "h.i_syn"], sets=F64 + [f"time.dt={dt} ms"])
    v = rec["h.v"][:, 0]
    t = np.arange(len(v)) * dt  # the jump lands at the end of step 0; sample k is t = k dt after it
    np.testing.assert_allclose(rec["h.i_syn"][:, 0], 0.5 * np.exp(-t / 5.0), atol=1e-12)
    np.testing.assert_allclose(v, _psp(t), atol=1e-12)
    # the peak: 0.125 at t* = tau_m tau_s / (tau_m - tau_s) ln(tau_m / tau_s), never overshot
    t_star = 10.0 * 5.0 / 5.0 * math.log(2.0)
    assert v.max() <= 0.125 + 1e-12
    assert abs(v.max() - _psp(np.round(t_star / dt) * dt)) < 1e-12
    # the area: w tau_s = 2.5 ms in continuous time; the samples' sum is its geometric-series form
    lam_s, lam_m = math.exp(-dt / 5.0), math.exp(-dt / 10.0)
    riemann = 0.5 * 5.0 / (5.0 - 10.0) * dt * (1 / (1 - lam_s) - 1 / (1 - lam_m))
    assert abs(v.sum() * dt - riemann) < 1e-9  # the tail after 300 ms is below 1e-12
    assert abs(riemann - 2.5) < dt  # converges to the integral as dt -> 0


def test_cubalif_psp_in_float32(tmp_path):
    spec = _spec(tmp_path, 'from "encoders" import current\n' + CUBA)
    rec = snndsl.simulate(spec, inputs={"pre": "spikes(times = [0 ms])"}, duration="40 ms", record=["h.v"])
    v = rec["h.v"][:, 0]
    np.testing.assert_allclose(v, _psp(np.arange(len(v)) * 0.5), rtol=0, atol=2e-7)


# ---------------------------------------------------------------- ALIF: the threshold trace

def test_alif_threshold_trace_under_its_spike_train(tmp_path):
    spec = _spec(tmp_path, """
from "neurons" import ALIF
from "encoders" import current
time { dt = 1 ms }
input drive = current { size = 1 }
population h = ALIF(1)
project drive -> h.v { weights = dense(init = 1) }
""")
    rec = snndsl.simulate(spec, inputs={"drive": "0.3"}, duration="400 ms", record=["h.a", "h.spikes"], sets=F64)
    s = rec["h.spikes"][:, 0].astype(float)
    assert 5 < s.sum() < 200
    lam = math.exp(-1.0 / 200.0)
    k = np.arange(len(s))
    # a_k = sum over spike steps j <= k of lam^(k - j): each spike adds 1 after that step's decay
    a = np.array([np.sum(s[: i + 1] * lam ** (i - k[: i + 1])) for i in k])
    np.testing.assert_allclose(rec["h.a"][:, 0], a, atol=1e-12)
    theta = 1.0 + 0.2 * rec["h.a"][:, 0]  # v_th + beta * a, the threshold the next step tests against
    first = int(np.argmax(s))
    assert np.all(np.diff(theta)[first:][s[first + 1:] == 0] < 0)  # it decays between spikes


# ---------------------------------------------------------------- AdEx: declaration order does not matter

ADEX = """
const DT = 0.5 ms
time { dt = DT }
neuron A {
    param c_m = 281 pF
    param g_l = 30 nS
    param e_l = -70.6 mV
    param v_t = -50.4 mV
    param delta_t = 2 mV
    param tau_w = 144 ms
    param a = 4 nS
    param b = 0.0805 nA
    param v_peak = -40.4 mV
    state v = -70.6 mV
    state w = 0 nA
    input i_ext
    EQUATIONS
    spike when v > v_peak
    on spike {
        v = e_l
        w += b
    }
}
population h = A(1)
"""
DV = "dv/dt = (-g_l * (v - e_l) + g_l * delta_t * exp((v - v_t) / delta_t) - w + i_ext) / c_m"
DW = "dw/dt = (a * (v - e_l) - w) / tau_w"


def _adex_reference(i_ext: float, steps: int, dt: float) -> list[int]:
    """Forward Euler on both equations from the same state, then threshold and reset (Brian2's euler)."""
    c, gl, el, vt, d, tw, a, b, vp = 0.281, 0.03, -70.6, -50.4, 2.0, 144.0, 0.004, 0.0805, -40.4
    v, w, out = el, 0.0, []
    for k in range(steps):
        dv = (-gl * (v - el) + gl * d * math.exp((v - vt) / d) - w + i_ext) / c
        dw = (a * (v - el) - w) / tw
        v, w = v + dt * dv, w + dt * dw
        if v > vp:
            out.append(k)
            v, w = el, w + b
    return out


@pytest.mark.parametrize("dt", [0.1, 0.5])
def test_adex_either_order_same_spikes(tmp_path, dt):
    spikes = []
    for order, eqs in (("vw", f"{DV}\n    {DW}"), ("wv", f"{DW}\n    {DV}")):
        spec = _spec(tmp_path, ADEX.replace("EQUATIONS", eqs), f"adex_{order}")
        rec = snndsl.simulate(spec, inputs={"h.i_ext": "1 nA"}, duration="500 ms", record=["h.spikes"],
                              sets=F64 + [f"DT={dt} ms"])
        spikes.append(list(_spike_steps(rec)))
    assert spikes[0] == spikes[1]
    assert spikes[0] == _adex_reference(1.0, round(500 / dt), dt) and len(spikes[0]) > 10
