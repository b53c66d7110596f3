"""How close STOP's gradients are to BPTT's, layer by layer, in deeper networks.

For an MLP of L hidden soft-reset LIF layers learning weights, per-neuron thresholds and shared
leaks, the table gives, per parameter, the cosine between STOP's gradient and jax.grad through the
unrolled network, and the relative error of its norm.  The last hidden layer is exact; earlier
layers lose the paths through later layers' membrane memory (STOP's approximation).

    python benchmarks/stop_alignment.py --layers 4 --width 128 --steps 16
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import device, mlp_spec, module_from_text

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp
    from snndsl_runtime.network import init_parameters
    from snndsl_runtime.trainers.gradient import cross_entropy, loss_weights, run_sequence
    from snndsl_runtime.trainers.stop import stop_gradients

    learn = " tau_m = 3 ms; v_th = 0.5; learn v_th per neuron; learn tau_m per population "
    print(f"# {device()}; MLP 784-{args.layers}x{args.width}-10, batch {args.batch}; STOP vs jax.grad through time")
    print("T | parameter | layer | cosine | relative norm error")
    for steps in args.steps:
        text = mlp_spec("stop", steps, args.width, args.layers, args.batch, learn)
        mod = module_from_text(text, f"align_{args.layers}_{steps}")
        theta, fixed = init_parameters(mod, jax.random.PRNGKey(0))
        weights = loss_weights(mod.CONFIG["train"]["loss"], mod.STEPS)
        key = jax.random.PRNGKey(1)
        xb = jax.random.uniform(key, (args.batch, 784))
        yb = jax.random.randint(key, (args.batch,), 0, 10)
        g_stop, _, _, _ = jax.jit(lambda *a: stop_gradients(mod, weights, *a))(theta, fixed, xb, yb, key)

        def unrolled(theta):
            keys = jax.random.split(key, args.batch)
            outs = jax.vmap(lambda image, k: run_sequence(mod, theta, fixed, image, k))(xb, keys)
            w = jnp.asarray(weights)
            return jnp.mean(jax.vmap(lambda o, y: w @ jax.vmap(cross_entropy, (0, None))(o, y))(outs, yb))

        g_bptt = jax.jit(jax.grad(unrolled))(theta)
        layer = {f"w{i}": i for i in range(args.layers + 1)}
        layer.update({f"h{i}.{p}": i for i in range(args.layers) for p in ("v_th", "tau_m")})
        for name in sorted(g_bptt, key=lambda n: (layer[n], n)):
            a, b = np.ravel(g_stop[name]), np.ravel(g_bptt[name])
            cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))
            rel = float(abs(np.linalg.norm(a) - np.linalg.norm(b)) / max(np.linalg.norm(b), 1e-30))
            kind = "W" if name.startswith("w") else ("threshold" if name.endswith("v_th") else "leak")
            print(f"{steps} | {kind} {name} | {layer[name] + 1} | {cos:.4f} | {rel:.3f}")


if __name__ == "__main__":
    main()
