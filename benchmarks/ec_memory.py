"""Peak memory of one EC generation from XLA's compiled memory analysis (no generation runs):
specs/ec_humanoid.snn at population 10,240 by default.  Peak = arguments + outputs + temporaries -
aliased (donated) bytes, as benchmarks/stop_memory.py counts it.  The arguments include the state
and the members' reset states (the pool), which do not depend on how masks are stored.

    python benchmarks/ec_memory.py [--spec specs/ec_humanoid.snn] [--population 10240] [--devices 1]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

from _common import ROOT

MIB = 2 ** 20


def generation_memory(spec: str, population: int, devices) -> dict:
    from snndsl.driver.build import import_module, load_spec, module_text
    from snndsl_runtime.trainers import trainer_class

    ir, _ = load_spec(spec, [f"train.population={population}"])
    model, _ = import_module(module_text(ir), ir.name)
    cfg = copy.deepcopy(model.CONFIG)
    cfg["train"]["devices"] = devices
    trainer = trainer_class(model.RULE, model.TASK_KIND)(model, cfg, 0)
    t = time.time()
    compiled = trainer._generation.lower(trainer.state, trainer.generation_key(1), trainer.pool).compile()
    m = compiled.memory_analysis()
    peak = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return {"spec": spec, "population": population, "devices": devices, "compile_s": round(time.time() - t, 1),
            "arguments_mib": m.argument_size_in_bytes / MIB, "outputs_mib": m.output_size_in_bytes / MIB,
            "temporaries_mib": m.temp_size_in_bytes / MIB, "aliased_mib": m.alias_size_in_bytes / MIB,
            "peak_mib": peak / MIB, "mask_dtypes": {k: str(v.__name__ if hasattr(v, "__name__") else v)
                                                     for k, v in trainer.matmul_dtypes().items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "specs" / "ec_humanoid.snn"))
    ap.add_argument("--population", type=int, default=10240)
    ap.add_argument("--devices", default="1")
    args = ap.parse_args()
    devices = args.devices if args.devices == "all" else int(args.devices)
    out = generation_memory(args.spec, args.population, devices)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
