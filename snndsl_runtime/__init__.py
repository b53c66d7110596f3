"""The snndsl runtime: what a generated model runs on.

A model file written by `snndsl emit` holds one spec's network (constants, neuron functions,
`network_step`, initial weights) and calls `snndsl_runtime.main(model)`.  Everything else lives
here as ordinary Python: one trainer per learning rule, the tasks, the training loop, checkpoints,
metrics and plots.  It imports jax, numpy, optax, pydantic and the task libraries, never the
compiler; `snndsl emit` copies this folder beside the model so that the model runs without snndsl.
"""

__version__ = "0.2.0"

from .errors import NonFiniteError, RunError

_LAZY = {"train": "loop", "evaluate": "loop", "main": "loop", "Model": "model", "check_model": "model",
         "join_from_argv": "distributed"}


def __getattr__(name):  # the loop imports jax: only when it is used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Model", "NonFiniteError", "RunError", "__version__", "check_model", "evaluate", "join_from_argv", "main",
           "train"]
