"""Event-camera datasets (N-MNIST, DVS Gesture, CIFAR10-DVS) from small files the tests write in
the real formats, binned into T frames and checked against frames computed here event by event;
the cache; every damaged input a RunError with its code (through the CLI: exit 2, no traceback)."""

import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from snndsl_runtime.errors import RunError
from snndsl_runtime.tasks import datasets, events

from .conftest import cli_in_process, write_spec

# the readers need tonic (pip install -e .[events]); without it only the error that says so is tested
needs_tonic = pytest.mark.skipif(importlib.util.find_spec("tonic") is None, reason="tonic is not installed")


# ---- writers of the real formats


def write_nmnist_bin(path: Path, evs) -> None:
    """N-MNIST's 40-bit events: x, y, then polarity (bit 7) and a 23-bit timestamp (us), big-endian."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray()
    for x, y, p, t in evs:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    path.write_bytes(bytes(out))


def write_gesture_npy(path: Path, evs) -> None:
    """tonic's preprocessed DVS Gesture: one (N, 4) array of x, y, polarity, time (ms) per gesture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(evs, np.int64).reshape(-1, 4))


def write_aedat2(path: Path, evs) -> None:
    """An AEDAT 2.0 file as jAER wrote CIFAR10-DVS: `#` header lines ending in CR LF, then big-endian
    (32-bit address, 32-bit timestamp) pairs; a DVS128 address is x << 8 | y << 1 | polarity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Creation time: Mon 0 0 0 1 2 3\r\n"
    body = b"".join(struct.pack(">II", (x << 8) | (y << 1) | p, t) for x, y, p, t in evs)
    path.write_bytes(head + body)


def _pad(b: bytes, n: int) -> bytes:
    return b + b"\0" * (-len(b) % n)


AEDAT4_DESCRIPTION = (
    b'<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/"><node name="0" '
    b'path="/mainloop/Recorder/outInfo/0/"><attr key="typeIdentifier" type="string">EVTS</attr><node name="info" '
    b'path="/mainloop/Recorder/outInfo/0/info/"><attr key="sizeX" type="int">128</attr><attr key="sizeY" '
    b'type="int">128</attr></node></node></node></dv>')


def write_aedat4(path: Path, evs, packets=2) -> None:
    """An AEDAT 4.0 file as DV writes it, uncompressed: the magic line, the IOHeader flatbuffer (only
    its `description`, the XML naming stream 0 an 128x128 event stream), then packets of
    (stream id, size, a size-prefixed EventPacket flatbuffer of Event {t: i64, x: i16, y: i16, on: bool})."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # IOHeader: root offset, "IOHE", the vtable at 8 (10 bytes: only field 2 present, at +4), the table
    # at 20 (soffset back to the vtable, offset to the string), the string at 28
    header = struct.pack("<I", 20) + b"IOHE" + _pad(struct.pack("<5H", 10, 8, 0, 0, 4), 4)
    header += struct.pack("<iI", 20 - 8, 28 - 24) + struct.pack("<I", len(AEDAT4_DESCRIPTION))
    header = _pad(header + AEDAT4_DESCRIPTION + b"\0", 4)
    out = b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(header)) + header
    per = -(-len(evs) // packets)
    for k in range(0, len(evs), per):
        chunk = evs[k:k + per]
        # after the size prefix: root offset to the table at 20, "EVTS", the vtable at 12, the table
        # (soffset, offset to the vector at 28), the vector: count, then 16-byte events 8-aligned at 32
        body = struct.pack("<I", 20 - 4) + b"EVTS" + _pad(struct.pack("<3H", 6, 8, 4), 4)
        body += struct.pack("<iI", 20 - 12, 28 - 24) + struct.pack("<I", len(chunk))
        body += b"".join(struct.pack("<qhh?3x", t, x, y, bool(p)) for x, y, p, t in chunk)
        packet = struct.pack("<I", len(body)) + body
        out += struct.pack("<II", 0, len(packet)) + packet
    path.write_bytes(out)


def reference_frames(evs, native, size, frames):
    """Frames computed here, event by event: bin k holds events k*(n//T) .. (k+1)*(n//T)-1; an event
    at (x, y) with polarity p counts at ((y' * size + x') * 2 + p), x' = floor(x * size / native)."""
    out = np.zeros((frames, size * size * 2), np.float32)
    per = len(evs) // frames
    for k in range(frames):
        for x, y, p, _ in evs[k * per:(k + 1) * per]:
            xs, ys = int(x * size / native), int(y * size / native)
            out[k, (ys * size + xs) * 2 + p] += 1
    return out


def _events(rng, n, native, t_scale=1):
    t = np.sort(rng.integers(0, 5000, n)) * t_scale
    return [(int(rng.integers(0, native)), int(rng.integers(0, native)), int(rng.integers(0, 2)), int(ti))
            for ti in t]


# ---- each dataset read and binned


def _nmnist(folder: Path, seed=0):
    rng = np.random.default_rng(seed)
    written = {"train": [], "test": []}
    for part, sub, digits in (("train", "Train", (0, 3, 3, 9)), ("test", "Test", (7, 1))):
        for i, d in enumerate(digits):
            evs = _events(rng, 12 + i, 34)
            write_nmnist_bin(folder / "NMNIST" / sub / str(d) / f"{i:05d}.bin", evs)
            written[part].append((d, evs))
    return written


def _sorted_like_tonic(written):
    """tonic walks the label folders in sorted order, files sorted within each."""
    return sorted(written, key=lambda de: de[0])


@needs_tonic
@pytest.mark.parametrize("size", [None, 17])
def test_nmnist_frames_match_the_events(tmp_path, size):
    written = _nmnist(tmp_path)
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("nmnist", str(tmp_path), frames=3, size=size)
    s = size or 34
    assert x_tr.shape == (4, 3, s * s * 2) and x_tr.dtype == np.float32 and y_tr.dtype == np.int32
    for part, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        expect = _sorted_like_tonic(written[part])
        assert y.tolist() == [d for d, _ in expect]
        for xi, (_, evs) in zip(x, expect):
            np.testing.assert_array_equal(xi, reference_frames(evs, 34, s, 3))


@needs_tonic
def test_nmnist_hand_computed_event_and_overflow_marker(tmp_path):
    """Two events (x=2, y=1, p=1) and (x=0, y=33, p=0), and N-MNIST's time-overflow marker
    (y = 240), which is not an event: T = 2 frames of one event each."""
    root = tmp_path / "Train" / "5"
    write_nmnist_bin(root / "a.bin", [(2, 1, 1, 10), (9, 240, 0, 0), (0, 33, 0, 20)])
    write_nmnist_bin(tmp_path / "Test" / "5" / "b.bin", [(1, 1, 0, 3)])
    x, y, _, _ = datasets.load_dataset("nmnist", str(tmp_path), frames=2)
    assert y.tolist() == [5]
    assert np.flatnonzero(x[0, 0]).tolist() == [(1 * 34 + 2) * 2 + 1]
    assert np.flatnonzero(x[0, 1]).tolist() == [(33 * 34 + 0) * 2 + 0]
    assert x.sum() == 2


@needs_tonic
def test_dvs_gesture_frames_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    written = {"train": [], "test": []}
    for part, sub, users in (("train", "ibmGestureTrain", ("user01_fluorescent", "user02_lab")),
                             ("test", "ibmGestureTest", ("user24_led",))):
        for user in users:
            for label in (10, 2):
                evs = _events(rng, 20, 128)
                write_gesture_npy(tmp_path / "DVSGesture" / sub / user / f"{label}.npy", evs)
                written[part].append((user, label, evs))
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("dvs_gesture", str(tmp_path), frames=4, size=32)
    assert x_tr.shape == (4, 4, 32 * 32 * 2)
    for part, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        expect = sorted(written[part], key=lambda w: (w[0], str(w[1])))  # users sorted, files sorted
        assert y.tolist() == [lab for _, lab, _ in expect]
        for xi, (_, _, evs) in zip(x, expect):
            np.testing.assert_array_equal(xi, reference_frames(evs, 128, 32, 4))


@needs_tonic
def test_cifar10_dvs_aedat2_split_and_frames(tmp_path):
    rng = np.random.default_rng(2)
    written = {}
    for cls in ("airplane", "cat", "truck"):
        for i in range(10):
            evs = _events(rng, 9, 128)
            path = tmp_path / cls / f"cifar10_{cls}_{i}.aedat"
            write_aedat2(path, evs)
            written[str(path)] = (events.CIFAR10_DVS_CLASSES.index(cls), evs)
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("cifar10_dvs", str(tmp_path), 0.1, frames=3, size=64)
    assert x_tr.shape == (27, 3, 64 * 64 * 2) and x_te.shape == (3, 3, 64 * 64 * 2)
    assert sorted(y_te.tolist()) == [0, 3, 9]  # a tenth of each class, stratified
    every = {tuple(reference_frames(evs, 128, 64, 3).ravel().nonzero()[0]): lab for lab, evs in written.values()}
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        for xi, yi in zip(x, y):
            assert every[tuple(xi.ravel().nonzero()[0])] == yi
    again = datasets.load_dataset("cifar10_dvs", str(tmp_path), 0.1, frames=3, size=64)
    np.testing.assert_array_equal(again[2], x_te)  # the same held-out recordings every time


@needs_tonic
def test_cifar10_dvs_aedat4_as_tonic_reads_it(tmp_path):
    pytest.importorskip("aedat")
    rng = np.random.default_rng(3)
    written = []
    for cls in ("bird", "ship"):
        for i in range(2):
            evs = _events(rng, 14, 128)
            write_aedat4(tmp_path / "CIFAR10DVS" / cls / f"cifar10_{cls}_{i}.aedat4", evs)
            written.append((events.CIFAR10_DVS_CLASSES.index(cls), evs))
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("cifar10_dvs", str(tmp_path), 0.5, frames=2)
    assert sorted(y_te.tolist()) == [2, 8] and sorted(y_tr.tolist()) == [2, 8]
    every = {tuple(reference_frames(evs, 128, 128, 2).ravel().nonzero()[0]): lab for lab, evs in written}
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        for xi, yi in zip(x, y):
            assert every[tuple(xi.ravel().nonzero()[0])] == yi
    bad = tmp_path / "CIFAR10DVS" / "ship" / "cifar10_ship_0.aedat4"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "aedat", None)  # without the decoder: how to install it
        assert "pip install aedat" in _error("E872", "cifar10_dvs", str(tmp_path), 0.5, frames=2).hint
    assert "cannot be read" in _error("E812", "cifar10_dvs", str(tmp_path), 0.5, frames=2).message


