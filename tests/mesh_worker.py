"""Run in a subprocess by test_mesh.py with XLA_FLAGS=--xla_force_host_platform_device_count=4 (set
before JAX is imported): trains tiny jobs on 1 and on 4 (fake CPU) devices and prints, as JSON, the
metrics rows of each and the final parameters' largest difference.

    python tests/mesh_worker.py SPEC STEPS [DEVICES,...] [KEY=VALUE]...
    python tests/mesh_worker.py JOBS.json

DEVICES (default 1,4): the device counts to run; STEPS = 0 only builds the trainers.  JOBS.json is a
list of {"name", "spec", "steps", "counts", "sets"}: one process (one JAX start-up) runs them all and
prints `RESULT NAME {...}` for each; a job that crashes prints {"crash": traceback} and the rest run."""

import copy
import json
import os
import sys
import traceback

assert "jax" not in sys.modules


def run_job(spec, steps, counts, sets):
    import jax
    import numpy as np

    from snndsl_runtime.errors import RunError
    from snndsl_runtime.mesh import describe
    from snndsl_runtime.trainers import trainer_class
    from tests.conftest import generated

    model = generated(spec, sets)
    out = {"devices": len(jax.devices())}
    theta = {}
    for devices in counts:
        cfg = copy.deepcopy(model.CONFIG)
        cfg["train"]["devices"] = devices
        try:
            trainer = trainer_class(model.RULE, model.TASK_KIND)(model, cfg, 3)
        except RunError as e:
            out[str(devices)] = {"error": e.code, "message": e.message, "hint": e.hint}
            continue
        rows = []
        for i in range(1, steps + 1):
            row = trainer.step(i)
            rows.append({k: v for k, v in row.items() if not k.endswith("_per_s")})  # timings differ
        theta[devices] = {k: np.asarray(jax.device_get(v)) for k, v in trainer.snapshot()["theta"].items()}
        out[str(devices)] = {"rows": rows, "mesh": describe(trainer.mesh)}
    if len(theta) == 2:
        out["theta_max_diff"] = max(float(np.max(np.abs(theta[1][k] - theta[4][k]))) for k in theta[1])
    return out


def main(argv):
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if argv[0].endswith(".json"):
        with open(argv[0]) as f:
            jobs = json.load(f)
        for job in jobs:
            try:
                out = run_job(job["spec"], job["steps"], tuple(job.get("counts", (1, 4))), job.get("sets", []))
            except Exception:  # reported to the one test that reads this job; the others still run
                out = {"crash": traceback.format_exc()}
            print(f"RESULT {job['name']} " + json.dumps(out), flush=True)
        return
    spec, steps, sets = argv[0], int(argv[1]), argv[2:]
    counts = (1, 4)
    if sets and "=" not in sets[0]:
        counts, sets = tuple(int(c) for c in sets[0].split(",")), sets[1:]
    print("RESULT " + json.dumps(run_job(spec, steps, counts, sets)))


if __name__ == "__main__":
    main(sys.argv[1:])
