#!/usr/bin/env bash
# The GPU measurements of issues 3-5 in one call of the device tool (under 10 minutes):
#   here:   bash benchmarks/gpu_wheels.sh
#   device: run(command="bash benchmarks/gpu_run.sh", carry=[".whl"], timeout_s=600)
# Tables go to $OUT (benchmarks/results/ when $OUT is unset); copy them into results/ and
# benchmarks/RESULTS.md with the device and the date.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results}
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null
python3 -c "import jax, brax, snndsl; print('jax', jax.__version__, jax.devices(), 'brax', brax.__version__)" || exit 1
# `bash benchmarks/gpu_run.sh conv`: only STOP vs BPTT memory of the full-size VGG-11 (CIFAR-10,
# batch 128, T in {2, 4, 6, 8, 16}; compiled memory analysis, nothing run) -- a call of its own
if [ "${1:-}" = conv ]; then
    timeout 560 python3 benchmarks/conv_memory.py --width 64 --batch 128 --steps 2 4 6 8 16 2>&1 \
        | tee "$out/conv_memory_gpu.txt"
    exit 0
fi
# issue 4: STOP vs BPTT memory and step time, MLP 784-4x1024-10, batch 256, T in {1..256}
timeout 170 python3 benchmarks/stop_memory.py 2>&1 | tee "$out/stop_memory_gpu.txt"
# issue 5: one LIF layer of 16,384 neurons, T = 500, batch 16, against Spyx
timeout 110 python3 benchmarks/surrogate_speed.py 2>&1 | tee "$out/surrogate_speed_gpu.txt"
# issue 3: EC and ES on hopper (generalized), population 10,240, 1000 steps, against bare Brax
timeout 280 python3 benchmarks/ec_throughput.py --generations 2 2>&1 | tee "$out/ec_throughput_gpu.txt"
