"""Classification datasets: digits (bundled with scikit-learn), MNIST / Fashion-MNIST (IDX files),
CIFAR-10 (python batches).  Features are float32 in [0, 1], flattened; labels int32.  Every bad
folder or file raises RunError (E811 missing, E812 format, E813 truncated, E814 inconsistent)."""

import gzip
import io
import os
import pickle
import struct
import zlib

import numpy as np

from .errors import RunError  # inline: drop

DATASETS = {"digits": (64, 10), "mnist": (784, 10), "fashion_mnist": (784, 10), "cifar10": (3072, 10)}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def load_dataset(name: str, path: str | None = None, test_fraction: float = 0.25):
    """-> (x_train, y_train, x_test, y_test)."""
    if name == "digits":
        return _digits(test_fraction)
    if name not in DATASETS:
        raise RunError("E811", f"unknown dataset `{name}`", f"datasets: {', '.join(DATASETS)}", node="task")
    if path is None:
        raise RunError("E811", f"{name} needs a folder with its files", "set it with --set task.path=DIR", node="task")
    if not os.path.isdir(path):
        raise RunError("E811", f"dataset folder {path} does not exist", "set it with --set task.path=DIR", node="task")
    if name == "cifar10":
        return _cifar10(path)
    return _idx_set(name, path)


# ---- digits


def _digits(test_fraction: float):
    """The 1797 8x8 digits with a fixed stratified split (independent of the run's seed)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int32)
    rng = np.random.default_rng(0)
    n_test = int(round(test_fraction * len(x)))
    classes = np.unique(y)
    test = []
    for c, idx in ((c, rng.permutation(np.flatnonzero(y == c))) for c in classes):
        test.append(idx[: int(round(n_test * len(idx) / len(x)))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(x)), test)
    train = rng.permutation(train)
    return x[train], y[train], x[test], y[test]


# ---- MNIST and Fashion-MNIST


def _open_idx(folder: str, stem: str) -> bytes:
    """The bytes of an IDX file, plain or gzipped."""
    for name in (stem, stem + ".gz"):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            try:
                with open(p, "rb") as f:
                    data = f.read()
                return gzip.decompress(data) if name.endswith(".gz") else data
            except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
                raise RunError("E812", f"{p} is not a valid gzip file: {e}", "download it again", node="task") from None
    raise RunError("E811", f"missing {stem} (or {stem}.gz) in {folder}",
                   "the folder needs the four IDX files: " + ", ".join(IDX_FILES), node="task")


def _parse_idx(data: bytes, stem: str, ndim: int) -> np.ndarray:
    if len(data) < 4 + 4 * ndim:
        raise RunError("E813", f"{stem} is truncated (only {len(data)} bytes)", "download it again", node="task")
    magic = struct.unpack(">I", data[:4])[0]
    if magic != 0x800 + ndim:
        raise RunError("E812", f"{stem} has magic number {magic:#010x}, expected {0x800 + ndim:#010x}",
                       "is it an IDX file of the right kind (images or labels)?", node="task")
    dims = struct.unpack(f">{ndim}I", data[4: 4 + 4 * ndim])
    size = int(np.prod(dims))
    body = data[4 + 4 * ndim:]
    if len(body) < size:
        raise RunError("E813", f"{stem} is truncated: {len(body)} of {size} data bytes", "download it again",
                       node="task")
    return np.frombuffer(body, np.uint8, size).reshape(dims)


def _idx_set(name: str, folder: str):
    arrays = [_parse_idx(_open_idx(folder, stem), stem, 3 if "images" in stem else 1) for stem in IDX_FILES]
    x_train, y_train, x_test, y_test = arrays
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(x) != len(y):
            raise RunError("E814", f"{name} {part}: {len(x)} images but {len(y)} labels",
                           "the image and label files come from different sets; download both again", node="task")
        if x.shape[1:] != (28, 28):
            raise RunError("E812", f"{name} {part} images are {x.shape[1]}x{x.shape[2]}, expected 28x28",
                           "is the folder MNIST-format data?", node="task")
        _check_labels(y, name, part)
    flat = lambda x: (x.reshape(len(x), -1) / 255.0).astype(np.float32)  # noqa: E731
    return flat(x_train), y_train.astype(np.int32), flat(x_test), y_test.astype(np.int32)


def _check_labels(y: np.ndarray, name: str, part: str) -> None:
    classes = DATASETS[name][1]
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise RunError("E814", f"{name} {part} labels lie outside 0..{classes - 1}",
                       f"{name} has {classes} classes; is the label file from another dataset?", node="task")


# ---- CIFAR-10


class _NumpyOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, and refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(path: str):
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnly(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise RunError("E812", f"{path} is not a CIFAR-10 python batch: {e}", "download the python version again",
                       node="task") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise RunError("E812", f"{path} is not a CIFAR-10 batch (no data/labels)",
                       "download the python version of CIFAR-10 again", node="task")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise RunError("E812", f"{path}: data has shape {data.shape} and type {data.dtype}, expected (n, 3072) uint8",
                       "download the python version of CIFAR-10 again", node="task")
    if len(data) != len(labels):
        raise RunError("E814", f"{path}: {len(data)} images but {len(labels)} labels",
                       "download the python version of CIFAR-10 again", node="task")
    _check_labels(labels, "cifar10", os.path.basename(path))
    return data, labels


def _cifar10(folder: str):
    sub = os.path.join(folder, "cifar-10-batches-py")
    if not os.path.exists(os.path.join(folder, "test_batch")) and os.path.isdir(sub):
        folder = sub
    for name in CIFAR_FILES:
        if not os.path.exists(os.path.join(folder, name)):
            raise RunError("E811", f"missing {name} in {folder}", "the folder needs " + ", ".join(CIFAR_FILES),
                           node="task")
    parts = [_cifar_batch(os.path.join(folder, name)) for name in CIFAR_FILES]
    x_train = np.concatenate([p[0] for p in parts[:5]])
    y_train = np.concatenate([p[1] for p in parts[:5]])
    x_test, y_test = parts[5]
    return ((x_train / 255.0).astype(np.float32), y_train.astype(np.int32),
            (x_test / 255.0).astype(np.float32), y_test.astype(np.int32))


# ---- batches


def iterate_batches(x, y, batch_size: int, rng=None, drop_last: bool = True):
    """(xb, yb) batches, shuffled with rng (one permutation per call) when given."""
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    stop = len(x) - (len(x) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def test_batches(x, y, batch_size: int):
    """(xb, yb, mask) covering every sample once; the last batch is padded (mask False) to one shape."""
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        pad = batch_size - len(xb)
        mask = np.concatenate([np.ones(len(xb), bool), np.zeros(pad, bool)])
        if pad:
            xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
            yb = np.concatenate([yb, np.zeros(pad, yb.dtype)])
        yield xb, yb, mask
