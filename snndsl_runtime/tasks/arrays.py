"""A user's own dataset from one .npz file (`task arrays { path = "data.npz" }`).

The file holds `x_train`, `y_train`, `x_test`, `y_test`.  x is `(N, features)` (static: held for
every time step, as the pixels of the built-in datasets are) or `(N, T, features)` (temporal or
spike data: slice t is the input of time step t).  y holds integer labels in 0..classes-1.

With `shape = [C, H, W]` the samples are images: x is `(N, C, H, W)` (channels first, the order
of specs, NIR and PyTorch) or, with `layout = channels_last`, `(N, H, W, C)`; temporal frames
add a time axis after N.  `load_arrays` turns each image into the runtime's flat channels-last
row once, as it reads the file (snndsl_runtime/layers.py); flat x is refused with a shape, since
the order of its values could not be told.

`describe` reads only the arrays' headers (and the labels, when the number of classes is not
given): the compiler calls it to size the network.  `load_arrays` reads the data for a run.  No
array is ever unpickled (`allow_pickle=False`; an object array is refused).  Every problem is a
RunError with its code:

  E815  the file is missing, unreadable, not an .npz, or holds pickled objects
  E816  a key is missing, or an array has the wrong number of dimensions or dtype, or no samples;
        images without `shape`, or images of another shape than `shape` (node "task:shape")
  E817  the arrays disagree: samples of x and y, or the shape of a sample in train and test
  E818  a label outside 0..classes-1, or x holds NaN or inf
  E819  the data's time steps or image shape differ from the program's (`time.steps`, `shape`)
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import RunError

KEYS = ("x_train", "y_train", "x_test", "y_test")
SAVE_HINT = 'save it with numpy: np.savez("data.npz", x_train=..., y_train=..., x_test=..., y_test=...)'


LAYOUTS = ("channels_first", "channels_last")
SHAPE_NODE = "task:shape"  # an error the compiler places at the task's `shape`


@dataclass(frozen=True)
class ArraysInfo:
    """What the header of a dataset file says: sample counts, features, time steps (None: static)."""

    n_train: int
    n_test: int
    features: int
    frames: int | None
    classes: int | None  # max label + 1, when the labels were read


def _stored(shape, layout: str) -> tuple[int, int, int]:
    """The axes a (C, H, W) image has in the file, in the layout's order."""
    c, h, w = shape
    return (c, h, w) if layout == "channels_first" else (h, w, c)


def _as_shape(image, layout: str) -> list[int]:
    """The `shape = [C, H, W]` of an image stored as `image` in the layout's order."""
    return list(image) if layout == "channels_first" else [image[2], image[0], image[1]]


def _image_mismatch(sample: tuple, shape, layout: str) -> tuple[str, str, str, str | None] | None:
    """Whether a sample of the file's shape (after N) fits the task's image `shape` (None: flat
    samples) in `layout`: None if it does, else (what the file holds, what the task asks for, a
    hint for the spec, the other layout when that one fits)."""
    if shape is None:
        if len(sample) not in (3, 4):
            return None
        temporal = ", after a time axis" if len(sample) == 4 else ""
        return (f"samples of shape {sample} (images{temporal})", "the task has no `shape`",
                f"add `shape = {_as_shape(sample[-3:], 'channels_first')}` to the task block for (N, C, H, W); "
                "for (N, H, W, C) add `layout = channels_last` and `shape = [C, H, W]`", None)
    want = _stored(shape, layout)
    asks = f"`shape = {list(shape)}` ({layout}) asks for images of {want}"
    if len(sample) in (1, 2):
        dims = ", ".join(map(str, want))
        return (f"flat samples of shape {sample}", asks,
                f"save x with its image axes, x.reshape(len(x), {dims}) if that is its order, or drop `shape`", None)
    image = sample[-3:]
    if image == want:
        return None
    other = "channels_last" if layout == "channels_first" else "channels_first"
    fix = f"write `shape = {_as_shape(image, layout)}`"
    if image == _stored(shape, other):  # the shape read in the other order
        return (f"images of {image}", asks, f"if the file's images are {other.replace('_', ' ')}, write "
                f"`layout = {other}`; else {fix}", other)
    return f"images of {image}", asks, f"the file's images are {image}: {fix}", None


