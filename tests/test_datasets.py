"""Dataset readers: digits split, IDX (plain and gzipped) and CIFAR batches, and every error code."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from snndsl.runtime import datasets
from snndsl.runtime.errors import RunError


def test_digits_fixed_stratified_split():
    a = datasets.load_dataset("digits")
    b = datasets.load_dataset("digits")
    x_tr, y_tr, x_te, y_te = a
    assert len(x_tr) + len(x_te) == 1797 and abs(len(x_te) - 0.25 * 1797) <= 10
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int32 and x_tr.shape[1] == 64
    assert 0 <= x_tr.min() and x_tr.max() <= 1
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert set(y_te) == set(range(10)) and set(y_tr) == set(range(10))
    assert len(datasets.load_dataset("digits", test_fraction=0.5)[2]) == pytest.approx(898, abs=10)


def _idx(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes()


def _labels(y: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(y)) + y.astype(np.uint8).tobytes()


def _mnist(folder, n_train=20, n_test=10, gz=(), seed=0):
    rng = np.random.default_rng(seed)
    data = {
        "train-images-idx3-ubyte": _idx(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte": _labels(rng.integers(0, 10, n_train)),
        "t10k-images-idx3-ubyte": _idx(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte": _labels(rng.integers(0, 10, n_test)),
    }
    for name, raw in data.items():
        if name in gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [(), ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), datasets.IDX_FILES])
def test_mnist_plain_gzipped_and_mixed(tmp_path, gz):
    raw = _mnist(tmp_path, gz=gz)
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("mnist", str(tmp_path))
    assert x_tr.shape == (20, 784) and x_te.shape == (10, 784)
    expect = np.frombuffer(raw["train-images-idx3-ubyte"][16:], np.uint8).reshape(20, 784) / 255.0
    np.testing.assert_allclose(x_tr, expect, rtol=1e-6)
    np.testing.assert_array_equal(y_te, np.frombuffer(raw["t10k-labels-idx1-ubyte"][8:], np.uint8))


def _code(fn):
    with pytest.raises(RunError) as e:
        fn()
    assert e.value.hint and e.value.node == "task"
    return e.value


def test_mnist_errors(tmp_path):
    assert _code(lambda: datasets.load_dataset("mnist", str(tmp_path / "nowhere"))).code == "E811"
    assert _code(lambda: datasets.load_dataset("fashion_mnist", None)).code == "E811"
    _mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    err = _code(lambda: datasets.load_dataset("mnist", str(tmp_path)))
    assert err.code == "E811" and "t10k-labels-idx1-ubyte" in err.message


@pytest.mark.parametrize("case,code", [
    ("magic", "E812"), ("truncated", "E813"), ("header", "E813"), ("count", "E814"), ("label", "E814"),
    ("gzip", "E812"), ("shape", "E812")])
def test_mnist_corrupt_files(tmp_path, case, code):
    raw = _mnist(tmp_path)
    images, labels = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    if case == "magic":
        images.write_bytes(struct.pack(">I", 0x801) + raw[images.name][4:])
    elif case == "truncated":
        images.write_bytes(raw[images.name][:-100])
    elif case == "header":
        labels.write_bytes(b"\x00\x00")
    elif case == "count":
        labels.write_bytes(_labels(np.zeros(19)))
    elif case == "label":
        labels.write_bytes(_labels(np.full(20, 11)))
    elif case == "gzip":
        images.unlink()
        (tmp_path / (images.name + ".gz")).write_bytes(b"not gzip at all")
    elif case == "shape":
        images.write_bytes(_idx(np.zeros((20, 14, 56))))
    assert _code(lambda: datasets.load_dataset("mnist", str(tmp_path))).code == code


def _cifar(folder, n=6, data=None):
    rng = np.random.default_rng(1)
    for name in datasets.CIFAR_FILES:
        batch = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8) if data is None else data,
                 b"labels": list(rng.integers(0, 10, n))}
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar10_and_subfolder(tmp_path):
    _cifar(tmp_path)
    x_tr, y_tr, x_te, y_te = datasets.load_dataset("cifar10", str(tmp_path))
    assert x_tr.shape == (30, 3072) and x_te.shape == (6, 3072) and 0 <= x_tr.min() and x_tr.max() <= 1
    sub = tmp_path / "other" / "cifar-10-batches-py"
    sub.mkdir(parents=True)
    _cifar(sub)
    assert datasets.load_dataset("cifar10", str(tmp_path / "other"))[0].shape == (30, 3072)


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_cifar10_refuses_foreign_pickles_without_running_them(tmp_path, monkeypatch):
    _cifar(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": Boom(), b"labels": [1]}))
    calls = []
    import os

    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    assert _code(lambda: datasets.load_dataset("cifar10", str(tmp_path))).code == "E812"
    assert calls == []
    (tmp_path / "data_batch_2").write_bytes(b"garbage")
    assert _code(lambda: datasets.load_dataset("cifar10", str(tmp_path))).code == "E812"
    _cifar(tmp_path, data=np.zeros((6, 100), np.uint8))
    assert _code(lambda: datasets.load_dataset("cifar10", str(tmp_path))).code == "E812"
    (tmp_path / "test_batch").unlink()
    assert _code(lambda: datasets.load_dataset("cifar10", str(tmp_path))).code == "E811"


def test_batches():
    x, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10)
    a = [yb.tolist() for _, yb in datasets.iterate_batches(x, y, 3, np.random.default_rng(4))]
    b = [yb.tolist() for _, yb in datasets.iterate_batches(x, y, 3, np.random.default_rng(4))]
    c = [yb.tolist() for _, yb in datasets.iterate_batches(x, y, 3, np.random.default_rng(5))]
    assert a == b and a != c and len(a) == 3 and len(set(sum(a, []))) == 9
    assert len(list(datasets.iterate_batches(x, y, 3, drop_last=False))) == 4
    seen = []
    for xb, yb, mask in datasets.test_batches(x, y, 4):
        assert xb.shape == (4, 1)
        seen += yb[mask].tolist()
    assert seen == list(range(10))
