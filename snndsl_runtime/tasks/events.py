"""Event-camera datasets from local files: N-MNIST, DVS128 Gesture, CIFAR10-DVS.

Each recording is read as tonic's dataset class reads it (tonic.io's readers, the same folder
layout), then binned with `tonic.transforms.ToFrame(sensor_size, n_event_bins=T)` into T = time.steps
frames holding equal numbers of events (SpikingJelly's split_by='number'), after an optional
`tonic.transforms.Downsample` to size x size pixels.  A sample is delivered as (T, H*W*2) float32
event counts, channels-last: pixel (h, w), polarity c at `(h * W + w) * 2 + c`.

The binned frames are cached as .npz beside the data (`<folder>/snndsl_frames/`, or under
$SNNDSL_CACHE when the folder is read-only), keyed by the dataset, T, the size and the recordings'
names, sizes and times; a damaged cache is read again from the recordings.

Folders (`path`), as tonic's datasets leave them after extraction (the dataset's own subfolder,
`NMNIST/`, `DVSGesture/`, `CIFAR10DVS/`, is looked into when the folder holds it):
  nmnist       Train/<digit>/*.bin, Test/<digit>/*.bin   (40-bit events: x, y, polarity + 23-bit time)
  dvs_gesture  ibmGestureTrain/userNN_<lighting>/<label>.npy, ibmGestureTest/...   (tonic's
               preprocessed version: an (N, 4) array of x, y, polarity, time in ms per gesture)
  cifar10_dvs  <class>/*.aedat4 (tonic's version, read with tonic.io.read_aedat4, which needs the
               `aedat` package) or <class>/*.aedat (the original AEDAT 2.0 release, DVS128 addresses);
               no test set of its own: a stratified `test_fraction` (default 0.1) is held out, the same every run

Problems are RunErrors: E811 (a folder or its recordings missing), E812 (a recording of the wrong
format or with events outside the sensor), E813 (a truncated recording), E814 (a label that is not
one of the dataset's classes), E872 (tonic, or `aedat` for .aedat4 files, not installed).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..errors import RunError
from ..io import atomic_write

INSTALL_HINT = "install the event-camera extra: pip install -e .[events] (or pip install tonic)"
REDOWNLOAD = "the recording is damaged or of another kind; download the dataset again"
CACHE_VERSION = 1
NATIVE = {"nmnist": 34, "dvs_gesture": 128, "cifar10_dvs": 128}  # sensor width = height, pixels
CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
GESTURE_CLASSES = 11
SUBFOLDER = {"nmnist": "NMNIST", "dvs_gesture": "DVSGesture", "cifar10_dvs": "CIFAR10DVS"}
SPLITS = {"nmnist": ("Train", "Test"), "dvs_gesture": ("ibmGestureTrain", "ibmGestureTest")}


def _error(code, message, hint):
    return RunError(code, message, hint, node="task")


def _tonic():
    try:
        import tonic
        import tonic.io  # noqa: F401
    except ImportError as e:
        raise _error("E872", f"the event-camera datasets are read with tonic, which cannot be imported ({e})",
                     INSTALL_HINT) from None
    return tonic


def load_events(name: str, folder: str, frames: int, size: int | None, test_fraction: float = 0.1):
    """(x_train, y_train, x_test, y_test): x (n, frames, size*size*2) float32 event counts, y int32."""
    tonic = _tonic()
    size = size or NATIVE[name]
    sub = os.path.join(folder, SUBFOLDER[name])
    if os.path.isdir(sub) and not _holds_dataset(name, folder):
        folder = sub
    parts = _recordings(name, folder)
    if name == "cifar10_dvs":
        from .datasets import _stratified_test

        files, labels = parts["all"]
        test = set(_stratified_test(np.asarray(labels), int(round(test_fraction * len(labels))),
                                    np.random.default_rng(0)).tolist())
        parts = {part: ([f for i, f in enumerate(files) if (i in test) == (part == "test")],
                        [y for i, y in enumerate(labels) if (i in test) == (part == "test")])
                 for part in ("train", "test")}
    out = []
    for part in ("train", "test"):
        files, labels = parts[part]
        if not files:
            raise _error("E811", f"{name}: no {part} recordings in {folder}", _layout_hint(name))
        x = _cached_frames(tonic, name, folder, part, files, frames, size)
        out += [x.astype(np.float32), np.asarray(labels, np.int32)]
    return tuple(out)


def _holds_dataset(name: str, folder: str) -> bool:
    if name in SPLITS:
        return all(os.path.isdir(os.path.join(folder, s)) for s in SPLITS[name])
    return any(os.path.isdir(os.path.join(folder, c)) for c in CIFAR10_DVS_CLASSES)


def _layout_hint(name: str) -> str:
    return {"nmnist": "the folder (or its NMNIST subfolder) needs Train/<digit>/*.bin and Test/<digit>/*.bin",
            "dvs_gesture": "the folder (or its DVSGesture subfolder) needs ibmGestureTrain/ and ibmGestureTest/, "
                           "each of userNN_<lighting>/<label>.npy (tonic's preprocessed DVS Gesture)",
            "cifar10_dvs": "the folder (or its CIFAR10DVS subfolder) needs one folder per class ("
                           + ", ".join(CIFAR10_DVS_CLASSES) + ") of .aedat4 or .aedat recordings"}[name]


# ---- the recordings and their labels, found as tonic's dataset classes find them


def _walk(root: str):
    """(folder, sorted files) under root, in sorted order."""
    for path, dirs, files in os.walk(root):
        dirs.sort()
        yield path, sorted(files)


def _recordings(name: str, folder: str) -> dict:
    """{part: (files, labels)}: train and test, or "all" for cifar10_dvs."""
    if name in SPLITS:
        out = {}
        for part, sub in zip(("train", "test"), SPLITS[name]):
            root = os.path.join(folder, sub)
            if not os.path.isdir(root):
                raise _error("E811", f"{sub} is missing from {folder}", _layout_hint(name))
            files, labels = [], []
            for path, names in _walk(root):
                for f in names:
                    if name == "nmnist" and f.endswith(".bin"):
                        files.append(os.path.join(path, f))
                        labels.append(_label(os.path.basename(path), [str(d) for d in range(10)], files[-1]))
                    elif name == "dvs_gesture" and f.endswith(".npy"):
                        files.append(os.path.join(path, f))
                        labels.append(_label(f[:-4], [str(d) for d in range(GESTURE_CLASSES)], files[-1]))
            out[part] = (files, labels)
        return out
    files, labels = [], []
    for path, names in _walk(folder):
        for f in names:
            if f.endswith((".aedat4", ".aedat")):
                files.append(os.path.join(path, f))
                labels.append(_label(os.path.basename(path), list(CIFAR10_DVS_CLASSES), files[-1]))
    if not files:
        raise _error("E811", f"cifar10_dvs: no .aedat4 or .aedat recordings in {folder}", _layout_hint(name))
    return {"all": (files, labels)}


def _label(text: str, classes: list[str], path: str) -> int:
    """The class index a folder or file name stands for; E814 when it names none."""
    if text not in classes:
        shown = f"0..{len(classes) - 1}" if classes[0] == "0" else ", ".join(classes)
        raise _error("E814", f"{path}: `{text}` is not a label of this dataset ({shown})",
                     "keep the dataset's folder layout: the label is the name of the recording's "
                     + ("file" if classes[0] == "0" and len(classes) == GESTURE_CLASSES else "folder"))
    return classes.index(text)


# ---- one recording -> events (x, y, p, t)


def _read(tonic, name: str, path: str) -> np.ndarray:
    """The recording's events as a structured array with x, y, p, t; checked against the sensor."""
    try:
        if name == "nmnist":
            events = _read_nmnist(tonic, path)
        elif name == "dvs_gesture":
            events = _read_gesture(tonic, path)
        elif path.endswith(".aedat4"):
            events = _read_aedat4(tonic, path)
        else:
            events = _read_aedat2(tonic, path)
    except RunError:
        raise
    except PermissionError as e:
        raise _error("E811", f"cannot read {path}: {e.strerror}", "it must be a readable file") from None
    except Exception as e:  # noqa: BLE001  tonic's readers raise whatever a damaged file makes them raise
        raise _error("E812", f"{path} cannot be read as a {name} recording ({type(e).__name__}: {e})",
                     REDOWNLOAD) from None
    n = NATIVE[name]
    for axis in ("x", "y"):
        v = events[axis]
        if len(v) and (v.min() < 0 or v.max() >= n):
            raise _error("E812", f"{path}: event {axis} coordinates {v.min()}..{v.max()} lie outside the "
                                 f"{n}x{n} sensor", REDOWNLOAD)
    if len(events) and not np.isin(events["p"], (0, 1)).all():
        raise _error("E812", f"{path}: polarities other than 0 and 1", REDOWNLOAD)
    return events