def _error(code, message, hint=None, node="task"):
    return RunError(code, message, hint, node=node)


def _headers(path: str) -> dict[str, tuple[tuple, np.dtype]]:
    """(shape, dtype) of each array in an .npz, from the .npy headers alone."""
    if not os.path.exists(path):
        raise _error("E815", f"dataset file {path} does not exist", "give the .npz file with `path = \"...\"` "
                                                                  "(relative to the spec) or --set task.path=FILE")
    if os.path.isdir(path):
        raise _error("E815", f"dataset file {path} is a folder", "give the .npz file itself")
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = {(1, 0): np.lib.format.read_array_header_1_0,
                            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read is None:
                        raise ValueError(f"unsupported .npy version {version}")
                    shape, _, dtype = read(f)
                out[name[:-4]] = (tuple(shape), dtype)
    except PermissionError as e:
        raise _error("E815", f"cannot read {path}: {e.strerror}", "it must be a readable file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError) as e:
        raise _error("E815", f"{path} is not an .npz file of arrays ({type(e).__name__}: {e})", SAVE_HINT) from None
    return out


def _x_shapes(path: str) -> tuple[tuple, tuple]:
    """The shapes of x_train and x_test, after checking the four arrays' keys, dimensions, dtypes
    and counts from their headers."""
    heads = _headers(path)
    missing = [k for k in KEYS if k not in heads]
    if missing:
        found = ", ".join(sorted(heads)) or "no arrays"
        raise _error("E816", f"{path} lacks {', '.join(missing)} (it holds {found})", SAVE_HINT)
    for k in KEYS:
        if heads[k][1].hasobject:
            raise _error("E815", f"{path}: {k} holds Python objects, which are never unpickled",
                         "save numeric arrays (e.g. np.asarray(x, np.float32)), not lists of objects")
    for part in ("train", "test"):
        (xs, xd), (ys, yd) = heads[f"x_{part}"], heads[f"y_{part}"]
        if len(xs) not in (2, 3, 4, 5):
            raise _error("E816", f"{path}: x_{part} has shape {xs}; expected (samples, features), "
                                 "(samples, time steps, features), or images (samples, [time steps,] C, H, W)",
                         "flatten each sample's features into the last axis, or give images their `shape`")
        if xd.kind not in "biuf":
            raise _error("E816", f"{path}: x_{part} is {xd}, not numbers", "save x as float32 (or bool for spikes)")
        if len(ys) != 1:
            raise _error("E816", f"{path}: y_{part} has shape {ys}; expected (samples,) of class indices",
                         "save the labels as integers, not one-hot")
        if yd.kind not in "iu":
            raise _error("E816", f"{path}: y_{part} is {yd}; labels must be integers 0..classes-1",
                         "save them with y.astype(np.int64)")
        if xs[0] == 0:
            raise _error("E816", f"{path}: x_{part} holds no samples")
        if xs[0] != ys[0]:
            raise _error("E817", f"{path}: x_{part} has {xs[0]} samples but y_{part} has {ys[0]} labels",
                         "x and y must hold the same samples, in the same order")
    train, test = heads["x_train"][0], heads["x_test"][0]
    if train[1:] != test[1:]:
        raise _error("E817", f"{path}: a train sample has shape {train[1:]} but a test sample {test[1:]}",
                     "train and test samples need the same time steps and features")
    if 0 in train[1:]:
        raise _error("E816", f"{path}: x_train has shape {train}; a sample needs at least one value")
    return train, test


def describe(path: str, classes: int | None = None, read_labels: bool = True, shape=None,
             layout: str = "channels_first") -> ArraysInfo:
    """Check the four arrays from their headers (_x_shapes), and that the samples are images of
    `shape` (C, H, W) in `layout` (flat, when shape is None); with read_labels and no `classes`,
    read the labels to count the classes (max label + 1)."""
    train, test = _x_shapes(path)
    mismatch = _image_mismatch(train[1:], shape, layout)
    if mismatch is not None:
        found, asks, hint, _ = mismatch
        raise _error("E816", f"{path}: x_train holds {found}, but {asks}", hint, node=SHAPE_NODE)
    if read_labels:
        labels = dict(zip(("train", "test"), _read(path, ("y_train", "y_test"))))
        for part, y in labels.items():
            _check_labels(path, part, y, classes)
        if classes is None:
            classes = int(max(y.max() for y in labels.values())) + 1
    image = shape is not None
    return ArraysInfo(n_train=train[0], n_test=test[0], features=int(np.prod(shape)) if image else train[-1],
                      frames=train[1] if len(train) == (5 if image else 3) else None, classes=classes)


def _check_labels(path: str, part: str, y: np.ndarray, classes: int | None) -> None:
    """E818 for a negative label, or one at or above `classes` (when given)."""
    if y.min() < 0 or (classes is not None and y.max() >= classes):
        within = f"0..{classes - 1}" if classes is not None else "0 and above"
        raise _error("E818", f"{path}: y_{part} has labels {y.min()}..{y.max()}, outside {within}",
                     "labels are class indices 0..classes-1" + (f"; the task has {classes} classes (`classes = ...`)"
                                                               if classes is not None else ""))


def _read(path: str, keys) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return [data[k] for k in keys]
    except PermissionError as e:
        raise _error("E815", f"cannot read {path}: {e.strerror}", "it must be a readable file") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError) as e:
        raise _error("E815", f"{path} is damaged ({type(e).__name__}: {e})", SAVE_HINT) from None


def load_arrays(path: str, classes: int, frames: int | None, shape=None, layout: str = "channels_first"):
    """(x_train, y_train, x_test, y_test): float32 x as stored (images as flat channels-last rows),
    int32 labels; checked against the program's classes, time steps (frames, None for static data)
    and image shape (C, H, W), None for flat samples)."""
    shape = tuple(shape) if shape is not None else None
    mismatch = _image_mismatch(_x_shapes(path)[0][1:], shape, layout)
    if mismatch is not None:  # a file given at run time may differ from the one compiled for
        found, _, _, other = mismatch
        compiled = f"images of shape {list(shape)} ({layout})" if shape else "flat samples"
        raise _error("E819", f"{path}: x_train holds {found}; this program was compiled for {compiled}",
                     f"the file's images are stored {other}: add --set task.layout={other}" if other else
                     "compile the spec again for this file (snndsl run), or give a file of that shape")
    info = describe(path, classes, shape=shape, layout=layout)
    if info.frames != frames:
        data = f"{info.frames} time steps per sample" if info.frames else "static samples (no time axis)"
        prog = f"{frames} time steps (time.steps)" if frames else "static samples"
        raise _error("E819", f"{path} holds {data}; this program was compiled for {prog}",
                     "compile the spec again with this file (snndsl run), or give a file of the same shape")
    out = []
    for part, (x, y) in zip(("train", "test"), ((0, 1), (2, 3))):
        x, y = _read(path, (KEYS[x], KEYS[y]))
        if shape is not None:  # once, here: the runtime's flat channels-last rows
            from ..layers import from_channels_first, from_image

            x = from_channels_first(x) if layout == "channels_first" else from_image(x)
        x = np.ascontiguousarray(x, dtype=np.float32)
        bad = ~np.isfinite(x)
        if bad.any():
            where = np.argwhere(bad)[0]
            raise _error("E818", f"{path}: x_{part} holds {int(bad.sum())} NaN or inf values (the first in "
                                 f"sample {where[0]})", "replace or drop those samples")
        out += [x, y.astype(np.int32)]
    return tuple(out)


def frame(sample, t):
    """The input of time step t: slice t of a temporal sample (T, features), a static sample itself."""
    return sample[t] if sample.ndim == 2 else sample
