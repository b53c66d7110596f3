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


def export_nir(run_or_spec, path, untrained=None, sets=(), seed=0):
    """Write a network as a NIR graph (docs/nir.md): a run folder's trained network, or a spec's
    initial one (a .snn path, or untrained=True).  Returns the warnings (W861, W862); raises
    SpecError (E861: a model without a NIR primitive; nothing is written)."""
    import os

    from .interchange import nir_export

    run_or_spec = str(run_or_spec)
    if untrained is None:
        untrained = not os.path.isdir(run_or_spec)
    if untrained:
        graph, diags, _ = nir_export.export_spec(run_or_spec, sets, seed)
    else:
        graph, diags, _ = nir_export.export_run(run_or_spec)
    if graph is None:
        raise SpecError([d for d in diags if d.is_error])
    nir_export.write(graph, str(path))
    return diags


def import_nir(path, spec_out, dt_ms=None):
    """Turn a NIR graph into a spec (spec_out) and its weights (.npz beside it); returns both paths.
    Raises SpecError (E862) for a node snndsl cannot import."""
    from .interchange import nir_import

    return nir_import.import_file(str(path), str(spec_out), dt_ms)


__all__ = ["export_nir", "import_nir", "Diagnostic", "SpecError", "Spec", "compile_spec", "load", "generate", "build", "train", "summarize", "simulate"]