@needs_tonic
def test_frames_are_cached_by_settings(tmp_path):
    _nmnist(tmp_path)
    first = datasets.load_dataset("nmnist", str(tmp_path), frames=2)
    cache = tmp_path / "NMNIST" / "snndsl_frames"
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 2 and all(n.startswith("nmnist-") and "-T2-34x34-" in n for n in names)
    datasets.load_dataset("nmnist", str(tmp_path), frames=3)  # other settings: other files
    assert len(list(cache.iterdir())) == 4
    # the cache is what is read: a marked cache file comes back as written
    path = cache / next(n for n in names if "-train-" in n)
    with np.load(path) as z:
        marked = z["x"].copy()
    marked[0, 0, 0] = 99
    np.savez(path, x=marked)
    assert datasets.load_dataset("nmnist", str(tmp_path), frames=2)[0][0, 0, 0] == 99
    path.write_bytes(b"damaged")  # a damaged cache is binned again
    np.testing.assert_array_equal(datasets.load_dataset("nmnist", str(tmp_path), frames=2)[0], first[0])


# ---- damaged input: RunErrors with their codes


def _error(code, *args, **kw):
    with pytest.raises(RunError) as info:
        datasets.load_dataset(*args, **kw)
    assert info.value.code == code and info.value.hint, str(info.value)
    return info.value


