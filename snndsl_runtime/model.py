"""The interface a generated model provides to the runtime.

A model is a Python module written by `snndsl emit` (or imported by `snndsl run`).  Every function
works on ONE sample (one population member or one image); the trainers vmap them."""

from typing import Any, Callable, Protocol, runtime_checkable


@runtime_checkable
class Model(Protocol):
    # ---- identity
    SPEC_NAME: str            # the spec's name (file stem)
    SPEC_HASH: str            # hash of the whole IR the model was generated from
    NETWORK_HASH: str         # hash of the network's code alone: a resume must find the same
    RULE: str                 # ec | es | stop | surrogate
    TASK_KIND: str            # brax | dataset
    SPEC_SETS: list           # the --set list the model was generated with
    RUNTIME_VERSION: str      # the snndsl_runtime version it was generated for
    # ---- settings
    CONFIG: dict              # run-time settings: {"train": ..., "task": ..., "time": ...},
                              # validated by snndsl_runtime.settings
    STRUCTURAL: list          # setting keys that change the generated code (not settable at run time)
    # ---- sizes and time
    DT: float                 # ms per network step
    SUBSTEPS: int             # network steps per environment step or per time step of a sample
    STEPS: int                # time steps per sample (datasets)
    INPUT: str                # the input's name (the key of forward_step's `inputs`)
    IN_SIZE: int              # values the input takes per step (observation or features)
    OUT_SIZE: int             # values the output gives (actions or classes)
    NORMALIZE: bool           # Brax: a running observation normaliser
    # ---- the network
    PROJECTIONS: dict         # key -> name, kind, shape, learn, p/init, bounds, gain, carries_spikes, target, var
    NEURON_PARAMS: dict       # "pop.param" -> block, slice, shape, init, role, bounds (learnable ones)
    DRAWN_PARAMS: dict        # "pop.param" -> block, slice, shape, init: fixed parameters drawn per neuron
    BLOCKS: dict              # block -> model, size, states, drive keys, integrate/fire functions
    SPIKING_BLOCKS: list      # blocks whose spikes make the rasters
    block_params: Callable[..., Any]         # (theta, fixed) -> (params per block, step factors per block)
    init_state: Callable[..., dict]          # (key, bp) -> network state at t = 0
    encode_inputs: Callable[..., dict]       # (inputs, key) -> each input's encoded value
    network_step: Callable[..., dict]        # one dt
    forward_step: Callable[..., tuple]       # one environment step / time step (SUBSTEPS network steps)
    presynaptic_signals: Callable[..., dict]  # STOP models only: what each projection carried in a step


STOP_ONLY = ("presynaptic_signals",)  # and forward_step's probes= and drives= arguments


def check_model(model) -> None:
    """TypeError naming what a module lacks to be a model."""
    missing = [name for name in Model.__annotations__ if not hasattr(model, name)
               and not (name in STOP_ONLY and getattr(model, "RULE", None) != "stop")]
    if missing:
        raise TypeError(f"{getattr(model, '__name__', model)} is not an snndsl model: it lacks {', '.join(missing)}")
