"""The generated neuron updates against Brian2, on the same equations, inputs and methods.

Brian2 is not a dependency of snndsl (and needs numpy < 2), so this runs in two steps:

    python -m venv /tmp/b2 && /tmp/b2/bin/pip install brian2 "numpy<2"
    /tmp/b2/bin/python benchmarks/brian2_equivalence.py --brian2 /tmp/brian2.json   # Brian2's side
    python benchmarks/brian2_equivalence.py /tmp/brian2.json                          # ours, and the table

Cases (float64 on both sides; Brian2's numpy target):
- AdEx (Brette & Gerstner 2005, Brian2's example values), forward Euler, a 1 nA step, both
  declaration orders on our side: spike counts and the first differing spike;
- CubaLIF's PSP after a jump of 0.5 into i_syn, Brian2's `exact` method: the largest difference;
- LIF in mV with a 2 ms refractory period under 0.2 nA, exact: interspike intervals;
- Izhikevich (regular spiking), forward Euler, I = 10: spike times.
Each at dt = 0.1 and 0.5 ms.  Brian2 stamps a spike with the start of its step (t = k dt) and its
monitors record the state before the step; our row k is the state after step k, so Brian2's sample
k + 1 is our row k.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DTS = (0.1, 0.5)
ADEX = dict(c_m=281.0, g_l=30.0, e_l=-70.6, v_t=-50.4, delta_t=2.0, tau_w=144.0, a=4.0, b=0.0805, v_peak=-40.4)


def brian2_side(out: str) -> None:
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    b2.prefs.core.default_float_dtype = b2.float64
    res = {}
    for dt in DTS:
        key = str(dt)
        res[key] = {}
        # AdEx
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.ms
        p = ADEX
        eqs = """
        dv/dt = (-g_l * (v - e_l) + g_l * delta_t * exp((v - v_t) / delta_t) - w + I) / c_m : volt
        dw/dt = (a * (v - e_l) - w) / tau_w : amp
        I : amp
        """
        ns = dict(c_m=p["c_m"] * b2.pF, g_l=p["g_l"] * b2.nS, e_l=p["e_l"] * b2.mV, v_t=p["v_t"] * b2.mV,
                  delta_t=p["delta_t"] * b2.mV, tau_w=p["tau_w"] * b2.ms, a=p["a"] * b2.nS, b=p["b"] * b2.nA,
                  v_peak=p["v_peak"] * b2.mV)
        g = b2.NeuronGroup(1, eqs, threshold="v > v_peak", reset="v = e_l; w += b", method="euler", namespace=ns)
        g.v = p["e_l"] * b2.mV
        g.I = 1 * b2.nA
        sm = b2.SpikeMonitor(g)
        b2.run(500 * b2.ms)
        res[key]["adex"] = [int(round(float(t / b2.ms) / dt)) for t in sm.t]
        # CubaLIF PSP
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.ms
        g = b2.NeuronGroup(1, """
        dv/dt = (-v + i_syn) / (10 * ms) : 1
        di_syn/dt = -i_syn / (5 * ms) : 1
        """, method="exact")
        g.i_syn = 0.5
        st = b2.StateMonitor(g, "v", record=0)
        b2.run(60 * b2.ms)
        res[key]["psp"] = [float(x) for x in st.v[0]]
        # refractory LIF in mV
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.ms
        g = b2.NeuronGroup(1, "dv/dt = (-65 * mV - v + 100 * Mohm * 0.2 * nA) / (20 * ms) : volt (unless refractory)",
                           threshold="v > -50 * mV", reset="v = -65 * mV", refractory=2 * b2.ms, method="exact")
        g.v = -65 * b2.mV
        sm = b2.SpikeMonitor(g)
        b2.run(300 * b2.ms)
        res[key]["lif"] = [int(round(float(t / b2.ms) / dt)) for t in sm.t]
        # Izhikevich
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.ms
        g = b2.NeuronGroup(1, """
        dv/dt = (0.04 * v ** 2 + 5 * v + 140 - u + 10) / ms : 1
        du/dt = 0.02 * (0.2 * v - u) / ms : 1
        """, threshold="v >= 30", reset="v = -65; u += 8", method="euler")
        g.v, g.u = -65, -13
        sm = b2.SpikeMonitor(g)
        b2.run(500 * b2.ms)
        res[key]["izh"] = [int(round(float(t / b2.ms) / dt)) for t in sm.t]
    Path(out).write_text(json.dumps({"brian2": b2.__version__, "results": res}))
    print(f"wrote {out} (Brian2 {b2.__version__})")


SPECS = {
    "psp": 'from "neurons" import CubaLIF\ntime { dt = 0.5 ms }\npopulation h = CubaLIF(1) { v = 0; i_syn = 0.5; v_th = 100 }\n',
    "lif": 'from "neurons" import LIFPhysical\ntime { dt = 0.5 ms }\npopulation h = LIFPhysical(1)\n',
    "izh": 'from "neurons" import Izhikevich\ntime { dt = 0.5 ms }\npopulation h = Izhikevich(1)\n',
}


def our_side(path: str) -> None:
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_exact import ADEX as ADEX_SPEC, DV, DW  # the same AdEx the tests check

    import numpy as np

    import snndsl

    data = json.loads(Path(path).read_text())
    tmp = Path(tempfile.mkdtemp())

    def sim(name, text, duration, record, inputs=None, dt=0.5):
        p = tmp / f"{name}.snn"
        p.write_text(text)
        return snndsl.simulate(str(p), inputs=inputs or {}, duration=f"{duration} ms", record=record,
                               sets=["time.precision=float64", f"time.dt={dt} ms"])

    def steps(rec):
        return [int(k) for k in np.nonzero(rec["h.spikes"][:, 0])[0]]

    rows = []
    for dt in DTS:
        b = data["results"][str(dt)]
        for order, eqs in (("dv, dw", f"{DV}\n    {DW}"), ("dw, dv", f"{DW}\n    {DV}")):
            ours = steps(sim("adex", ADEX_SPEC.replace("EQUATIONS", eqs), 500, ["h.spikes"], {"h.i_ext": "1 nA"}, dt))
            same = ours == b["adex"]
            rows.append((f"AdEx, euler, 1 nA, order {order}", dt, f"{len(ours)} / {len(b['adex'])} spikes",
                         "identical spike steps" if same else f"first difference at spike {_first_diff(ours, b['adex'])}"))
        rec = sim("psp", SPECS["psp"], 60, ["h.v"], dt=dt)
        theirs = np.array(b["psp"][1:])
        n = min(len(theirs), len(rec["h.v"]))
        diff = float(np.max(np.abs(rec["h.v"][:n, 0] - theirs[:n])))
        rows.append(("CubaLIF PSP, exact", dt, f"peak {rec['h.v'][:, 0].max():.6f} / {theirs.max():.6f}",
                     f"largest difference {diff:.1e}"))
        ours = steps(sim("lif", SPECS["lif"], 300, ["h.spikes"], {"h.i_ext": "0.2 nA"}, dt))
        rows.append(("LIF, refractory 2 ms, exact", dt, f"ISI {_isi(ours)} / {_isi(b['lif'])} steps",
                     "identical spike steps" if ours == b["lif"] else f"first difference at spike {_first_diff(ours, b['lif'])}"))
        ours = steps(sim("izh", SPECS["izh"], 500, ["h.spikes"], {"h.i_ext": "10"}, dt))
        rows.append(("Izhikevich, euler, I = 10", dt, f"{len(ours)} / {len(b['izh'])} spikes",
                     "identical spike steps" if ours == b["izh"] else f"first difference at spike {_first_diff(ours, b['izh'])}"))
    print(f"snndsl {snndsl.__version__} against Brian2 {data['brian2']} (float64, numpy target); ours / Brian2's")
    print("| case | dt (ms) | ours / Brian2 | agreement |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |")


def _first_diff(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _isi(s):
    d = sorted(set(int(x) for x in __import__("numpy").diff(s)))
    return ", ".join(map(str, d)) if d else "-"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--brian2":
        brian2_side(sys.argv[2])
    elif len(sys.argv) == 2:
        our_side(sys.argv[1])
    else:
        sys.exit(__doc__)
