"""Peak memory of ONE training step of the STOP paper's VGG-11 on CIFAR-10: STOP-W and STOP-WTL
against BPTT and BPTT + remat, from XLA's compiled memory plan only (lower + compile, nothing run).

The network is specs/stop_cifar10_vgg11.snn (BPTT: specs/surrogate_cifar10_vgg11.snn) on 32x32x3
input, unchanged but for `--set` overrides: time.steps = T, train.batch_size, and W (the first
stage's channels; 64 is the reference, --width 16 a quarter).  STOP-WTL also learns per-channel
thresholds and one leak per layer.  The step is the gradient and a plain SGD update with the
parameters donated, as benchmarks/stop_memory.py measures it (_common.measure_step).

    python benchmarks/conv_memory.py                                   # the full size (a GPU)
    python benchmarks/conv_memory.py --width 16 --batch 32 --steps 2 6 # a reduced config for a CPU

On a CPU the plan depends on XLA's CPU fusions: by default (jax >= 0.9) reductions and convolutions
run as XNNPACK library fusions, which need every reduction's input materialised (batch norm's
centered values beside the convolution's output).  `--generic-fusion` turns those off
(XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=), leaving XLA's own loop and reduction fusions,
as on a GPU, where a reduction fuses its elementwise producers.
"""

from __future__ import annotations

import argparse
import os
import time

from _common import ROOT, device, measure_step, module_from_text

METHODS = {  # name -> (spec, learn thresholds and leaks, remat)
    "BPTT": ("surrogate_cifar10_vgg11", False, False),
    "BPTT+remat": ("surrogate_cifar10_vgg11", False, True),
    "STOP-W": ("stop_cifar10_vgg11", False, False),
    "STOP-WTL": ("stop_cifar10_vgg11", True, False),
}
NEURONS = "{ tau_m = 2 ms; v_th = 1 }"
LEARNED = "{ tau_m = 2 ms; v_th = 1; learn v_th per channel; learn tau_m per population }"


def measure(method: str, steps: int, width: int, batch: int, timed: bool = False):
    name, wtl, remat = METHODS[method]
    text = (ROOT / "specs" / f"{name}.snn").read_text()
    if wtl:
        assert NEURONS in text
        text = text.replace(NEURONS, LEARNED)
    sets = [f"time.steps={steps}", f"train.batch_size={batch}", f"W={width}"]
    if name.startswith("surrogate"):
        sets.append(f"train.remat={'true' if remat else 'false'}")
    mod = module_from_text(text, f"conv_{method.replace('+', '_').replace('-', '_')}_{steps}", sets)
    return measure_step(mod, "surrogate" if name.startswith("surrogate") else "stop", False, batch, 3072, timed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[2, 4, 6, 8, 16])
    ap.add_argument("--width", type=int, default=64, help="the first stage's channels (64: the reference)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--generic-fusion", action="store_true",
                    help="CPU: XLA's own fusions only, no XNNPACK library fusions (see the module's doc)")
    ap.add_argument("--time", action="store_true",
                    help="also run each step and give its median seconds against BPTT's (a GPU; on a CPU a small W)")
    args = ap.parse_args()
    if args.generic_fusion:  # read when jax first makes its backend, which measure() does
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_experimental_ynn_fusion_type=").strip()
    fusion = "; XLA generic fusions (no XNNPACK library fusions)" if args.generic_fusion else ""
    timing = "; step time = median of the compiled step run, its ratio to BPTT's" if args.time else ""
    print(f"# {device()}{fusion}; VGG-11 (W = {args.width}) on [3, 32, 32], batch {args.batch}, sgd update, parameters "
          f"donated; peak MiB = args + outputs + temporaries - aliased, compiled memory analysis (not run){timing}")
    others = [m for m in args.methods if m != "BPTT"]
    header = ["T"] + [f"{m} MiB" for m in args.methods] + [f"BPTT/{m}" for m in others if "BPTT" in args.methods]
    if args.time and "BPTT" in args.methods:
        header += [f"{m}/BPTT time" for m in others]
    header += ["compile s"]
    print(" | ".join(header))
    for t in args.steps:
        start = time.perf_counter()
        got = {m: measure(m, t, args.width, args.batch, args.time) for m in args.methods}
        mib = {m: got[m][0] / 2 ** 20 for m in args.methods}
        row = [str(t)] + [f"{mib[m]:.0f}" for m in args.methods]
        if "BPTT" in mib:
            row += [f"{mib['BPTT'] / mib[m]:.2f}x" for m in others]
            if args.time:
                row += [f"{got[m][2] / got['BPTT'][2]:.2f}" for m in others]
        row.append(f"{time.perf_counter() - start:.0f}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
