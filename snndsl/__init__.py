"""snndsl: a declarative language and toolchain for training spiking neural networks with JAX.

    import snndsl

    spec = snndsl.load("specs/stop_digits.snn", sets=["train.epochs=2"])  # the IR, or SpecError
    # (import_path=["../shared"] lets its imports come from another folder, like --import-path)
    print(snndsl.summarize(spec))
    source = snndsl.generate(spec)          # the standalone training module, as text
    module = snndsl.build(spec)             # ... imported (cached by content hash)
    rows = module.train(out_dir="runs/digits", progress_fn=print)

`compile_spec` returns the diagnostics instead of raising.  Importing snndsl does not import JAX.
"""

from __future__ import annotations

from .diagnostics import Diagnostic as Diagnostic
from .diagnostics import SpecError as SpecError
from .compiler import compile_spec as compile_spec
from .ir import Spec as Spec
from .summary import summarize as summarize

__version__ = "0.1.0"


def load(path: str, sets: list[str] = (), import_path: list[str] = ()) -> Spec:
    """The IR of a spec with `--set`-style overrides; raises SpecError with every diagnostic.
    Imports come from the spec's folder (and below it) and the standard library; import_path names
    other folders they may come from, like `--import-path DIR`."""
    from .driver.build import load_spec

    return load_spec(str(path), list(sets), import_path=[str(d) for d in import_path])[0]


def generate(spec: Spec, plan=None) -> str:
    """The model file of a spec (what `snndsl emit` writes beside a copy of snndsl_runtime); `plan`
    is the spec's lower.Plan if the caller has it."""
    from .codegen.generate import generate as _generate

    return _generate(spec, plan)


def build(spec: Spec):
    """The spec's model, imported (a module with CONFIG, init_state, forward_step, ...): train it with
    `snndsl.train(model, ...)`."""
    from .driver.build import import_module, module_text

    return import_module(module_text(spec), spec.name)[0]


def train(model, config=None, out_dir=None, seed=0, resume=False, progress_fn=None, sets=()):
    """Train a built model; returns the metrics rows (snndsl_runtime.train)."""
    import snndsl_runtime

    return snndsl_runtime.train(model, config, out_dir, seed, resume, progress_fn, sets)


def simulate(spec_or_run, inputs=None, duration="100 ms", record=None, sets=(), seed=0, sample=None,
             import_path=()):
    """Simulate a spec (or a trained run folder, with its learned parameters) and return the
    recording: numpy arrays keyed `population.variable`, `population.spikes`, `output.value`, `t`.

        rec = snndsl.simulate("specs/sim_lif_step.snn", inputs={"cell.i_ext": "step(0 nA, 0.3 nA, at = 50 ms)"},
                              duration="300 ms", record=["cell.v", "cell.spikes"])

    inputs: {input node or "population.port": a form as on the command line, or an array in
    ms/mV/nA}; duration: "500 ms" or a float in ms.  The same generated network_step as training."""
    from .simulation import simulate as _simulate

    return _simulate(spec_or_run, inputs, duration, record, sets, seed, sample, import_path)


__all__ = ["Diagnostic", "SpecError", "Spec", "compile_spec", "load", "generate", "build", "train", "summarize", "simulate"]
