"""`task arrays`: a user's .npz (static and temporal), its checks, the validation split, the
best-on-validation parameters, and resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime import evaluate, train
from snndsl_runtime.errors import RunError
from snndsl_runtime.network import init_parameters, network
from snndsl_runtime.tasks.arrays import describe, load_arrays
from snndsl_runtime.tasks.datasets import load_task
from snndsl_runtime.trainers.gradient import run_network

from .conftest import ROOT, cli_in_process, generated, write_spec

SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant

TIME
task arrays { path = "data.npz"TASK }

input x = current
population hidden = LIF(32) { tau_m = 2 ms }
output y = instant(hidden)

project x -> hidden.v { weights = dense(init = kaiming); learn w }
project hidden -> y   { weights = dense(init = lecun); learn w }

train RULE { epochs = 3; batch_size = 16 }
"""


def _spec(tmp_path, time="time { steps = 4 }", task="", rule="stop"):
    return write_spec(tmp_path, SPEC.replace("TIME", time).replace("TASK", task).replace("RULE", rule))


def _digits_npz(path, n=400):
    """The first n of scikit-learn's digits, 3/4 for training."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.data[:n] / 16).astype(np.float32), d.target[:n]
    k = 3 * n // 4
    np.savez(path, x_train=x[:k], y_train=y[:k], x_test=x[k:], y_test=y[k:])


def _save(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _ok(n=12, shape=(5,), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + shape).astype(np.float32)
    y = np.arange(n) % classes
    return {"x_train": x[: n - 4], "y_train": y[: n - 4], "x_test": x[n - 4:], "y_test": y[n - 4:]}


# ---- the file and its checks


def test_describe_reads_sizes_static_and_temporal(tmp_path):
    info = describe(_save(tmp_path / "a.npz", **_ok()))
    assert (info.n_train, info.n_test, info.features, info.frames, info.classes) == (8, 4, 5, None, 3)
    info = describe(_save(tmp_path / "b.npz", **_ok(shape=(7, 5))))
    assert (info.features, info.frames) == (5, 7)
    assert describe(str(tmp_path / "a.npz"), classes=10).classes == 10


def _code(path, **kw):
    with pytest.raises(RunError) as e:
        load_arrays(path, kw.pop("classes", 3), kw.pop("frames", None))
    return e.value.code, e.value.message


@pytest.mark.parametrize("case,code", [
    ("missing", "E815"), ("folder", "E815"), ("not_zip", "E815"), ("objects", "E815"),
    ("no_key", "E816"), ("x_1d", "E816"), ("x_4d", "E819"), ("x_6d", "E816"), ("x_text", "E816"), ("y_float", "E816"),
    ("y_onehot", "E816"), ("empty", "E816"),
    ("count", "E817"), ("train_test_shape", "E817"),
    ("label_high", "E818"), ("label_negative", "E818"), ("nan", "E818"), ("inf", "E818"),
    ("frames", "E819"), ("static_for_temporal", "E819"),
])
def test_each_problem_has_its_code(tmp_path, case, code):
    p = tmp_path / "d.npz"
    a = _ok()
    kw = {}
    if case == "missing":
        p = tmp_path / "nowhere.npz"
    elif case == "folder":
        p = tmp_path
    elif case == "not_zip":
        p.write_text("1,2,3\n")
    elif case == "objects":
        a["y_test"] = np.array([1, "a", None, 2], dtype=object)
    elif case == "no_key":
        del a["y_train"]
    elif case == "x_1d":
        a["x_train"] = a["x_train"][:, 0]
    elif case == "x_4d":  # images, for a program compiled for flat samples (tests/test_arrays_images.py)
        a["x_train"], a["x_test"] = a["x_train"].reshape(8, 5, 1, 1), a["x_test"].reshape(4, 5, 1, 1)
    elif case == "x_6d":
        a["x_train"] = a["x_train"].reshape(8, 5, 1, 1, 1, 1)
    elif case == "x_text":
        a["x_train"] = a["x_train"].astype(str)
    elif case == "y_float":
        a["y_train"] = a["y_train"].astype(np.float32)
    elif case == "y_onehot":
        a["y_train"] = np.eye(3)[a["y_train"]].astype(int)
    elif case == "empty":
        a["x_test"], a["y_test"] = a["x_test"][:0], a["y_test"][:0]
    elif case == "count":
        a["y_train"] = a["y_train"][:-1]
    elif case == "train_test_shape":
        a["x_test"] = a["x_test"][:, :4]
    elif case == "label_high":
        a["y_test"] = a["y_test"] + 3
    elif case == "label_negative":
        a["y_train"] = a["y_train"] - 1
    elif case in ("nan", "inf"):
        a["x_train"][3, 2] = np.nan if case == "nan" else np.inf
    elif case == "frames":
        a = _ok(shape=(6, 5))
        kw["frames"] = 4
    elif case == "static_for_temporal":
        kw["frames"] = 4
    if case not in ("missing", "folder", "not_zip"):
        _save(p, **a)
    got, message = _code(str(p), **kw)
    assert got == code, message
    if case == "nan":
        assert "sample 3" in message


def test_an_object_array_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    a = _ok()
    a["x_train"] = np.array([[1.0]] * 8, dtype=object)
    p = _save(tmp_path / "d.npz", **a)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(RunError) as e:
        describe(p)
    assert e.value.code == "E815" and "objects" in e.value.message


def _cli(*args, cwd=ROOT):
    """The command in this process (test_cli_run and test_cli_check start real ones)."""
    return cli_in_process(*args, cwd=cwd)


def test_check_locates_a_missing_file_and_a_size_mismatch(tmp_path):
    spec = _spec(tmp_path)
    r = _cli("check", str(spec))
    assert r.returncode == 2 and "E815" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert 'path = "data.npz"' in r.stderr and "^" in r.stderr  # located at the path, with a caret
    _save(tmp_path / "data.npz", **_ok())
    assert _cli("check", str(spec)).returncode == 0
    bad = write_spec(tmp_path, spec.read_text().replace("input x = current", "input x = current { size = 4 }"),
                     "sized.snn")
    r = _cli("check", str(bad))
    assert r.returncode == 2 and "E501" in r.stderr and "the task gives 5" in r.stderr, r.stderr


def test_nan_in_the_data_is_a_located_run_error(tmp_path):
    a = _ok()
    a["x_test"][1, 1] = np.nan
    _save(tmp_path / "data.npz", **a)
    r = _cli("run", str(_spec(tmp_path)), "--out", str(tmp_path / "run"), "--set", "train.epochs=1")
    assert r.returncode == 2 and "E818" in r.stderr and "NaN" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "task arrays" in r.stderr  # points at the task block


def test_temporal_arrays_define_the_time_steps(tmp_path):
    _save(tmp_path / "data.npz", **_ok(shape=(6, 5)))
    mod = generated(_spec(tmp_path, time="time { dt = 1 ms }"))
    assert mod.STEPS == 6 and mod.CONFIG["task"]["frames"] == 6 and mod.IN_SIZE == 5


def test_a_temporal_sample_feeds_one_slice_per_step(tmp_path):
    """run_network against a hand-written loop that gives step t the slice t."""
    _save(tmp_path / "data.npz", **_ok(shape=(6, 5)))
    mod = generated(_spec(tmp_path, time="time { dt = 1 ms }"))
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(0))
    net = network(mod, theta, fixed)
    sample = jnp.asarray(np.random.default_rng(1).random((6, 5)) * 3, jnp.float32)
    key = jax.random.PRNGKey(2)
    outs = run_network(mod, net, sample, key)
    w, bp, bc = net
    k_init, k_run = jax.random.split(key)
    x, expect = mod.init_state(k_init, bp), []
    for t in range(6):
        x, out = mod.forward_step(w, bp, bc, x, {mod.INPUT: sample[t]}, jax.random.fold_in(k_run, t))
        expect.append(out)
    np.testing.assert_allclose(np.asarray(outs), np.asarray(jnp.stack(expect)), rtol=1e-6, atol=1e-6)
    held = run_network(mod, net, sample[0], key)  # the first slice held for every step differs
    assert not np.allclose(np.asarray(held), np.asarray(outs))


# ---- validation split, best on validation, resume


def test_validation_split_is_stratified_disjoint_and_follows_the_seed(tmp_path):
    a = _ok(n=64)
    _save(tmp_path / "data.npz", **a)
    mod = generated(_spec(tmp_path, task="; validation = 0.25"))
    d0, d0b, d1 = (load_task(mod, mod.CONFIG["task"], seed) for seed in (0, 0, 1))
    (xt, yt), (xv, yv) = d0["train"], d0["validation"]
    assert len(yv) == 15 and len(yt) == 60 - 15
    rows = {tuple(r) for r in a["x_train"]}
    assert {tuple(r) for r in xt} | {tuple(r) for r in xv} == rows and not {tuple(r) for r in xt} & {tuple(r) for r in xv}
    assert sorted(np.bincount(yv).tolist()) == [5, 5, 5]
    np.testing.assert_array_equal(d0b["validation"][0], xv)
    assert not np.array_equal(d1["validation"][0], xv)
    assert load_task(mod, {**mod.CONFIG["task"], "validation": 0.0})["validation"] is None


@pytest.mark.slow
def test_best_on_validation_is_kept_and_evaluated(tmp_path):
    _digits_npz(tmp_path / "data.npz")
    mod = generated(_spec(tmp_path, task="; validation = 0.2"))
    out = tmp_path / "run"
    rows = train(mod, out_dir=str(out), seed=3, sets=["train.epochs=4"])
    assert {"validation_loss", "validation_accuracy", "test_loss", "test_accuracy"} <= set(rows[0])
    best = max(rows, key=lambda r: (r["validation_accuracy"], -r["validation_loss"]))  # first of the ties
    assert evaluate(mod, str(out), best=True)["epoch"] == best["epoch"]
    # the parameters kept are the best epoch's: their test accuracy and loss are that row's
    result = evaluate(mod, str(out), best=True)
    assert result["test_accuracy"] == best["test_accuracy"]
    assert result["test_loss"] == pytest.approx(best["test_loss"], rel=1e-5)
    last = evaluate(mod, str(out))
    assert last["epoch"] == 4 and last["test_accuracy"] == rows[-1]["test_accuracy"]


@pytest.mark.slow
def test_eval_best_without_validation_is_e613(tmp_path):
    _save(tmp_path / "data.npz", **_ok())
    spec = _spec(tmp_path)
    out = tmp_path / "run"
    assert _cli("run", str(spec), "--out", str(out), "--set", "train.epochs=1").returncode == 0
    r = _cli("eval", str(out), "--best")
    assert r.returncode == 2 and "E613" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("rule", ["stop", "surrogate"])
def test_resume_with_validation_equals_uninterrupted(tmp_path, rule):
    _digits_npz(tmp_path / "data.npz", n=200)
    mod = generated(_spec(tmp_path, task="; validation = 0.2", rule=rule))
    a, b = tmp_path / "a", tmp_path / "b"
    ra = train(mod, out_dir=str(a), seed=5, sets=["train.epochs=3"])
    train(mod, out_dir=str(b), seed=5, sets=["train.epochs=2"])
    rb = train(mod, out_dir=str(b), seed=0, resume=True, sets=["train.epochs=3"])
    ca, cb = np.load(a / "checkpoint.npz"), np.load(b / "checkpoint.npz")
    assert sorted(ca.files) == sorted(cb.files) and any(k.startswith("state/best/") for k in ca.files)
    for k in ca.files:
        if k != "meta":
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
    ma, mb = json.loads(str(ca["meta"])), json.loads(str(cb["meta"]))
    assert ma["best_step"] == mb["best_step"] and ma["best_validation_accuracy"] == mb["best_validation_accuracy"]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("wall_s", "samples_per_s")}  # noqa: E731
    assert strip(ra[-1]) == strip(rb[-1])


# ---- the README's example


def _readme_example():
    """The README's `my_data.snn` block and its `snndsl run` / `snndsl eval` commands."""
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```")
    spec = next(b.lstrip("\n") for b in blocks[1::2] if b.lstrip("\n").startswith("# my_data.snn"))
    rest = text[text.index(spec) + len(spec):]
    commands = [ln.strip().split("  #")[0].strip() for ln in rest.splitlines()
                if ln.strip().startswith(("snndsl run my_data.snn", "snndsl eval runs/my_data"))][:2]
    return spec, commands


@pytest.mark.slow
def test_the_readme_npz_example_trains_with_stop(tmp_path):
    spec, (run, ev) = _readme_example()
    assert "task arrays" in spec and "train stop" in spec
    (tmp_path / "my_data.snn").write_text(spec)
    _digits_npz(tmp_path / "data.npz", n=600)  # the user's own arrays, written here
    r = _cli(*run.split()[1:], "--set", "train.epochs=3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln) for ln in (tmp_path / "runs" / "my_data" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and {"validation_accuracy", "test_loss"} <= set(rows[-1])
    r = _cli(*ev.split()[1:], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    acc = json.loads(r.stdout.strip().splitlines()[-1])["test_accuracy"]
    assert acc > 0.5, acc  # 10 classes: chance is 0.1
