#!/usr/bin/env bash
# Wheels that the lent GPU machine's image lacks (it has jax, optax, flax, numpy, matplotlib, ...),
# for Python 3.12 on x86-64, into .whl/ (git-ignored through .git/info/exclude).  Run here, then
# benchmarks/gpu_run.sh there.  Versions: those of this machine's environment where it has them.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
version() { python3 -m pip show "$1" 2>/dev/null | awk '/^Version/ {print "==" $2}' || true; }
pkgs=()
for p in lark pydantic pydantic-core annotated-types typing-inspection tensorboardx \
         brax mujoco mujoco-core mujoco-studio mujoco-mjx glfw pyopengl jaxopt ml-collections trimesh \
         flask flask-cors blinker itsdangerous \
         spyx grain array-record portpicker jax-tqdm nir; do   # the last line: Spyx, benchmark only
    pkgs+=("$p$(version "$p")")
done
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl "${pkgs[@]}"
du -sh .whl