@needs_tonic
def test_event_errors(tmp_path):
    assert "Train is missing" in _error("E811", "nmnist", str(tmp_path), frames=2).message
    _nmnist(tmp_path)
    bad = tmp_path / "NMNIST" / "Train" / "3" / "00001.bin"
    bad.write_bytes(bad.read_bytes()[:-2])
    assert "truncated" in _error("E813", "nmnist", str(tmp_path), frames=2).message
    write_nmnist_bin(bad, [(40, 1, 0, 5)])  # x outside the 34x34 sensor
    assert "outside the 34x34 sensor" in _error("E812", "nmnist", str(tmp_path), frames=2).message
    bad.unlink()
    write_nmnist_bin(tmp_path / "NMNIST" / "Train" / "digits" / "x.bin", [(1, 1, 0, 5)])
    assert "`digits` is not a label" in _error("E814", "nmnist", str(tmp_path), frames=2).message

    g = tmp_path / "g" / "ibmGestureTrain" / "user01_led"
    write_gesture_npy(tmp_path / "g" / "ibmGestureTest" / "user02_led" / "1.npy", [(1, 1, 0, 1)])
    write_gesture_npy(g / "11.npy", [(1, 1, 0, 1)])
    assert "`11` is not a label" in _error("E814", "dvs_gesture", str(tmp_path / "g"), frames=1).message
    (g / "11.npy").unlink()
    np.save(g / "3.npy", np.zeros((5, 3)))
    assert "(5, 3)" in _error("E812", "dvs_gesture", str(tmp_path / "g"), frames=1).message
    (g / "3.npy").write_bytes((g.parent.parent / "ibmGestureTest" / "user02_led" / "1.npy").read_bytes()[:-8])
    _error("E813", "dvs_gesture", str(tmp_path / "g"), frames=1)
    np.save(g / "3.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert "never unpickled" in _error("E812", "dvs_gesture", str(tmp_path / "g"), frames=1).message

    c = tmp_path / "c"
    write_aedat2(c / "dog" / "a.aedat", [(1, 2, 1, 5)] * 10)
    write_aedat2(c / "cat" / "b.aedat", [(1, 2, 1, 5)] * 10)
    (tmp_path / "empty").mkdir()
    assert "no .aedat4 or .aedat" in _error("E811", "cifar10_dvs", str(tmp_path / "empty"), 0.5, frames=1).message
    (c / "cat" / "b.aedat").write_bytes((c / "cat" / "b.aedat").read_bytes()[:-3])
    assert "truncated" in _error("E813", "cifar10_dvs", str(c), 0.5, frames=1).message
    (c / "cat" / "b.aedat").write_bytes(b"no header, no events")
    assert "cannot be read" in _error("E812", "cifar10_dvs", str(c), 0.5, frames=1).message
    (c / "cat" / "b.aedat").unlink()
    write_aedat2(c / "plane" / "b.aedat", [(1, 2, 1, 5)])
    assert "`plane` is not a label" in _error("E814", "cifar10_dvs", str(c), 0.5, frames=1).message


def test_without_tonic_the_error_says_how_to_install(tmp_path, monkeypatch):
    _nmnist(tmp_path)
    monkeypatch.setitem(sys.modules, "tonic", None)  # `import tonic` raises ImportError
    err = _error("E872", "nmnist", str(tmp_path), frames=2)
    assert "pip install -e .[events]" in err.hint


# ---- through the CLI: exit status 2, located at the task, never a traceback

SPEC = """from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time {{ dt = 1 ms; steps = 2 }}
task nmnist {{ path = "{path}"; size = 17 }}
input pixels = current
population h = LIF(8)
output logits = instant(h)
project pixels -> h.v {{ weights = dense(init = kaiming); learn w }}
project h -> logits {{ weights = dense(init = lecun); learn w }}
train surrogate {{ epochs = 1; batch_size = 2 }}
"""


def _run(spec, out):
    """`snndsl run` in this process (the readers are the point; test_cli_run starts real processes)."""
    r = cli_in_process("run", spec, "--out", out, cwd=spec.parent)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return r


@needs_tonic
@pytest.mark.slow
def test_cli_runs_nmnist_and_reports_bad_folders(tmp_path):
    _nmnist(tmp_path / "data")
    r = _run(write_spec(tmp_path, SPEC.format(path="data")), tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "metrics.jsonl").exists()
    # the frames were cached beside the data, for T = 2 at 17x17
    assert any("-T2-17x17-" in p.name for p in (tmp_path / "data" / "NMNIST" / "snndsl_frames").iterdir())
    bad = tmp_path / "bad" / "Train" / "4"
    write_nmnist_bin(bad / "a.bin", [(1, 1, 0, 5)])
    (bad / "a.bin").write_bytes(b"\x01\x02\x03")
    write_nmnist_bin(tmp_path / "bad" / "Test" / "4" / "b.bin", [(1, 1, 0, 5)])
    r = _run(write_spec(tmp_path, SPEC.format(path="bad"), "bad.snn"), tmp_path / "run2")
    assert r.returncode == 2 and "bad.snn:5:1: error[E813]" in r.stderr and "truncated" in r.stderr
    r = _run(write_spec(tmp_path, SPEC.format(path="nowhere"), "none.snn"), tmp_path / "run3")
    assert r.returncode == 2 and "error[E811]" in r.stderr


@needs_tonic
@pytest.mark.slow
def test_cli_reports_bad_cifar100_and_gesture_files(tmp_path):
    """A CIFAR-100 file with fine labels read as coarse, and a DVS Gesture recording named for no class:
    each a located diagnostic with exit status 2."""
    import pickle

    folder = tmp_path / "c100"
    folder.mkdir()
    for name in ("train", "test"):
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [55, 1], b"coarse_labels": [55, 1]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    spec = SPEC.replace('task nmnist {{ path = "{path}"; size = 17 }}', 'task cifar100 {{ path = "c100"; labels = coarse }}')
    r = _run(write_spec(tmp_path, spec.format(), "c100.snn"), tmp_path / "r1")
    assert r.returncode == 2 and "c100.snn:5:1: error[E814]" in r.stderr and "outside 0..19" in r.stderr
    write_gesture_npy(tmp_path / "g" / "ibmGestureTrain" / "user01_led" / "12.npy", [(1, 1, 0, 1)])
    write_gesture_npy(tmp_path / "g" / "ibmGestureTest" / "user02_led" / "1.npy", [(1, 1, 0, 1)])
    spec = SPEC.replace('task nmnist {{ path = "{path}"; size = 17 }}', 'task dvs_gesture {{ path = "g"; size = 16 }}')
    r = _run(write_spec(tmp_path, spec.format(), "g.snn"), tmp_path / "r2")
    assert r.returncode == 2 and "g.snn:5:1: error[E814]" in r.stderr and "`12` is not a label" in r.stderr
