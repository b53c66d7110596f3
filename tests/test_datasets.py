"""Dataset readers: the fixed digits split, IDX files (plain and gzipped), CIFAR batches, batching, every error."""

import gzip
import pickle
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from snndsl_runtime.errors import RunError
from snndsl_runtime.tasks import datasets

IMAGES, LABELS, TEST_IMAGES, TEST_LABELS = datasets.IDX_FILES


def _error(code: str, *args, **kwargs) -> RunError:
    """The RunError that load_dataset raises, checked for its code, hint and node."""
    with pytest.raises(RunError) as info:
        datasets.load_dataset(*args, **kwargs)
    err = info.value
    assert (err.code, err.node) == (code, "task"), str(err)
    assert err.hint and str(err).startswith(f"error[{code}]: ")
    return err


# ---- digits


def test_digits_shapes_types_and_range():
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("digits")
    assert x_tr.shape == (1348, 64) and x_te.shape == (449, 64) and y_tr.shape == (1348,) and y_te.shape == (449,)
    assert x_tr.dtype == x_te.dtype == np.float32 and y_tr.dtype == y_te.dtype == np.int32
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0 and x_te.min() >= 0.0 and x_te.max() <= 1.0
    assert np.allclose(x_tr * 16, np.round(x_tr * 16))  # 0..16 scaled, not normalised otherwise


def test_digits_split_is_fixed_and_stratified():
    from sklearn.datasets import load_digits

    first, second = datasets.load_dataset("digits"), datasets.load_dataset("digits")
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    _, y_tr, _, y_te = first
    all_counts = np.bincount(load_digits().target)
    np.testing.assert_array_equal(np.bincount(y_tr) + np.bincount(y_te), all_counts)
    assert np.all(np.bincount(y_tr) > 0) and np.all(np.bincount(y_te) > 0)
    assert np.all(np.abs(np.bincount(y_te) - 0.25 * all_counts) < 1)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_digits_test_fraction(fraction):
    _, y_tr, _, y_te = datasets.load_dataset("digits", test_fraction=fraction)
    assert len(y_te) == round(fraction * 1797) and len(y_tr) == 1797 - len(y_te)
    assert set(y_te.tolist()) == set(range(10))


# ---- MNIST-format IDX files


