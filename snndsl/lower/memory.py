"""The peak memory of a job, estimated from its plan before anything is compiled.

The largest arrays a run holds, by learning rule (float32 = 4 bytes): the parameters and their
optimizer state; the population's sampled weights and network states (EC, ES); the batch's network
state, STOP's traces or the T-fold activations that BPTT keeps for its backward pass (with batch
norm's input and output per step).  Brax's
environment states and XLA's workspace are not counted, so the estimate is a lower bound on the
peak; a job is refused only when this lower bound does not fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .plan import Plan

FLOAT = 4  # bytes


@dataclass
class MemoryEstimate:
    terms: dict[str, int] = field(default_factory=dict)  # what -> bytes

    @property
    def total(self) -> int:
        return sum(self.terms.values())

    def biggest(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.terms.items(), key=lambda kv: -kv[1])[:n]

    def describe(self, n: int = 3) -> str:
        parts = ", ".join(f"{what} {human(b)}" for what, b in self.biggest(n) if b)
        return f"{human(self.total)} (largest: {parts})"


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _weights_input(pr) -> int:
    """Values a projection's weights see per sample (STOP's trace size): the pooled source behind `pool`."""
    if pr.pool is not None:
        c, h, w = pr.in_shape
        return c * h * w
    return pr.n_in


def estimate(plan: Plan) -> MemoryEstimate:
    """The estimated peak memory of training the plan's network with its spec's rule and settings."""
    spec, tr = plan.spec, plan.spec.train
    weights = sum(p.ir.n_weights for p in plan.projections)
    # each state variable, spikes, and the past spikes that delays of 2 steps or more read
    state = sum(b.size * (len(b.model.states) + 1 + b.history) for b in plan.blocks)
    learned = sum(p.ir.n_weights for p in plan.projections if p.ir.learnable)
    if tr is None:  # a spec to simulate: one network (its recording is estimated by `snndsl sim`)
        return MemoryEstimate({"parameters": weights * FLOAT, "network state": state * FLOAT})
    est = MemoryEstimate({"parameters": weights * FLOAT, "optimizer state": 2 * learned * FLOAT})
    if tr.rule in ("ec", "es"):
        per_member = learned / 8 if tr.rule == "ec" else learned * FLOAT  # EC's masks bit-packed
        est.terms["the population's sampled weights"] = int(tr.population * per_member)
        est.terms["the population's network states"] = tr.population * state * FLOAT
        return est
    brax = spec.task.kind == "brax"
    batch = tr.num_envs if brax else tr.batch_size
    steps = (tr.unroll_length if brax else spec.time.steps) * spec.time.substeps
    est.terms["gradients"] = learned * FLOAT
    est.terms["the batch's network states"] = batch * state * FLOAT
    normed = sum(p.ir.n_out for p in plan.projections if p.ir.norm is not None)  # batch norm's outputs
    if tr.rule == "stop":
        traced = sum(_weights_input(p.ir) * len(plan.block(p.target.name).model.states)
                     for p in plan.projections if p.ir.learnable and p.target.kind == "block")
        est.terms["STOP's traces"] = batch * traced * FLOAT
        if normed:  # the step's centered pre-norm outputs, for BN's Jacobian in the weight gradients
            est.terms["batch norm's centered values of the step"] = batch * normed * FLOAT
    else:  # BPTT keeps at least every step's state for its backward pass (remat recomputes the rest)
        est.terms["states kept for BPTT (T x state x batch)"] = steps * batch * state * FLOAT
        if normed:  # and batch norm's input and normalised output at every step
            est.terms["batch norm's arrays kept for BPTT"] = steps * batch * 2 * normed * FLOAT
    return est


def available_memory() -> tuple[int, str] | None:
    """Bytes a job may use here, and where: the first accelerator's memory, else the host's RAM."""
    try:
        import jax

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            stats = dev.memory_stats() or {}
            if stats.get("bytes_limit"):
                return int(stats["bytes_limit"]), f"{dev.device_kind} memory"
    except Exception:  # no jax backend to ask: fall back to the host
        pass
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024, "available host memory"
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "host memory"
        except (ValueError, OSError, AttributeError):
            return None
