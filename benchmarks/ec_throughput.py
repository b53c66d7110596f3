"""EC (and ES) generations against the floor: the bare Brax step on the same env, backend and batch.

For each spec: seconds per generation (after compilation) and environment steps per second; the
floor is a jitted lax.scan of the bare environment step with random actions, batch = population.
Ratios are measured side by side in one process.  (Issue target on an H100, hopper, generalized,
population 10240, 1000 steps: EC <= 6 s/generation, <= 1.4x the floor; ES <= 12 s; EC/ES >= 2.4x.)

    python benchmarks/ec_throughput.py                       # the paper's hopper setting (needs a GPU)
    python benchmarks/ec_throughput.py --population 64 --episode-length 200 --backend spring   # a CPU-sized run
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

from _common import ROOT, device, median_time


def bare_brax(env_name: str, backend: str, batch: int, steps: int, episode_length: int) -> float:
    """Environment steps per second of the bare, batched Brax step with random actions."""
    import jax

    with contextlib.redirect_stdout(io.StringIO()):
        from brax import envs
        from brax.envs.wrappers.training import EpisodeWrapper, VmapWrapper
    env = VmapWrapper(EpisodeWrapper(envs.get_environment(env_name, backend=backend), episode_length, 1))
    state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), batch))

    @jax.jit
    def run(state, key):
        def step(s, k):
            action = jax.random.uniform(k, (batch, env.action_size), minval=-1, maxval=1)
            return env.step(s, action), None

        return jax.lax.scan(step, state, jax.random.split(key, steps))[0]

    seconds = median_time(lambda: jax.block_until_ready(run(state, jax.random.PRNGKey(1)).obs), repeats=3)
    return batch * steps / seconds


def generations(spec: str, sets: list[str], n: int) -> tuple[float, float, str, int]:
    """(seconds per generation, env steps per second, env, steps per generation), compile excluded."""
    from snndsl.driver.build import import_module, load_spec, module_text
    from snndsl_runtime.config import apply_overrides
    from snndsl_runtime.trainers import trainer_class

    ir, _ = load_spec(spec, sets)
    mod, _ = import_module(module_text(ir), ir.name)
    cfg = apply_overrides(mod.CONFIG, [])
    trainer = trainer_class(mod.RULE, mod.TASK_KIND)(mod, cfg, 0)
    trainer.step(1)  # compiles
    times, steps = [], []
    for g in range(2, n + 2):
        t = time.perf_counter()
        row = trainer.step(g)
        times.append(time.perf_counter() - t)
        steps.append(row["steps_per_s"] * times[-1])
    sec = sum(times) / len(times)
    return sec, sum(steps) / sum(times), ir.task.env, int(sum(steps) / len(steps) / cfg["train"]["population"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "specs" / "ec_hopper.snn"))
    ap.add_argument("--es", default=str(ROOT / "specs" / "es_hopper.snn"), help="ES spec to compare ('' to skip)")
    ap.add_argument("--population", type=int, default=10240)
    ap.add_argument("--eval-copies", type=int, default=128)
    ap.add_argument("--episode-length", type=int, default=1000)
    ap.add_argument("--backend", default="generalized")
    ap.add_argument("--generations", type=int, default=3, help="timed generations after the compiling one")
    ap.add_argument("--set", action="append", default=[], help="extra --set for both specs")
    args = ap.parse_args()
    sets = [f"train.population={args.population}", f"train.eval_copies={args.eval_copies}",
            f"task.episode_length={args.episode_length}", f"task.backend={args.backend}", *args.set]
    rows = []
    for name, spec in (("EC", args.spec), ("ES", args.es)):
        if spec:
            sec, rate, env, steps = generations(spec, sets, args.generations)
            rows.append((name, sec, rate, steps))
    floor = bare_brax(env, args.backend, args.population, min(args.episode_length, 200), args.episode_length)
    print(f"# {device()}; {env}, {args.backend}, population {args.population}, episodes <= {args.episode_length} steps")
    print("method | s/generation | steps/generation | env-steps/s | s per 1000 steps | x floor")
    print(f"bare Brax | - | - | {floor:,.0f} | {args.population * 1000 / floor:.2f} | 1.00")
    for name, sec, rate, steps in rows:
        print(f"{name} | {sec:.2f} | {steps} | {rate:,.0f} | {args.population * 1000 / rate:.2f} | {floor / rate:.2f}")
    if len(rows) == 2:
        print(f"EC/ES speed (env-steps/s): {rows[0][2] / rows[1][2]:.2f}x")


if __name__ == "__main__":
    main()