def _read_nmnist(tonic, path: str) -> np.ndarray:
    """tonic's N-MNIST reader: 5 bytes per event (x, y, polarity bit + 23 time bits)."""
    n = os.path.getsize(path)
    if n % 5:
        raise _error("E813", f"{path} is truncated: {n} bytes is not a whole number of 5-byte events", REDOWNLOAD)
    return tonic.io.read_mnist_file(path, dtype=tonic.datasets.NMNIST.dtype)


def _read_gesture(tonic, path: str) -> np.ndarray:
    """tonic's DVS Gesture: an (N, 4) array x, y, p, t (ms) per gesture, the time turned into us."""
    with open(path, "rb") as f:  # the header first: no objects, and the data it promises is all there
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = {(1, 0): np.lib.format.read_array_header_1_0,
                                 (2, 0): np.lib.format.read_array_header_2_0}[version](f)
        if dtype.hasobject:
            raise _error("E812", f"{path} holds Python objects, which are never unpickled", REDOWNLOAD)
        if len(shape) != 2 or shape[1] != 4 or dtype.kind not in "iuf":
            raise _error("E812", f"{path}: an array of shape {shape} ({dtype}); a gesture is (events, 4) "
                                 "numbers: x, y, polarity, time", REDOWNLOAD)
        expected, left = shape[0] * 4 * dtype.itemsize, os.path.getsize(path) - f.tell()
        if left < expected:
            raise _error("E813", f"{path} is truncated: its header promises {shape[0]} events, it holds "
                                 f"{left // (4 * dtype.itemsize)}", REDOWNLOAD)
        raw = np.fromfile(f, dtype, shape[0] * 4).reshape(shape, order="F" if fortran else "C")
    dt = tonic.datasets.DVSGesture.dtype
    return tonic.io.make_structured_array(raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3] * 1000, dtype=dt)


