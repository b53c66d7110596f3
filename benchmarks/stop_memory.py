"""Peak memory and time of ONE training step: BPTT, BPTT + remat, STOP-W, STOP-WTL.

MLP 784-4x1024-10 of soft-reset LIF neurons, batch 256, T time steps (issue: STOP memory).
Memory is XLA's static plan of the compiled step (`compiled.memory_analysis()`, valid on CPU):
peak = arguments + outputs + temporaries - aliased (temporaries = activations and traces);
time is the median wall time of the jitted step on this machine.  The step includes the
gradient and the optax update (plain SGD by default, as in the issue's anchor; --optimizer adam adds
Adam's state), with the parameters donated for every method alike; the input is held over the T
steps (not stored per step).

    python benchmarks/stop_memory.py                  # the full table (a few minutes on a GPU)
    python benchmarks/stop_memory.py --steps 1 4 16 --no-time
"""

from __future__ import annotations

import argparse

from _common import device, measure_step, mlp_spec, module_from_text

METHODS = {  # name -> (rule, learn thresholds and leaks, remat)
    "BPTT": ("surrogate", False, False),
    "BPTT+remat": ("surrogate", False, True),
    "STOP-W": ("stop", False, False),
    "STOP-WTL": ("stop", True, False),
    "STOP-W online": ("stop", False, False),  # update = online: a step per time step, no gradient sum
}


def spec_text(method: str, steps: int, width: int, layers: int, batch: int) -> str:
    rule, wtl, remat = METHODS[method]
    learn = " learn v_th per neuron; learn tau_m per population " if wtl else ""
    extra = f"; remat = {'true' if remat else 'false'}" if rule == "surrogate" else ""
    return mlp_spec(rule, steps, width, layers, batch, learn, extra)


def measure(method: str, steps: int, width: int, layers: int, batch: int, timed: bool, optimizer: str = "sgd"):
    mod = module_from_text(spec_text(method, steps, width, layers, batch), f"mem_{method.replace('+', '_').replace('-', '_').replace(' ', '_')}_{steps}")
    return measure_step(mod, METHODS[method][0], method == "STOP-W online", batch, 784, timed, optimizer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 4, 8, 16, 64, 256])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--no-time", action="store_true", help="memory only (fast)")
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                    help="sgd (state-free, the protocol of the issue's anchor) or adam (adds 2x the weights)")
    args = ap.parse_args()
    print(f"# {device()}; MLP 784-{args.layers}x{args.width}-10, batch {args.batch}, {args.optimizer} update, "
          f"parameters donated; peak MiB = args + outputs + temporaries - aliased; ms = median step time")
    header = ["T"] + [f"{m} MiB" for m in METHODS] + ["BPTT/STOP-W", "BPTT/STOP-WTL", "BPTT/STOP-W online",
                                                      "temp BPTT/STOP-W"]
    if not args.no_time:
        header += [f"{m} ms" for m in METHODS] + ["STOP-W/BPTT time"]
    print(" | ".join(header))
    ratio16 = None
    for t in args.steps:
        res = {m: measure(m, t, args.width, args.layers, args.batch, not args.no_time, args.optimizer) for m in METHODS}
        mib = {m: res[m][0] / 2 ** 20 for m in METHODS}
        row = [str(t)] + [f"{mib[m]:.0f}" for m in METHODS]
        row += [f"{mib['BPTT'] / mib[m]:.1f}x" for m in ("STOP-W", "STOP-WTL", "STOP-W online")]
        row += [f"{res['BPTT'][1] / max(res['STOP-W'][1], 1):.1f}x"]
        if not args.no_time:
            row += [f"{res[m][2] * 1e3:.1f}" for m in METHODS] + [f"{res['STOP-W'][2] / res['BPTT'][2]:.2f}"]
        print(" | ".join(row), flush=True)
        if t == 16:
            ratio16 = mib["BPTT"] / mib["STOP-W"]
    if ratio16 is not None:
        print(f"BPTT/STOP-W peak memory at T=16: {ratio16:.1f}x")


if __name__ == "__main__":
    main()
