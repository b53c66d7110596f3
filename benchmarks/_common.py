"""Helpers shared by the benchmarks: build a generated module from spec text, time a function."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def module_from_text(text: str, name: str, sets=()):
    """Write a spec next to the stdlib-importing specs and import its generated module."""
    from snndsl.driver.build import import_module, load_spec, module_text

    folder = Path(tempfile.mkdtemp(prefix="snndsl-bench-"))
    path = folder / f"{name}.snn"
    path.write_text(text)
    spec, _ = load_spec(str(path), list(sets))
    module, _ = import_module(module_text(spec), name)
    return module


MLP_SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time {{ dt = 1 ms; steps = {steps} }}
task mnist {{ }}
input pixels = current
{populations}
output logits = instant(h{last})
{projections}
train {rule} {{ batch_size = {batch}; loss = per_step; surrogate = triangle(width = 1){extra} }}
"""


def mlp_spec(rule: str, steps: int, width: int, layers: int, batch: int, learn: str = "", extra: str = "") -> str:
    """A spec for an MLP 784-layers x width-10 of soft-reset LIF neurons; `learn` goes in each population."""
    pops = "\n".join(f"population h{i} = LIF({width}) {{{learn}}}" for i in range(layers))
    projs = ["project pixels -> h0.v { weights = dense(init = kaiming); learn w }"]
    projs += [f"project h{i - 1} -> h{i}.v {{ weights = dense(init = kaiming); learn w }}" for i in range(1, layers)]
    projs.append(f"project h{layers - 1} -> logits {{ weights = dense(init = lecun); learn w }}")
    return MLP_SPEC.format(steps=steps, populations=pops, last=layers - 1, projections="\n".join(projs), rule=rule,
                           batch=batch, extra=extra)


def median_time(fn, repeats: int = 3) -> float:
    """Median seconds of fn() (which must block until done), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform} ({getattr(d, 'device_kind', '')}), jax {jax.__version__}, {os.cpu_count()} CPU cores"


def measure_step(mod, rule: str, online: bool, batch: int, n_in: int, timed: bool, optimizer: str = "sgd"):
    """Peak and temporary bytes of ONE compiled training step of a generated module (gradient and
    optax update, parameters donated), from XLA's static plan (`compiled.memory_analysis()`, valid on
    CPU): peak = arguments + outputs + temporaries - aliased; and its median seconds when `timed`.
    rule: "surrogate" (BPTT, remat as the module's train block sets it) or "stop" (`online`: an update
    per time step, no gradient sum).  The input is a batch of n_in features held over the T steps."""
    import jax
    import jax.numpy as jnp
    import optax
    from snndsl_runtime.network import init_parameters
    from snndsl_runtime.trainers.bptt import sequence_loss
    from snndsl_runtime.trainers.gradient import loss_weights
    from snndsl_runtime.trainers.stop import stop_gradients, stop_init, stop_time_step

    theta, fixed = init_parameters(mod, jax.random.PRNGKey(0))
    steps = mod.STEPS
    weights = loss_weights(mod.CONFIG["train"]["loss"], steps)
    tx = optax.adam(1e-3) if optimizer == "adam" else optax.sgd(1e-2)
    opt = tx.init(theta)

    def online_step(theta, opt, xb, yb, key):
        keys = jax.random.split(key, xb.shape[0])
        x0, traces = stop_init(mod, theta, fixed, xb, keys)

        def body(carry, t):
            x, tr, th, op = carry
            x, tr, grads, loss, _, _ = stop_time_step(mod, weights, th, fixed, x, tr, xb, yb, keys, t)
            updates, op = tx.update(grads, op, th)
            return (x, tr, optax.apply_updates(th, updates), op), loss

        (_, _, theta, opt), losses = jax.lax.scan(body, (x0, traces, theta, opt), jnp.arange(steps))
        return theta, opt, jnp.sum(losses)

    def step(theta, opt, xb, yb, key):
        if online:
            return online_step(theta, opt, xb, yb, key)
        if rule == "stop":
            grads, loss, _, _ = stop_gradients(mod, weights, theta, fixed, xb, yb, key)
        else:  # remat as the spec sets it (BPTT+remat)
            loss_fn = lambda th: sequence_loss(mod, jnp.asarray(weights), th, fixed, xb, yb, key,  # noqa: E731
                                               mod.CONFIG["train"]["remat"])
            (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(theta)
        updates, opt = tx.update(grads, opt, theta)
        return optax.apply_updates(theta, updates), opt, loss

    key = jax.random.PRNGKey(1)
    xb = jax.random.uniform(key, (batch, n_in))
    yb = jax.random.randint(key, (batch,), 0, 10)
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(theta, opt, xb, yb, key).compile()
    m = compiled.memory_analysis()
    temp = m.temp_size_in_bytes
    # XLA's own peak_memory_in_bytes leaves out temporaries on CPU; this sum is what it reports on GPU
    peak = m.argument_size_in_bytes + m.output_size_in_bytes + temp - m.alias_size_in_bytes
    seconds = None
    if timed:
        state = [theta, opt]

        def run():  # donated inputs are consumed: feed each call the previous call's outputs
            state[0], state[1], loss = compiled(state[0], state[1], xb, yb, key)
            jax.block_until_ready(loss)

        seconds = median_time(run, repeats=2)
    return peak, temp, seconds
