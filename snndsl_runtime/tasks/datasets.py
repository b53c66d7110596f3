"""Classification datasets: digits (scikit-learn), MNIST / Fashion-MNIST (IDX files), CIFAR-10 and
CIFAR-100 (python batches), and the event-camera datasets of events.py.

Images are delivered as flat rows in channels-last order: pixel (h, w), channel c at
`(h * W + w) * C + c`, the layout of a shaped input in the runtime (SHAPES gives each (C, H, W))."""

import gzip
import io
import math
import os
import pickle
import struct
import zlib

import numpy as np

from ..errors import RunError

DATASETS = {"digits": (64, 10), "mnist": (784, 10), "fashion_mnist": (784, 10), "cifar10": (3072, 10),
            "cifar100": (3072, 100), "nmnist": (2312, 10), "dvs_gesture": (32768, 11), "cifar10_dvs": (32768, 10)}
# each dataset's image shape (C, H, W); an event dataset's C is its two polarities, H and W those
# of its sensor before any `size` downsampling
SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32),
          "cifar100": (3, 32, 32), "nmnist": (2, 34, 34), "dvs_gesture": (2, 128, 128), "cifar10_dvs": (2, 128, 128)}
EVENT_DATASETS = ("nmnist", "dvs_gesture", "cifar10_dvs")
CIFAR100_CLASSES = {"fine": 100, "coarse": 20}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR100_FILES = ("train", "test")
REDOWNLOAD = "the file is damaged or of another kind; download the dataset again"


def image_shape(task: dict) -> tuple[int, int, int] | None:
    """(C, H, W) of the task's samples (an event dataset's after `size` downsampling, arrays' their
    `shape`); None for flat arrays."""
    if task["dataset"] == "arrays":
        return tuple(task["shape"]) if task.get("shape") else None
    shape, size = SHAPES.get(task["dataset"]), task.get("size")
    return shape if shape is None or not size else (shape[0], size, size)


def load_dataset(name: str, path: str | None = None, test_fraction: float = 0.25, labels: str = "fine",
                 frames: int = 1, size: int | None = None):
    """-> (x_train, y_train, x_test, y_test): float32 features in [0, 1], flattened to (n, features)
    in (H, W, C) order; int32 labels.  Event datasets: (n, frames, H*W*2) event counts.

    `test_fraction` applies to digits and cifar10_dvs (the others come with their own test set);
    `labels` ("fine" or "coarse") to cifar100; `frames` and `size` to the event datasets."""
    if name not in DATASETS:
        raise RunError("E811", f"unknown dataset `{name}`", f"known datasets: {', '.join(DATASETS)}", node="task")
    if name == "digits":
        return _digits(test_fraction)
    if path is None:
        raise RunError("E811", f"dataset {name} needs the folder that holds its files",
                       "give it with --set task.path=DIR (or `path = \"DIR\"` in the task block)", node="task")
    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise RunError("E811", f"dataset folder {path} {what}", "give the folder with --set task.path=DIR", node="task")
    if not os.access(path, os.R_OK | os.X_OK):  # its files would all look missing
        raise RunError("E811", f"cannot read the dataset folder {path} (permission denied)",
                       "make it readable, or give another folder with --set task.path=DIR", node="task")
    if name in EVENT_DATASETS:
        from .events import load_events

        return load_events(name, path, frames, size, test_fraction)
    if name == "cifar100":
        return _cifar100(path, labels)
    return _cifar10(path) if name == "cifar10" else _idx_dataset(name, path)


