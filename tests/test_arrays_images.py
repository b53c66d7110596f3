"""`task arrays { shape = [C, H, W] }`: a user's images, channels first (N, C, H, W) or with
`layout = channels_last` (N, H, W, C), static or temporal; the checks at compile time (located at
`shape`) and at run time (E819 for a file of another shape), the conversion to flat
channels-last rows against hand-written indices, and a conv spec on digits saved as (N, 1, 8, 8)
giving exactly the numbers of `task digits`."""

import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl import compile_spec
from snndsl_runtime.errors import RunError
from snndsl_runtime.network import init_parameters
from snndsl_runtime.tasks.arrays import describe, load_arrays
from snndsl_runtime.tasks.datasets import load_dataset, load_task
from snndsl_runtime.trainers.gradient import loss_weights, run_batch, sample_losses

from .conftest import PYTHON, ROOT, cli_in_process, generated, trainer_of, write_spec

CONV = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant

time { steps = 3 }
task TASK

input pixels = current
population c1 = LIF([4, 8, 8]) { tau_m = 2 ms }
output logits = instant(c1)

project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); init = kaiming; learn w }
project c1 -> logits   { weights = dense(init = lecun); learn w }

train surrogate { epochs = 1; batch_size = 64 }
"""


def _conv(tmp_path, task, name="spec.snn"):
    return write_spec(tmp_path, CONV.replace("TASK", task), name)


def _images(n=12, chw=(3, 4, 5), frames=None, seed=0):
    """Random images (N, [T,] C, H, W), labels of 3 classes, split 8 / 4."""
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + ((frames,) if frames else ()) + chw).astype(np.float32)
    y = np.arange(n) % 3
    return {"x_train": x[:8], "y_train": y[:8], "x_test": x[8:], "y_test": y[8:]}


def _last(a):
    """The same arrays with x channels last: (N, [T,] H, W, C)."""
    return {k: np.moveaxis(v, -3, -1) if k.startswith("x") else v for k, v in a.items()}


def _save(path, a):
    np.savez(path, **a)
    return str(path)


def _by_hand(x):
    """(N, [T,] C, H, W) -> flat rows with value (c, h, w) at (h * W + w) * C + c, written as loops."""
    *lead, c, h, w = x.shape
    out = np.zeros((*lead, c * h * w), np.float32)
    for ci in range(c):
        for hi in range(h):
            for wi in range(w):
                out[..., (hi * w + wi) * c + ci] = x[..., ci, hi, wi]
    return out


# ---- reading: both layouts, static and temporal, against hand-written indices


@pytest.mark.parametrize("frames", [None, 2])
def test_both_layouts_give_the_hand_computed_flat_rows(tmp_path, frames):
    a = _images(frames=frames)
    first = load_arrays(_save(tmp_path / "cf.npz", a), 3, frames, (3, 4, 5))
    last = load_arrays(_save(tmp_path / "cl.npz", _last(a)), 3, frames, (3, 4, 5), "channels_last")
    for got, want in ((first[0], a["x_train"]), (first[2], a["x_test"])):
        np.testing.assert_array_equal(got, _by_hand(want))
        assert got.dtype == np.float32 and got.flags.c_contiguous
    for f, g in zip(first, last):
        np.testing.assert_array_equal(f, g)
    np.testing.assert_array_equal(first[1], a["y_train"])
    info = describe(str(tmp_path / "cf.npz"), shape=(3, 4, 5))
    assert (info.features, info.frames, info.classes) == (60, frames, 3)


def test_check_reads_the_images_headers_only(tmp_path, monkeypatch):
    from snndsl_runtime.tasks import arrays

    p = _save(tmp_path / "cf.npz", _images())
    read, inner = [], arrays._read
    monkeypatch.setattr(arrays, "_read", lambda path, keys: read.extend(keys) or inner(path, keys))
    assert describe(p, classes=3, shape=(3, 4, 5)).features == 60
    assert read == ["y_train", "y_test"]  # the labels, for their range; never x


def test_check_imports_no_jax(tmp_path):
    """The compiler reads an images file's headers without the runtime's jax-based layers."""
    p = _save(tmp_path / "cf.npz", _images())
    code = ("import sys; from snndsl_runtime.tasks.arrays import describe; "
            f"assert describe({p!r}, shape=(3, 4, 5)).features == 60; assert 'jax' not in sys.modules")
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr


def _raised(call) -> RunError:
    with pytest.raises(RunError) as e:
        call()
    return e.value


@pytest.mark.parametrize("case,hint", [
    ("other_shape", "the file's images are (3, 4, 5): write `shape = [3, 4, 5]`"),
    ("channels_last_file", "layout = channels_last"),
    ("channels_first_file", "layout = channels_first"),
    ("flat_x", "x.reshape(len(x), 3, 4, 5)"),
    ("images_without_shape", "shape = [3, 4, 5]"),
    ("temporal_images_without_shape", "shape = [3, 4, 5]"),
])
def test_a_file_of_another_shape_is_e816_at_check_and_e819_at_run_time(tmp_path, case, hint):
    a, shape, layout = _images(), (3, 4, 5), "channels_first"
    if case == "other_shape":
        shape = (3, 5, 4)
    elif case == "channels_last_file":
        a = _last(a)
    elif case == "channels_first_file":
        layout = "channels_last"
    elif case == "flat_x":
        a = {k: v.reshape(len(v), -1) if k.startswith("x") else v for k, v in a.items()}
    elif case == "images_without_shape":
        shape = None
    else:
        a, shape = _images(frames=2), None
    p = _save(tmp_path / "d.npz", a)
    check = _raised(lambda: describe(p, shape=shape, layout=layout))
    run = _raised(lambda: load_arrays(p, 3, 2 if case.startswith("temporal") else None, shape, layout))
    assert check.code == "E816" and hint in check.hint, (check.message, check.hint)
    assert check.node == "task:shape"  # the compiler places it at `shape` when the spec has one
    assert run.code == "E819" and "compiled for" in run.message, run.message
    if case == "channels_last_file":
        assert "--set task.layout=channels_last" in run.hint


def test_temporal_images_and_a_time_axis_mismatch(tmp_path):
    p = _save(tmp_path / "t.npz", _images(frames=2))
    assert describe(p, shape=(3, 4, 5)).frames == 2
    e = _raised(lambda: load_arrays(p, 3, None, (3, 4, 5)))
    assert e.code == "E819" and "2 time steps" in e.message


# ---- the spec: check locates the problems, the input gets the shape


def _cli(*args, cwd=ROOT):
    """The command in this process (test_cli_run and test_cli_check start real ones)."""
    return cli_in_process(*args, cwd=cwd)


def _codes(spec):
    _, diags, _ = compile_spec(str(spec))
    return [(d.code, d.span.line if d.span else None, d.span.col if d.span else None, d.hint)
            for d in diags if d.is_error]


def test_check_locates_each_problem(tmp_path):
    _save(tmp_path / "cf.npz", _images(chw=(1, 8, 8)))
    _save(tmp_path / "flat.npz", {k: v.reshape(len(v), -1) if k.startswith("x") else v
                                  for k, v in _images(chw=(1, 8, 8)).items()})
    line = 'task arrays { path = "cf.npz"; shape = [1, 8, 8] }'
    col = line.index("[1, 8, 8]") + 1
    assert _codes(_conv(tmp_path, line[len("task "):])) == []
    cases = {
        'arrays { path = "cf.npz"; shape = [1, 8, 4] }': ("E816", col, "write `shape = [1, 8, 8]`"),
        'arrays { path = "cf.npz"; shape = [8, 1, 8] }': ("E816", col, "`layout = channels_last`; else write `shape = [1, 8, 8]`"),
        'arrays { path = "cf.npz"; shape = [1, 8, 8]; layout = channels_last }': ("E816", col, "layout = channels_first"),
        'arrays { path = "cf.npz" }': ("E816", line.index('"cf.npz"') + 1, "shape = [1, 8, 8]"),
        'arrays { path = "cf.npz"; shape = [1, 8] }': ("E403", col, "[1, 28, 28]"),
        'arrays { path = "cf.npz"; shape = [1, 0, 8] }': ("E403", col, "[1, 28, 28]"),
        'arrays { path = "cf.npz"; shape = [1, 8, 8]; layout = nchw }': ("E404", None, None),
        'arrays { path = "flat.npz"; crop = 1 }': ("E206", None, "shape = [C, H, W]"),
        'arrays { path = "flat.npz"; layout = channels_last }': ("E206", None, "shape = [C, H, W]"),
        'arrays { path = "cf.npz"; shape = [1, 8, 8]; crop = 8 }': ("E401", None, None),
    }
    for i, (task, (code, at, hint)) in enumerate(cases.items()):
        got = _codes(_conv(tmp_path, task, f"s{i}.snn"))
        assert [g[0] for g in got][:1] == [code], (task, got)
        assert got[0][1] == 7, (task, got)  # the task line
        if at:
            assert got[0][2] == at, (task, got)
        if hint:
            assert hint in (got[0][3] or ""), (task, got)


def test_the_input_has_the_shape_and_a_conv_from_it_checks(tmp_path):
    _save(tmp_path / "cl.npz", _last(_images(chw=(2, 8, 8))))
    spec = _conv(tmp_path, 'arrays { path = "cl.npz"; shape = [2, 8, 8]; layout = channels_last; flip = true }')
    ir, diags, _ = compile_spec(str(spec))
    assert not [d for d in diags if d.is_error], diags
    assert ir.inputs[0].shape == (2, 8, 8) and ir.task.features == 128 and ir.task.flip
    mod = generated(spec)
    assert mod.CONFIG["task"]["shape"] == [2, 8, 8] and mod.CONFIG["task"]["layout"] == "channels_last"
    assert "task.shape" in mod.STRUCTURAL and "task.layout" not in mod.STRUCTURAL
    r = _cli("check", str(spec))
    assert r.returncode == 0 and "images [2, 8, 8] stored channels_last" in r.stdout, r.stdout + r.stderr
    # without `shape`, the same flat data has no shape: a conv from the input is E622
    flat = {k: v.reshape(len(v), -1) if k.startswith("x") else v for k, v in _images(chw=(2, 8, 8)).items()}
    _save(tmp_path / "flat.npz", flat)
    assert [c[0] for c in _codes(_conv(tmp_path, 'arrays { path = "flat.npz" }', "flat.snn"))] == ["E622"]


def test_a_file_given_at_run_time_is_checked_against_the_compiled_shape(tmp_path):
    _save(tmp_path / "cf.npz", _images(chw=(1, 8, 8)))
    _save(tmp_path / "other.npz", _images(chw=(1, 4, 16)))
    mod = generated(_conv(tmp_path, 'arrays { path = "cf.npz"; shape = [1, 8, 8] }'))
    with pytest.raises(RunError) as e:
        load_task(mod, {**mod.CONFIG["task"], "path": str(tmp_path / "other.npz")})
    assert e.value.code == "E819" and "[1, 8, 8]" in e.value.message and "(1, 4, 16)" in e.value.message
    # the emitted program, with --set task.path=: a located error, exit 2
    out = tmp_path / "train.py"
    assert _cli("emit", str(tmp_path / "spec.snn"), "-o", str(out)).returncode == 0
    r = subprocess.run([PYTHON, str(out), "--set", f"task.path={tmp_path / 'other.npz'}", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "E819" in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---- the independent reference: digits as (N, 1, 8, 8) arrays are `task digits`


def _digits_files(tmp_path):
    x_train, y_train, x_test, y_test = load_dataset("digits")  # the split `task digits` uses
    first = lambda x: x.reshape(len(x), 8, 8)[:, None]  # noqa: E731  (h * 8 + w: C = 1)
    _save(tmp_path / "cf.npz", {"x_train": first(x_train), "y_train": y_train, "x_test": first(x_test),
                                "y_test": y_test})
    _save(tmp_path / "cl.npz", {"x_train": first(x_train)[..., 0, :, :, None], "y_train": y_train,
                                "x_test": first(x_test)[..., 0, :, :, None], "y_test": y_test})


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_digits_arrays_give_the_first_batch_of_task_digits_exactly(tmp_path, layout):
    _digits_files(tmp_path)
    file = "cf.npz" if layout == "channels_first" else "cl.npz"
    mods = [generated(_conv(tmp_path, "digits { }", "digits.snn")),
            generated(_conv(tmp_path, f'arrays {{ path = "{file}"; shape = [1, 8, 8]; layout = {layout} }}'))]
    data = [load_task(m, m.CONFIG["task"]) for m in mods]
    for split in ("train", "test"):
        for a, b in zip(data[0][split], data[1][split]):
            np.testing.assert_array_equal(a, b)
    xb, yb = (jnp.asarray(v[:16]) for v in data[1]["train"])
    weights = jnp.asarray(loss_weights("per_step", mods[0].STEPS))
    keys = jax.random.split(jax.random.PRNGKey(1), 16)
    results = []
    for m in mods:
        theta, fixed = init_parameters(m, jax.random.PRNGKey(0))

        def loss(th):
            outs = run_batch(m, th, fixed, xb, keys)
            return sample_losses(outs, yb, weights).mean(), outs

        (value, outs), grad = jax.value_and_grad(loss, has_aux=True)(theta)
        results.append((value, outs, grad))
    (v0, o0, g0), (v1, o1, g1) = results
    np.testing.assert_array_equal(np.asarray(o0), np.asarray(o1))
    assert float(v0) == float(v1)
    assert set(g0) == set(g1) and any(float(jnp.abs(g).max()) > 0 for g in g0.values())
    for k in g0:
        np.testing.assert_array_equal(np.asarray(g0[k]), np.asarray(g1[k]), err_msg=k)


def test_digits_arrays_train_an_epoch_like_task_digits_with_crop_and_flip(tmp_path):
    _digits_files(tmp_path)
    aug = "crop = 1; flip = true"
    runs = [trainer_of(generated(_conv(tmp_path, f"digits {{ {aug} }}", "digits.snn")), seed=2),
            trainer_of(generated(_conv(tmp_path, f'arrays {{ path = "cf.npz"; shape = [1, 8, 8]; {aug} }}')), seed=2)]
    assert all(t._augment is not None for t in runs)
    rows = [t.step(0) for t in runs]
    for k in runs[0].state["theta"]:
        np.testing.assert_array_equal(np.asarray(runs[0].state["theta"][k]), np.asarray(runs[1].state["theta"][k]))
    assert rows[0]["train_loss"] == rows[1]["train_loss"] and rows[0]["test_loss"] == rows[1]["test_loss"]
