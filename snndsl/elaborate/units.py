"""Physical units.

A dimension is a tuple of exponents (time, voltage, current).  Numbers are stored in the
simulation's base units: **ms, mV, nA** (so 1 s = 1000, 1 Hz = 0.001 per ms, 1 pA = 0.001).
These are the units the EC reference computes in (its rate readout is in spikes per ms).
"""

from __future__ import annotations

Dims = tuple[int, int, int]

DIMENSIONLESS: Dims = (0, 0, 0)
TIME: Dims = (1, 0, 0)
VOLTAGE: Dims = (0, 1, 0)
CURRENT: Dims = (0, 0, 1)
FREQUENCY: Dims = (-1, 0, 0)

# unit name -> (scale to base units, dims)
UNITS: dict[str, tuple[float, Dims]] = {
    "s": (1e3, TIME),
    "ms": (1.0, TIME),
    "us": (1e-3, TIME),
    "V": (1e3, VOLTAGE),
    "mV": (1.0, VOLTAGE),
    "uV": (1e-3, VOLTAGE),
    "A": (1e9, CURRENT),
    "mA": (1e6, CURRENT),
    "uA": (1e3, CURRENT),
    "nA": (1.0, CURRENT),
    "pA": (1e-3, CURRENT),
    "Hz": (1e-3, FREQUENCY),
    "kHz": (1.0, FREQUENCY),
    "ohm": (1e-6, (0, 1, -1)),
    "kohm": (1e-3, (0, 1, -1)),
    "Mohm": (1.0, (0, 1, -1)),
    "Gohm": (1e3, (0, 1, -1)),
    "F": (1e9, (1, -1, 1)),
    "uF": (1e3, (1, -1, 1)),
    "nF": (1.0, (1, -1, 1)),
    "pF": (1e-3, (1, -1, 1)),
    "S": (1e6, (0, -1, 1)),
    "mS": (1e3, (0, -1, 1)),
    "uS": (1.0, (0, -1, 1)),
    "nS": (1e-3, (0, -1, 1)),
}

_NAMED = {
    DIMENSIONLESS: "1 (dimensionless)",
    TIME: "time",
    VOLTAGE: "voltage",
    CURRENT: "current",
    FREQUENCY: "1/time",
    (0, 1, -1): "resistance",
    (1, -1, 1): "capacitance",
    (0, -1, 1): "conductance",
    (-1, 1, 0): "voltage/time",
    (-1, 0, 1): "current/time",
}


def mul(a: Dims, b: Dims) -> Dims:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def div(a: Dims, b: Dims) -> Dims:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def power(a: Dims, n: int) -> Dims:
    return (a[0] * n, a[1] * n, a[2] * n)


def describe(d: Dims) -> str:
    if d in _NAMED:
        return _NAMED[d]
    parts = []
    for name, base in zip(("ms", "mV", "nA"), d):
        if base == 1:
            parts.append(name)
        elif base != 0:
            parts.append(f"{name}^{base}")
    return "·".join(parts)


def base_unit(d: Dims) -> str:
    """How a value of these dims is written in base units, e.g. 'ms' or 'mV/ms'."""
    num = [n for n, e in zip(("ms", "mV", "nA"), d) for _ in range(max(e, 0))]
    den = [n for n, e in zip(("ms", "mV", "nA"), d) for _ in range(max(-e, 0))]
    top = "·".join(num) or "1"
    return top + ("/" + "·".join(den) if den else "")