def _unit(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0, 1], one flattened row per image."""
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= 255.0
    return x


def _check_labels(y: np.ndarray, where: str, classes: int) -> np.ndarray:
    """Labels as int32, or E814 when one lies outside 0..classes-1."""
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise RunError("E814", f"{where}: labels lie outside 0..{classes - 1} (found {y.min()}..{y.max()})",
                       "the label file belongs to another dataset; " + REDOWNLOAD, node="task")
    return y.astype(np.int32)


def _check_counts(n_images: int, n_labels: int, where: str) -> None:
    """E814 when the image and label counts differ."""
    if n_images != n_labels:
        raise RunError("E814", f"{where}: {n_images} images but {n_labels} labels",
                       "the image and label files come from different downloads; " + REDOWNLOAD, node="task")


# ---- digits


def _digits(test_fraction: float):
    """The 1797 8x8 digits of scikit-learn, split by a fixed stratified split (not the run's seed)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int32)
    test = _stratified_test(y, int(round(test_fraction * len(y))), np.random.default_rng(0))
    train = np.setdiff1d(np.arange(len(y)), test)
    return x[train], y[train], x[test], y[test]


def _stratified_test(y: np.ndarray, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of n_test samples, each class in proportion to its size (largest remainders)."""
    classes, counts = np.unique(y, return_counts=True)
    quota = n_test * counts / len(y)
    take = np.floor(quota).astype(int)
    take[np.argsort(take - quota, kind="stable")[: n_test - take.sum()]] += 1
    picks = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picks))


# ---- MNIST and Fashion-MNIST (IDX files)


def _idx_dataset(name: str, folder: str):
    images, labels, test_images, test_labels = (_read_idx(folder, stem) for stem in IDX_FILES)
    out = []
    for x, y, part in ((images, labels, "train"), (test_images, test_labels, "t10k")):
        where = f"{name} {part} set in {folder}"
        _check_counts(len(x), len(y), where)  # each file's own header and size were checked as it was read
        out += [_unit(x), _check_labels(y, where, DATASETS[name][1])]
    return tuple(out)


def _read_idx(folder: str, stem: str) -> np.ndarray:
    """One IDX file (plain or .gz), checked and parsed."""
    candidates = (os.path.join(folder, stem), os.path.join(folder, stem + ".gz"))  # plain first: no unpacking
    path = next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        raise RunError("E811", f"{stem} (or {stem}.gz) is missing from {folder}",
                       "the folder needs the four IDX files " + ", ".join(IDX_FILES) + " (each plain or .gz)",
                       node="task")
    ndim = 3 if "images" in stem else 1
    item_shape = (28, 28) if ndim == 3 else ()
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:  # streamed: the header is checked before any data is unpacked
            return _parse_idx(f, path, ndim, item_shape)
    except EOFError:
        raise RunError("E813", f"{path} is truncated (the gzip stream ends early)", REDOWNLOAD, node="task") from None
    except zlib.error as e:
        raise RunError("E812", f"{path} is not valid gzip: {e}", REDOWNLOAD, node="task") from None
    except OSError as e:  # gzip.BadGzipFile is an OSError too
        if path.endswith(".gz") and not isinstance(e, (PermissionError, FileNotFoundError, IsADirectoryError)):
            raise RunError("E812", f"{path} is not valid gzip: {e}", REDOWNLOAD, node="task") from None
        raise _unreadable(path, e) from None


def _unreadable(path: str, e: OSError) -> RunError:
    return RunError("E811", f"cannot read {path}: {e.strerror}", "it must be a readable file", node="task")


def _parse_idx(f, path: str, ndim: int, item_shape: tuple) -> np.ndarray:
    """An IDX array of unsigned bytes read from a file: magic 0x0000080N (N = ndim), N big-endian sizes,
    then exactly that many values and nothing after them."""
    kind, magic = ("images" if ndim == 3 else "labels"), 0x800 + ndim
    header = 4 + 4 * ndim
    head = f.read(header)
    if len(head) >= 4 and struct.unpack(">I", head[:4])[0] != magic:
        raise RunError("E812", f"{path} is not an IDX {kind} file (magic number {head[:4].hex()}, "
                               f"expected {magic:08x})", REDOWNLOAD, node="task")
    if len(head) < header:
        raise RunError("E813", f"{path} is truncated: {len(head)} bytes, shorter than its header", REDOWNLOAD,
                       node="task")
    dims = struct.unpack(f">{ndim}I", head[4:])
    if dims[0] == 0:
        raise RunError("E814", f"{path} holds no {kind} (its header says 0)", REDOWNLOAD, node="task")
    if ndim == 3 and tuple(dims[1:]) != item_shape:
        raise RunError("E812", f"{path}: images are {dims[1]}x{dims[2]}, expected "
                               f"{'x'.join(map(str, item_shape))}", REDOWNLOAD, node="task")
    size = math.prod(dims)
    data = f.read(size)
    if len(data) < size:
        raise RunError("E813", f"{path} is truncated: its header promises {'x'.join(map(str, dims))} values, "
                               f"it holds {len(data)}", REDOWNLOAD, node="task")
    if f.read(1):
        raise RunError("E812", f"{path} has bytes after the {'x'.join(map(str, dims))} values its header promises",
                       REDOWNLOAD, node="task")
    return np.frombuffer(data, np.uint8).reshape(dims)


# ---- CIFAR-10 (python batches)


def _cifar_folder(folder: str, sub: str, files: tuple, what: str) -> str:
    """The folder that holds a CIFAR python version's files (folder itself or its subfolder `sub`);
    E811 naming the first file missing."""
    inner = os.path.join(folder, sub)
    if not os.path.exists(os.path.join(folder, files[-1])) and os.path.isdir(inner):
        folder = inner
    for name in files:
        if not os.path.exists(os.path.join(folder, name)):
            raise RunError("E811", f"{name} is missing from {folder}",
                           f"the folder (or its {sub} subfolder) needs the {what} python version: "
                           + ", ".join(files), node="task")
    return folder


def _cifar10(folder: str):
    folder = _cifar_folder(folder, "cifar-10-batches-py", CIFAR_FILES, "CIFAR-10")
    batches = [_cifar_batch(os.path.join(folder, name)) for name in CIFAR_FILES]
    x_train = np.concatenate([x for x, _ in batches[:5]])
    y_train = np.concatenate([y for _, y in batches[:5]])
    x_test, y_test = batches[5]
    return _unit(_channels_last(x_train)), y_train, _unit(_channels_last(x_test)), y_test


def _cifar100(folder: str, labels: str):
    """CIFAR-100's python version: `train` and `test` (in folder or its cifar-100-python subfolder),
    with the fine (100) or coarse (20) labels."""
    folder = _cifar_folder(folder, "cifar-100-python", CIFAR100_FILES, "CIFAR-100")
    key, classes = f"{labels}_labels".encode(), CIFAR100_CLASSES[labels]
    out = []
    for name in CIFAR100_FILES:
        x, y = _cifar_batch(os.path.join(folder, name), key, classes, "CIFAR-100 python file")
        out += [_unit(_channels_last(x)), y]
    return tuple(out)


def _channels_last(images: np.ndarray) -> np.ndarray:
    """CIFAR rows (n, 3072) hold the red, green, blue planes in turn (C, H, W): reorder them to (H, W, C)."""
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(len(images), -1)


def _cifar_batch(path: str, label_key: bytes = b"labels", classes: int = 10, kind: str = "CIFAR-10 python batch"):
    """(uint8 images (n, 3072) as stored, int32 labels) of one CIFAR batch file."""
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
        data, labels = _as_array(batch[b"data"]), batch[label_key]
        labels = _as_array(labels) if isinstance(labels, _PickledArray) else np.asarray(labels)
    except OSError as e:
        raise _unreadable(path, e) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, MemoryError) as e:
        raise RunError("E812", f"{path} is not a {kind} ({type(e).__name__}: {e})", REDOWNLOAD,
                       node="task") from None
    if data.dtype != np.uint8 or data.shape[1:] != (3072,):
        raise RunError("E812", f"{path}: data is {data.dtype} of shape {data.shape}, expected uint8 of shape (n, 3072)",
                       REDOWNLOAD, node="task")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise RunError("E812", f"{path}: labels are not a list of integers", REDOWNLOAD, node="task")
    _check_counts(len(data), len(labels), path)
    return data, _check_labels(labels, path, classes)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles containers and numpy arrays, and refuses every other global.

    The numpy globals are replaced by the stand-ins below, so numpy never sees the file's unchecked
    state (a damaged dtype state can crash numpy itself); _as_array checks the parts and builds the array."""

    def find_class(self, module, name):
        if (module, name) not in _STAND_INS:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")
        return _STAND_INS[module, name]


class _PickledArray:
    """What a pickle says of an ndarray: shape, dtype, memory order and raw bytes."""

    def __init__(self, shape=(0,), dtype=None, fortran=False, raw=b""):
        self.shape, self.dtype, self.fortran, self.raw = shape, dtype, fortran, raw

    def __setstate__(self, state):
        # (version, shape, dtype, fortran, raw), or (shape, dtype, fortran, raw) in old pickles
        self.shape, self.dtype, self.fortran, self.raw = state[-4:]


class _PickledDType:
    """What a pickle says of a numpy dtype: its name ("u1", "<i8", ...) and byte order."""

    def __init__(self, name, align=False, copy=False):
        self.name, self.order = name, "|"

    def __setstate__(self, state):
        self.order = state[1]


def _reconstruct(cls, shape, typecode):
    return _PickledArray()


def _frombuffer(raw, dtype, shape, order):
    return _PickledArray(shape, dtype, order == "F", raw)


def _latin1(text, encoding):
    """`_codecs.encode`, which protocol-2 pickles written by Python 3 use for bytes."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing to decode {encoding}")
    return text.encode("latin1")


_STAND_INS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _PickledArray,
    ("numpy", "dtype"): _PickledDType,
    ("_codecs", "encode"): _latin1,
}


def _text(value) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _as_array(obj) -> np.ndarray:
    """A checked integer ndarray from a _PickledArray; ValueError when any part does not add up."""
    if not isinstance(obj, _PickledArray) or not isinstance(obj.dtype, _PickledDType):
        raise ValueError(f"expected a numpy array, found {type(obj).__name__}")
    name, order = _text(obj.dtype.name), _text(obj.dtype.order)
    if not isinstance(name, str) or name.lstrip("<>|=") not in ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"):
        raise ValueError(f"unsupported dtype {name!r}")
    if order not in ("<", ">", "|", "="):
        raise ValueError(f"bad byte order {order!r}")
    dtype = np.dtype(name.lstrip("<>|=")).newbyteorder(order)
    shape = tuple(obj.shape)
    if not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"bad shape {shape!r}")
    if not isinstance(obj.raw, (bytes, bytearray)) or len(obj.raw) != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"the array's data does not fill its shape {shape} and dtype {dtype}")
    return np.frombuffer(obj.raw, dtype).reshape(shape, order="F" if obj.fortran else "C")


# ---- batches


def iterate_batches(x, y, batch_size: int, rng: "np.random.Generator | None" = None, drop_last: bool = True):
    """Yield (xb, yb) numpy batches; shuffled with rng when given (one permutation per call)."""
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    stop = len(x) - len(x) % batch_size if drop_last else len(x)
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def test_batches(x, y, batch_size: int):
    """Yield (xb, yb, mask): every sample exactly once; the last batch padded to batch_size with mask=False rows
    (so a jitted evaluation sees one shape)."""
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        pad = batch_size - len(xb)
        mask = np.arange(batch_size) < len(xb)
        if pad:
            xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
            yb = np.concatenate([yb, np.zeros(pad, yb.dtype)])
        yield xb, yb, mask


def load_task(model, task, seed=0):
    """The model's dataset as {"train", "validation", "test"}: (x, y) each; validation is None
    without `task.validation`, else a stratified fraction of the training set drawn from the run's
    seed (and taken out of train).  Its sizes must match the network's input."""
    if task["dataset"] == "arrays":
        from .arrays import load_arrays

        x_train, y_train, x_test, y_test = load_arrays(task["path"], task["classes"], task.get("frames"),
                                                       task.get("shape"), task.get("layout", "channels_first"))
    else:
        x_train, y_train, x_test, y_test = load_dataset(task["dataset"], task.get("path"),
                                                        task.get("test_fraction", 0.25), task.get("labels", "fine"),
                                                        model.STEPS, task.get("size"))
    if x_train.shape[-1] != model.IN_SIZE:
        raise RunError("E703", f"{task['dataset']} has {x_train.shape[-1]} features; the network's input takes "
                               f"{model.IN_SIZE}", node="input")
    data = {"train": (x_train, y_train), "validation": None, "test": (x_test, y_test)}
    fraction = task.get("validation", 0.0)
    if fraction:
        n_val = int(round(fraction * len(y_train)))
        if not 1 <= n_val < len(y_train):
            raise RunError("E612", f"task.validation = {fraction:g} of {len(y_train)} training samples holds "
                                   f"{n_val}", "choose a fraction that leaves samples on both sides", node="task")
        val = _stratified_test(y_train, n_val, np.random.default_rng([seed, 1]))
        keep = np.setdiff1d(np.arange(len(y_train)), val)
        data["train"], data["validation"] = (x_train[keep], y_train[keep]), (x_train[val], y_train[val])
    return data
