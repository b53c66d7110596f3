"""Forward + backward time of one LIF layer, snndsl's generated code against Spyx, side by side.

The network (the Open Neuromorphic benchmark's shape, with a 784-wide input): a dense projection
784 -> N and N LIF neurons (soft reset, leak 0.9, threshold 1, SuperSpike surrogate slope 25),
T time steps of a different random input each, batch 16; loss = total spike count; gradient with
respect to the weights.  Spyx is installed for the benchmark only:  pip install spyx

    python benchmarks/surrogate_speed.py                      # N = 16384, T = 500 (a GPU)
    python benchmarks/surrogate_speed.py --neurons 2048 --steps 100   # a CPU-sized run
"""

from __future__ import annotations

import argparse
import math

from _common import device, median_time, module_from_text

SPEC = """
from "encoders" import current
from "readouts" import instant
neuron LIF09 {{
    param tau_m = {tau} ms
    param v_th = 1
    state v = 0
    dv/dt = -v / tau_m
    spike when v > v_th
    on spike {{ v -= v_th }}
}}
time {{ dt = 1 ms; steps = {steps} }}
task mnist {{ }}
input pixels = current
population hidden = LIF09({neurons})
output logits = instant(hidden)
project pixels -> hidden.v {{ weights = dense(init = normal(0, 0.05)); learn w }}
project hidden -> logits {{ weights = dense(init = lecun) }}   # not used by the loss: compiled away
train surrogate {{ batch_size = {batch}; surrogate = fast_sigmoid(slope = 25); remat = {remat} }}
"""


def ours(neurons: int, steps: int, batch: int, remat: bool):
    import jax
    import jax.numpy as jnp
    from snndsl_runtime.network import init_parameters, network_weights

    tau = -1.0 / math.log(0.9)  # leak 0.9 per 1 ms step
    mod = module_from_text(SPEC.format(tau=tau, steps=steps, neurons=neurons, batch=batch,
                                       remat="true" if remat else "false"), f"speed_{neurons}_{steps}")
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(0))
    bp, bc = mod.block_params(theta, fixed)

    def loss(theta, xs):
        w = network_weights(mod, theta, fixed)

        def step(x, inp):
            x, _ = jax.vmap(lambda xx, ii: mod.forward_step(w, bp, bc, xx, {"pixels": ii}, jax.random.PRNGKey(0)))(x, inp)
            return x, jnp.sum(x["hidden"]["s"])

        if remat:
            step = jax.checkpoint(step)
        x0 = jax.vmap(lambda k: mod.init_state(k, bp))(jax.random.split(jax.random.PRNGKey(1), batch))
        _, counts = jax.lax.scan(step, x0, xs)
        return jnp.sum(counts)

    return jax.jit(jax.value_and_grad(loss)), theta


def spyx_model(neurons: int, batch: int):
    import jax
    import spyx
    from flax import nnx

    rngs = nnx.Rngs(0)
    model = spyx.nn.Sequential(nnx.Linear(784, neurons, use_bias=False, rngs=rngs),
                               spyx.nn.LIF((neurons,), beta=0.9, activation=spyx.axn.superspike(k=25), rngs=rngs))
    graph, params = nnx.split(model, nnx.Param)

    def loss(params, xs):
        m = nnx.merge(graph, params)
        spikes, _ = spyx.nn.run(m, xs)
        return spikes.sum()

    return jax.jit(jax.value_and_grad(loss)), params


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=16384)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import jax

    xs = (jax.random.uniform(jax.random.PRNGKey(2), (args.steps, args.batch, 784)) < 0.2).astype("float32")
    rows = []
    for name, (fn, params) in (("snndsl", ours(args.neurons, args.steps, args.batch, False)),
                               ("snndsl remat", ours(args.neurons, args.steps, args.batch, True))):
        rows.append((name, fn, params))
    try:
        rows.append(("spyx", *spyx_model(args.neurons, args.batch)))
    except ImportError:
        print("# spyx is not installed (pip install spyx): only snndsl is timed")
    print(f"# {device()}; 784 -> {args.neurons} LIF, T = {args.steps}, batch {args.batch}; forward + backward")
    print("library | ms per step | peak MiB (compiled) | x spyx")
    results = {}
    for name, fn, params in rows:
        compiled = fn.lower(params, xs).compile()
        m = compiled.memory_analysis()
        mib = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes) / 2 ** 20
        sec = median_time(lambda: jax.block_until_ready(compiled(params, xs)), args.repeats)
        results[name] = (sec, mib)
    base = results.get("spyx", (None,))[0]
    for name, (sec, mib) in results.items():
        ratio = f"{sec / base:.2f}" if base else "-"
        print(f"{name} | {sec * 1e3:.1f} | {mib:.0f} | {ratio}")


if __name__ == "__main__":
    main()