def _read_aedat4(tonic, path: str) -> np.ndarray:
    try:
        import aedat  # noqa: F401  tonic.io.read_aedat4 decodes with it
    except ImportError:
        raise _error("E872", f"{path}: .aedat4 recordings are decoded by the `aedat` package, which is not "
                             "installed", "pip install aedat (or pip install -e .[events])") from None
    events = tonic.io.read_aedat4(path)
    events.dtype.names = ["t", "x", "y", "p"]  # as tonic's CIFAR10DVS names them
    return events


def _read_aedat2(tonic, path: str) -> np.ndarray:
    """The original CIFAR10-DVS release: an AEDAT 2.0 file (`#` header lines, then big-endian 32-bit
    address and timestamp pairs), read with tonic's AEDAT readers; DVS128 addresses decoded as
    tonic.io.read_dvs_128 does (x = bits 8-14, y = bits 1-7, polarity = bit 0)."""
    version, start, _ = tonic.io.read_aedat_header_from_file(path)
    if not 2 <= version < 3:
        raise _error("E812", f"{path} is AEDAT {version:g}; an .aedat recording of CIFAR10-DVS is AEDAT 2.0",
                     REDOWNLOAD)
    if (os.path.getsize(path) - start) % 8:
        raise _error("E813", f"{path} is truncated: its events are not a whole number of 8-byte records",
                     REDOWNLOAD)
    raw = tonic.io.get_aer_events_from_file(path, version, start)
    addr, t = raw["address"].astype(np.int64), raw["timeStamp"].astype(np.int64)
    return tonic.io.make_structured_array((addr >> 8) & 0x7F, (addr >> 1) & 0x7F, t, addr & 1)


# ---- events -> frames, cached


def _bin(tonic, events: np.ndarray, native: int, size: int, frames: int) -> np.ndarray:
    """(frames, size*size*2) int16 event counts: T bins of equal event counts, channels-last."""
    if len(events) == 0:
        return np.zeros((frames, size * size * 2), np.int16)
    steps = [tonic.transforms.Downsample(spatial_factor=size / native)] if size != native else []
    steps.append(tonic.transforms.ToFrame(sensor_size=(size, size, 2), n_event_bins=frames))
    binned = tonic.transforms.Compose(steps)(events)  # (T, polarity, H, W)
    return np.ascontiguousarray(binned.transpose(0, 2, 3, 1)).reshape(frames, -1).astype(np.int16)


def _cached_frames(tonic, name, folder, part, files, frames, size) -> np.ndarray:
    stamp = [(os.path.relpath(f, folder), *_stat(f)) for f in files]
    key = hashlib.sha256(json.dumps([CACHE_VERSION, name, part, frames, size, stamp]).encode()).hexdigest()[:16]
    stem = f"{name}-{part}-T{frames}-{size}x{size}-{key}.npz"
    places = [os.path.join(folder, "snndsl_frames"),
              os.path.join(os.environ.get("SNNDSL_CACHE", os.path.expanduser("~/.cache/snndsl")), "frames")]
    for place in places:
        try:
            with np.load(os.path.join(place, stem), allow_pickle=False) as z:
                x = z["x"]
            if x.shape == (len(files), frames, size * size * 2):
                return x
        except Exception:  # noqa: BLE001  missing or damaged: bin the recordings again
            pass
    x = np.stack([_bin(tonic, _read(tonic, name, f), NATIVE[name], size, frames) for f in files])
    for place in places:  # the first place that takes it; a run goes on without a cache
        try:
            os.makedirs(place, exist_ok=True)
            atomic_write(os.path.join(place, stem), lambda f: np.savez(f, x=x))
            break
        except (OSError, RunError):
            continue
    return x


def _stat(path: str):
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
