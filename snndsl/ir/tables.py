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

# dataset -> (features, classes); an event dataset's features at its sensor's full resolution
DATASET_SIZES = {"digits": (64, 10), "mnist": (784, 10), "fashion_mnist": (784, 10), "cifar10": (3072, 10),
                 "cifar100": (3072, 100), "nmnist": (2312, 10), "dvs_gesture": (32768, 11), "cifar10_dvs": (32768, 10)}
# dataset -> its image shape (C, H, W); rows are flat in (H, W, C) order.  An event dataset's C is
# its two polarities, H x W its sensor's (the task's `size = S` makes it S x S).
DATASET_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32),
                  "cifar100": (3, 32, 32), "nmnist": (2, 34, 34), "dvs_gesture": (2, 128, 128),
                  "cifar10_dvs": (2, 128, 128)}
# event-camera recordings, read with tonic and binned into time.steps frames (snndsl_runtime/tasks/events.py)
EVENT_DATASETS = ("nmnist", "dvs_gesture", "cifar10_dvs")
CIFAR100_LABELS = {"fine": 100, "coarse": 20}
AUGMENT_KEYS = ("crop", "flip")  # train-time augmentation of shaped datasets (snndsl_runtime/tasks/augment.py)
# `task arrays { path = "data.npz" }`: a user's arrays, sized by the file's header at elaboration
# (snndsl_runtime/tasks/arrays.py); `shape = [C, H, W]` makes them images, stored in the file
# channels first (N, C, H, W) or, with `layout = channels_last`, as (N, H, W, C)
ARRAYS = "arrays"
ARRAYS_LAYOUTS = ("channels_first", "channels_last")
# the task settings only some datasets hold
DATASET_KEYS = ("path", "test_fraction", "frames", "labels", "size", "shape", "layout", *AUGMENT_KEYS)

TASK_KINDS = ("brax", *DATASET_SIZES, ARRAYS)


def dataset_keys(dataset: str) -> tuple[str, ...]:
    """The task settings a dataset block takes: digits is built in and split here, the others are
    files; arrays may name its number of classes (else max label + 1) and its images' shape."""
    own = {"digits": ("test_fraction",), ARRAYS: ("path", "classes", "shape", "layout"), "cifar100": ("path", "labels"),
           "cifar10_dvs": ("path", "size", "test_fraction")}.get(dataset, ("path",))
    if dataset in EVENT_DATASETS and "size" not in own:
        own += ("size",)
    # arrays offer crop and flip too; they need its `shape` (elaborate/task.py says so)
    return own + ("validation",) + (AUGMENT_KEYS if dataset in DATASET_SHAPES or dataset == ARRAYS else ())


def dataset_shape(dataset: str, size: int | None = None) -> tuple[int, int, int] | None:
    """The (C, H, W) of a built-in dataset's samples (an event dataset's after `size = S`
    downsampling); None for arrays (their `shape` is the task's own)."""
    shape = DATASET_SHAPES.get(dataset)
    return shape if shape is None or size is None else (shape[0], size, size)


def config_keys(dataset: str) -> tuple[str, ...]:
    """The DATASET_KEYS a dataset's run settings hold: its block's, and the data's time steps for arrays."""
    return dataset_keys(dataset) + (("frames",) if dataset == ARRAYS else ())
