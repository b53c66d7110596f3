"""The task tables: what each task provides to a spec (sizes) and which settings it takes.

The front end reads sizes here (for `task.obs`, input and output sizes, the checks); the
generated program reads the data itself (snndsl_runtime/tasks/datasets.py, whose `DATASETS` holds
the same sizes; tests/test_tables.py keeps the two, and `BRAX_ENVS` and Brax, in step).
"""

from __future__ import annotations

from snndsl_runtime.settings import BRAX_BACKENDS  # noqa: F401  (the runtime's settings hold the choices)

# Brax 0.14 environments: (observation size, action size), read from jitted resets.
BRAX_ENVS = {
    "ant": (27, 8), "fast": (2, 1), "halfcheetah": (17, 6), "hopper": (11, 3), "humanoid": (244, 17),
    "humanoidstandup": (244, 17), "inverted_pendulum": (4, 1), "inverted_double_pendulum": (8, 1),
    "pusher": (23, 7), "reacher": (11, 2), "swimmer": (8, 2), "walker2d": (17, 6),
}
BRAX_KEYS = ("env", "backend", "episode_length", "action_repeat")

# dataset -> (features, classes)
DATASET_SIZES = {"digits": (64, 10), "mnist": (784, 10), "fashion_mnist": (784, 10), "cifar10": (3072, 10)}
# the image shape (channels, height, width) of an image dataset's samples; its rows are flat in
# (height, width, channels) order (snndsl_runtime/layers.py)
DATASET_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
DATASET_KEYS = ("path", "test_fraction", "frames")  # the task settings only some datasets hold
# `task arrays { path = "data.npz" }`: a user's arrays, sized by the file's header at elaboration
# (snndsl_runtime/tasks/arrays.py)
ARRAYS = "arrays"

TASK_KINDS = ("brax", *DATASET_SIZES, ARRAYS)


def dataset_keys(dataset: str) -> tuple[str, ...]:
    """The task settings a dataset block takes: digits is built in and split here, the others are
    files; arrays may name its number of classes (else max label + 1)."""
    own = {"digits": ("test_fraction",), ARRAYS: ("path", "classes")}.get(dataset, ("path",))
    return own + ("validation",)


def config_keys(dataset: str) -> tuple[str, ...]:
    """The DATASET_KEYS a dataset's run settings hold: its block's, and the data's time steps for arrays."""
    return dataset_keys(dataset) + (("frames",) if dataset == ARRAYS else ())