def _idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def _write_mnist(folder: Path, gzipped=(), n_train=20, n_test=10) -> dict:
    """Four small IDX files in folder (those named in `gzipped` as .gz); returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
              TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8)}
    for stem, a in arrays.items():
        raw = _idx_images(a) if a.ndim == 3 else _idx_labels(a)
        if stem in gzipped:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gzipped", [(), datasets.IDX_FILES, (IMAGES, TEST_LABELS)], ids=["plain", "gzip", "mixed"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_reads_what_was_written(tmp_path, gzipped, name):
    written = _write_mnist(tmp_path, gzipped)
    x_tr, y_tr, x_te, y_te = datasets.load_dataset(name, str(tmp_path))
    assert x_tr.shape == (20, 784) and x_te.shape == (10, 784)
    assert x_tr.dtype == x_te.dtype == np.float32 and y_tr.dtype == y_te.dtype == np.int32
    np.testing.assert_allclose(x_tr, written[IMAGES].reshape(20, 784) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_te, written[TEST_IMAGES].reshape(10, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_tr, written[LABELS])
    np.testing.assert_array_equal(y_te, written[TEST_LABELS])


def test_mnist_missing_folder_path_or_file(tmp_path):
    _error("E811", "mnist", str(tmp_path / "nowhere"))
    assert "--set task.path=DIR" in _error("E811", "mnist", None).hint
    _error("E811", "fashion_mnist", None)
    (tmp_path / "a_file").write_bytes(b"")
    assert "not a folder" in _error("E811", "mnist", str(tmp_path / "a_file")).message
    _write_mnist(tmp_path)
    (tmp_path / TEST_LABELS).unlink()
    err = _error("E811", "mnist", str(tmp_path))
    assert TEST_LABELS in err.message and all(stem in err.hint for stem in datasets.IDX_FILES)


def _damage(folder: Path, case: str) -> None:
    """Spoil one file of a folder written by _write_mnist."""
    images, labels = folder / IMAGES, folder / LABELS
    if case == "magic":
        images.write_bytes(struct.pack(">I", 0x801) + images.read_bytes()[4:])
    elif case == "labels_as_images":
        images.write_bytes(labels.read_bytes())
    elif case == "truncated_data":
        images.write_bytes(images.read_bytes()[:-100])
    elif case == "truncated_header":
        labels.write_bytes(labels.read_bytes()[:6])
    elif case == "empty":
        labels.write_bytes(b"")
    elif case == "count":
        labels.write_bytes(_idx_labels(np.zeros(19)))
    elif case == "label_range":
        labels.write_bytes(_idx_labels(np.full(20, 10)))
    elif case == "not_gzip":
        images.unlink()
        (folder / f"{IMAGES}.gz").write_bytes(b"this is not gzip data")
    elif case == "truncated_gzip":
        (folder / f"{IMAGES}.gz").write_bytes(gzip.compress(images.read_bytes())[:-50])
        images.unlink()
    elif case == "shape":
        images.write_bytes(_idx_images(np.zeros((20, 14, 56))))
    elif case == "zero_images":
        images.write_bytes(_idx_images(np.zeros((0, 28, 28))))
        labels.write_bytes(_idx_labels(np.zeros(0)))
    elif case == "trailing":
        images.write_bytes(images.read_bytes() + b"\x00")
    elif case == "gzip_bad_header_first":  # a bad magic number before 64 MB of zeros: refused at the header
        images.unlink()
        (folder / f"{IMAGES}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(64 << 20)))


@pytest.mark.parametrize("case,code", [
    ("magic", "E812"), ("labels_as_images", "E812"), ("truncated_data", "E813"), ("truncated_header", "E813"),
    ("empty", "E813"), ("count", "E814"), ("label_range", "E814"), ("not_gzip", "E812"),
    ("truncated_gzip", "E813"), ("shape", "E812"), ("zero_images", "E814"), ("trailing", "E812"),
    ("gzip_bad_header_first", "E812")])
def test_mnist_damaged_files(tmp_path, case, code):
    _write_mnist(tmp_path)
    _damage(tmp_path, case)
    err = _error(code, "mnist", str(tmp_path))
    assert "Traceback" not in str(err)
    if case in ("magic", "truncated_data", "not_gzip", "truncated_gzip"):
        assert IMAGES in err.message
    if case == "count":
        assert "20 images but 19 labels" in err.message


# ---- CIFAR-10 python batches


def _batch_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, n)]


def _hwc(rows: np.ndarray) -> np.ndarray:
    """CIFAR's (C, H, W) rows in (H, W, C) order, element by element: flat index (h * 32 + w) * 3 + c
    takes stored index c * 1024 + h * 32 + w."""
    out = np.empty_like(rows)
    for h in range(32):
        for w in range(32):
            for c in range(3):
                out[:, (h * 32 + w) * 3 + c] = rows[:, c * 1024 + h * 32 + w]
    return out


def test_cifar_rows_are_channels_last(tmp_path):
    """One test image with known pixels: red plane 1, green 2, blue 3, and pixel (h=1, w=2) red 200."""
    _write_cifar(tmp_path)
    img = np.zeros((1, 3, 32, 32), np.uint8)
    img[0, 0], img[0, 1], img[0, 2] = 1, 2, 3
    img[0, 0, 1, 2] = 200
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": img.reshape(1, 3072), b"labels": [7]}))
    x = datasets.load_dataset("cifar10", str(tmp_path))[2][0] * 255.0
    assert np.allclose(x[:6], [1, 2, 3, 1, 2, 3]) and np.isclose(x[(1 * 32 + 2) * 3 + 0], 200)
    assert np.isclose(x[(1 * 32 + 2) * 3 + 1], 2) and np.isclose(x[-1], 3)


def _write_cifar(folder: Path, n=4, protocol=2) -> list:
    """Six small batch files in folder; returns their (data, labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for seed, name in enumerate(datasets.CIFAR_FILES):
        data, labels = _batch_data(n, seed)
        stored = np.asfortranarray(data) if name == "data_batch_2" else data  # pickled in column order
        batch = {b"batch_label": name.encode(), b"data": stored, b"labels": labels}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written.append((data, labels))
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_reads_what_was_written(tmp_path, protocol):
    written = _write_cifar(tmp_path, protocol=protocol)
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("cifar10", str(tmp_path))
    assert x_tr.shape == (20, 3072) and x_te.shape == (4, 3072)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int32
    np.testing.assert_allclose(x_tr, _hwc(np.concatenate([d for d, _ in written[:5]])) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_te, _hwc(written[5][0]) / 255.0, rtol=1e-6)
    assert y_tr.tolist() == sum((lab for _, lab in written[:5]), []) and y_te.tolist() == written[5][1]


def test_cifar10_in_subfolder(tmp_path):
    written = _write_cifar(tmp_path / "cifar-10-batches-py")
    _, _, x_te, y_te = datasets.load_dataset("cifar10", str(tmp_path))
    np.testing.assert_allclose(x_te, _hwc(written[5][0]) / 255.0, rtol=1e-6)
    assert y_te.tolist() == written[5][1]


def _python2_batch(data: np.ndarray, labels: list) -> bytes:
    """A batch as Python 2 with numpy 1.x pickled it (the format of the real CIFAR-10 download)."""
    ints = b"".join(b"K" + bytes([v]) for v in labels)
    array = (b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87R"
             b"(K\x01" + b"K" + bytes([len(data)]) + b"M\x00\x0c\x86"
             b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             b"\x89T" + struct.pack("<I", data.size) + data.tobytes() + b"tb")
    return b"\x80\x02}q\x00(U\x04data" + array + b"U\x06labels](" + ints + b"eu."


def test_cifar10_reads_python2_pickles_as_numpy_does(tmp_path):
    _write_cifar(tmp_path)
    data, labels = _batch_data(3, 7)
    raw = _python2_batch(data, labels)
    trusted = pickle.loads(raw, encoding="bytes")  # numpy's own reading of this hand-made, trusted file
    np.testing.assert_array_equal(trusted[b"data"], data)
    (tmp_path / "test_batch").write_bytes(raw)
    _, _, x_te, y_te = datasets.load_dataset("cifar10", str(tmp_path))
    np.testing.assert_allclose(x_te * 255, _hwc(trusted[b"data"]), atol=1e-4)
    assert y_te.tolist() == trusted[b"labels"] == labels


def _write_cifar100(folder: Path, n_train=6, n_test=3) -> dict:
    """CIFAR-100's `train` and `test` files (fine labels 0..99, coarse 0..19), as its python version stores them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, (name, n) in enumerate((("train", n_train), ("test", n_test))):
        rng = np.random.default_rng(seed + 10)
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine, coarse = [int(v) for v in rng.integers(0, 100, n)], [int(v) for v in rng.integers(0, 20, n)]
        batch = {b"filenames": [b"x.png"] * n, b"batch_label": name.encode(), b"fine_labels": fine,
                 b"coarse_labels": coarse, b"data": data}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (data, fine, coarse)
    return written


@pytest.mark.parametrize("labels", ["fine", "coarse"])
def test_cifar100_reads_what_was_written(tmp_path, labels):
    written = _write_cifar100(tmp_path / "cifar-100-python")
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("cifar100", str(tmp_path), labels=labels)
    assert x_tr.shape == (6, 3072) and x_te.shape == (3, 3072) and y_tr.dtype == np.int32
    np.testing.assert_allclose(x_tr, _hwc(written["train"][0]) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_te, _hwc(written["test"][0]) / 255.0, rtol=1e-6)
    which = 1 if labels == "fine" else 2
    assert y_tr.tolist() == written["train"][which] and y_te.tolist() == written["test"][which]


def test_cifar100_errors(tmp_path):
    _write_cifar100(tmp_path)
    (tmp_path / "test").unlink()
    assert "test is missing" in _error("E811", "cifar100", str(tmp_path)).message
    _write_cifar100(tmp_path)
    raw = (tmp_path / "train").read_bytes()
    (tmp_path / "train").write_bytes(raw[: len(raw) // 2])
    assert "CIFAR-100 python file" in _error("E812", "cifar100", str(tmp_path)).message
    # a coarse label file read as fine is fine (0..19 < 100); fine labels read as coarse are refused
    _write_cifar100(tmp_path)
    batch = pickle.loads((tmp_path / "test").read_bytes(), encoding="bytes")
    batch[b"coarse_labels"] = [25, 3, 4]
    (tmp_path / "test").write_bytes(pickle.dumps(batch, protocol=2))
    assert "outside 0..19" in _error("E814", "cifar100", str(tmp_path), labels="coarse").message
    del batch[b"fine_labels"]
    (tmp_path / "test").write_bytes(pickle.dumps(batch, protocol=2))
    assert "fine_labels" in _error("E812", "cifar100", str(tmp_path)).message


def _recorder(*args):  # a global that a hostile pickle might name
    _recorder.calls.append(args)


_recorder.calls = []


def test_cifar10_refuses_foreign_globals_without_running_them(tmp_path):
    _write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    system = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # protocol 0, written by hand
    (tmp_path / "data_batch_2").write_bytes(system)
    err = _error("E812", "cifar10", str(tmp_path))
    assert "os.system" in err.message and "data_batch_2" in err.message and not marker.exists()

    class Hostile:
        def __reduce__(self):
            return _recorder, ("ran",)

    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": Hostile(), b"labels": [1]}))
    assert "_recorder" in _error("E812", "cifar10", str(tmp_path)).message and _recorder.calls == []


@pytest.mark.parametrize("content,code", [
    (b"garbage, not a pickle", "E812"),
    (pickle.dumps([1, 2, 3]), "E812"),
    (pickle.dumps({b"images": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4}), "E812"),
    (pickle.dumps({b"data": np.zeros((4, 3072), np.int64), b"labels": [0] * 4}), "E812"),
    (pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}), "E812"),
    (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": ["a"] * 4}), "E812"),
    (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}), "E814"),
    (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]}), "E814"),
    (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, -1]}), "E814"),
], ids=["garbage", "list", "keys", "dtype", "width", "label_type", "count", "label_high", "label_negative"])
def test_cifar10_bad_batches(tmp_path, content, code):
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(content)
    assert "data_batch_3" in _error(code, "cifar10", str(tmp_path)).message


def test_cifar10_numpy_labels_and_missing_files(tmp_path):
    _write_cifar(tmp_path)
    labels = np.array([9, 0, 3, 3], np.int64)
    batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": labels}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch))
    assert datasets.load_dataset("cifar10", str(tmp_path))[3].tolist() == [9, 0, 3, 3]
    _error("E811", "cifar10", None)
    (tmp_path / "data_batch_4").unlink()
    err = _error("E811", "cifar10", str(tmp_path))
    assert "data_batch_4" in err.message and "test_batch" in err.hint


def test_cifar10_damaged_pickles_give_clean_errors(tmp_path):
    """Random byte changes and truncations: each file loads or raises E812/E814, never anything else."""
    _write_cifar(tmp_path, n=2)
    good = (tmp_path / "test_batch").read_bytes()
    rng, codes = random.Random(0), set()
    for _ in range(300):
        bad = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(300)] = rng.randrange(256)
        (tmp_path / "test_batch").write_bytes(bytes(bad[:rng.randrange(len(bad))] if rng.random() < 0.3 else bad))
        try:
            datasets.load_dataset("cifar10", str(tmp_path))
        except RunError as e:
            codes.add(e.code)
    assert codes <= {"E812", "E814"} and "E812" in codes


# ---- batches


def test_iterate_batches_shuffles_reproducibly():
    x, y = np.arange(10, dtype=np.float32)[:, None] * 2, np.arange(10)

    def epoch(seed):
        return [yb.tolist() for _, yb in datasets.iterate_batches(x, y, 3, np.random.default_rng(seed))]

    assert epoch(4) == epoch(4) and epoch(4) != epoch(5)
    order = sum(epoch(4), [])
    assert len(order) == 9 and len(set(order)) == 9 and order != sorted(order)
    for xb, yb in datasets.iterate_batches(x, y, 3, np.random.default_rng(4)):
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # features stay with their labels


def test_iterate_batches_drop_last_and_order():
    x, y = np.zeros((10, 2)), np.arange(10)
    assert [yb.tolist() for _, yb in datasets.iterate_batches(x, y, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    kept = [yb.tolist() for _, yb in datasets.iterate_batches(x, y, 4, drop_last=False)]
    assert kept == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(datasets.iterate_batches(x, y, 16)) == []


@pytest.mark.parametrize("n,batch", [(10, 4), (8, 4), (3, 5)])
def test_test_batches_cover_every_sample_once(n, batch):
    x, y = np.arange(n, dtype=np.float32)[:, None] + 1, np.arange(n, dtype=np.int32)
    seen, shapes, padding = [], set(), 0
    for xb, yb, mask in datasets.test_batches(x, y, batch):
        shapes.add((xb.shape, yb.shape, mask.shape, mask.dtype))
        seen += yb[mask].tolist()
        np.testing.assert_array_equal(xb[mask, 0], yb[mask] + 1)
        padding += int(np.sum(~mask))
        assert np.all(xb[~mask] == 0) and mask.tolist() == sorted(mask.tolist(), reverse=True)
    assert seen == list(range(n)) and padding == -n % batch
    assert shapes == {((batch, 1), (batch,), (batch,), np.dtype(bool))}


# ---- the reader is part of the runtime that goes beside an emitted model: no compiler import


def test_module_stands_alone():
    import ast

    tree = ast.parse(Path(datasets.__file__).read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    local = [(n.level, n.module, [a.name for a in n.names]) for n in imports
             if isinstance(n, ast.ImportFrom) and n.level]
    # snndsl_runtime.errors, and the sibling readers of event files and a user's arrays, nothing else
    assert local == [(2, "errors", ["RunError"]), (1, "events", ["load_events"]), (1, "arrays", ["load_arrays"])]
    from snndsl_runtime.tasks import arrays

    arrays_tree = ast.parse(Path(arrays.__file__).read_text())
    # and layers (the one image conversion), imported only where a run reads images: `snndsl check`
    # reads a file's headers without jax (test_arrays_images.py)
    assert [(n.level, n.module) for n in ast.walk(arrays_tree) if isinstance(n, ast.ImportFrom) and n.level] == \
        [(2, "errors"), (2, "layers")]
    absolute = [a.name for n in imports if isinstance(n, ast.Import) for a in n.names]
    absolute += [n.module for n in imports if isinstance(n, ast.ImportFrom) and not n.level]
    assert absolute and not [m for m in absolute if m.split(".")[0] in ("snndsl", "snndsl_runtime")], absolute
    assert RunError.__module__ == "snndsl_runtime.errors"
    with pytest.raises(RunError) as info:
        datasets.load_dataset("mnist", None)
    assert info.value.code == "E811"


def test_an_unreadable_folder_is_not_called_missing(tmp_path, monkeypatch):
    _write_mnist(tmp_path)
    monkeypatch.setattr(datasets.os, "access", lambda path, mode: False)  # as a non-root user without rights sees it
    err = _error("E811", "mnist", str(tmp_path))
    assert "permission denied" in err.message and "missing" not in err.message
