"""snndsl_runtime on its own, without a spec: ranks and the evolution gradients, PPO's loss and GAE
wiring, checkpoints, settings, the model protocol, the small network helpers.  Every expected value
is computed by hand (or by a plain numpy re-implementation) in the test."""

import ast
import json
import math
import os
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import snndsl_runtime
from snndsl_runtime.checkpoint import checkpoint_meta, load_checkpoint, save_checkpoint
from snndsl_runtime.config import apply_overrides, check_config
from snndsl_runtime.errors import NonFiniteError, RunError
from snndsl_runtime.io import atomic_write
from snndsl_runtime.model import STOP_ONLY, Model, check_model
from snndsl_runtime.network import pack_bits, project, readable_parameters, tau_from_raw, tau_to_raw
from snndsl_runtime.spikes import SURROGATE_DERIVATIVES, heaviside_spike, surrogate_spike
from snndsl_runtime.trainers import trainer_class
from snndsl_runtime.trainers.ec import natural_gradient
from snndsl_runtime.trainers.es import antithetic_gradient
from snndsl_runtime.trainers.evolution import centered_ranks
from snndsl_runtime.trainers.gradient import loss_weights
from snndsl_runtime.trainers.ppo import gae, ppo_loss

from .conftest import SPECS

RUNTIME = Path(snndsl_runtime.__file__).resolve().parent


# ---------------------------------------------------------------- centered ranks


@pytest.mark.parametrize("fitness,expect", [
    ([3.0, 1.0, 2.0, 10.0], [1 / 6, -0.5, -1 / 6, 0.5]),    # ranks 2, 0, 1, 3 of 4
    ([5.0, -5.0], [0.5, -0.5]),
    ([-1.0, -2.0, -3.0, -4.0, -5.0], [0.5, 0.25, 0.0, -0.25, -0.5]),
    # ties: each member its own rank, the earlier one lower (a stable sort), so the ranks still
    # spread evenly over [-0.5, 0.5] and sum to zero
    ([1.0, 1.0, 0.0], [0.0, 0.5, -0.5]),
    ([2.0, 2.0, 2.0, 2.0], [-0.5, -1 / 6, 1 / 6, 0.5]),
])
def test_centered_ranks_by_hand(fitness, expect):
    u = np.asarray(centered_ranks(jnp.array(fitness)))
    np.testing.assert_allclose(u, expect, atol=1e-6)
    assert abs(u.sum()) < 1e-6


def test_centered_ranks_ignore_the_scale_of_fitness():
    x = jnp.array([0.3, -7.0, 1e6, 2.0])
    np.testing.assert_array_equal(np.asarray(centered_ranks(x)), np.asarray(centered_ranks(jnp.array([1, 0, 3, 2.0]))))


# ---------------------------------------------------------------- the evolution gradients


def test_natural_gradient_by_hand():
    """-mean_m u_m (theta_m - rho): with u not centred the mean(u) * rho term matters."""
    samples = {"w": jnp.array([[True, False], [False, True], [True, True]])}
    rho = {"w": jnp.array([0.5, 0.25])}
    u = jnp.array([1.0, 0.0, 0.5])
    # u * (theta - rho): [0.5, -0.25], [0, 0], [0.25, 0.375]; mean [0.25, 0.125 / 3]; negated for optax
    g = natural_gradient(samples, rho, u)
    np.testing.assert_allclose(np.asarray(g["w"]), [-0.25, -0.125 / 3], atol=1e-7)
    assert set(g) == {"w"}


def test_natural_gradient_points_toward_the_fitter_masks():
    samples = {"w": jnp.array([[1, 0], [0, 1]], jnp.float32), "v": jnp.array([[[1.0]], [[0.0]]])}
    rho = {"w": jnp.full(2, 0.5), "v": jnp.full((1, 1), 0.5)}
    g = natural_gradient(samples, rho, centered_ranks(jnp.array([2.0, 1.0])))  # member 0 is fitter
    # mean(u (theta - rho)) = (0.5 * 0.5 + (-0.5) * (-0.5)) / 2 = 0.25 on w[0], -0.25 on w[1]
    np.testing.assert_allclose(np.asarray(g["w"]), [-0.25, 0.25], atol=1e-7)
    np.testing.assert_allclose(np.asarray(g["v"]), [[-0.25]], atol=1e-7)


def test_antithetic_gradient_by_hand():
    """-(1/n) sum_i (u+_i - u-_i) sigma eps_i over the n pairs."""
    noise = {"w": jnp.array([[1.0, 0.0], [2.0, -1.0]])}  # two pairs
    u = jnp.array([0.5, -0.5, 0.1, 0.3])  # the + members, then the - members
    # weights [0.4, -0.8]; sigma eps = [[0.5, 0], [1, -0.5]]; sum [0.2 - 0.8, 0.4] = [-0.6, 0.4]; / 2; negated
    g = antithetic_gradient(noise, u, 0.5)
    np.testing.assert_allclose(np.asarray(g["w"]), [0.3, -0.2], atol=1e-7)


def test_antithetic_gradient_sums_over_pairs_not_members():
    noise = {"a": jnp.array([[1.0], [1.0], [1.0]]), "b": jnp.array([[[2.0]], [[0.0]], [[-2.0]]])}
    u = jnp.array([0.5, 0.3, 0.1, -0.5, -0.3, -0.1])  # every + member beats its - member
    g = antithetic_gradient(noise, u, 1.0)
    np.testing.assert_allclose(np.asarray(g["a"]), [-(1.0 + 0.6 + 0.2) / 3], atol=1e-7)
    np.testing.assert_allclose(np.asarray(g["b"]), [[-(2.0 + 0.0 - 0.4) / 3]], atol=1e-7)


# ---------------------------------------------------------------- PPO

TR = {"clip": 0.2, "value_coef": 0.5, "entropy_coef": 0.01, "gamma": 0.9, "gae_lambda": 0.8}


def test_ppo_loss_by_hand():
    ratio = jnp.array([1.5, 0.5, 1.1, 0.7])
    adv = jnp.array([1.0, 1.0, -1.0, -1.0])
    # min(r A, clip(r, 0.8, 1.2) A): 1.2 (clipped), 0.5 (not: below the range with A > 0),
    # -1.1 (inside the range), -0.8 (clipped); policy loss = -mean = 0.05
    value, returns = jnp.array([0.0, 1.0, 2.0, 3.0]), jnp.array([1.0, 1.0, 0.0, 3.0])  # value loss 0.5 * 1.25
    log_std = jnp.array([-0.5, 0.0])  # entropy sum(log_std + 0.5 log(2 pi e)) = -0.5 + log(2 pi e)
    entropy = -0.5 + math.log(2 * math.pi * math.e)
    expect = 0.05 + 0.5 * 0.625 - 0.01 * entropy
    assert float(ppo_loss(ratio, adv, value, returns, log_std, TR)) == pytest.approx(expect, abs=1e-6)
    only_pg = {**TR, "value_coef": 0.0, "entropy_coef": 0.0}
    assert float(ppo_loss(ratio, adv, value, returns, log_std, only_pg)) == pytest.approx(0.05, abs=1e-7)
    # where the clip is active the ratio gets no gradient; elsewhere -A / N
    g = jax.grad(lambda r: ppo_loss(r, adv, value, returns, log_std, only_pg))(ratio)
    np.testing.assert_allclose(np.asarray(g), [0.0, -0.25, 0.25, 0.0], atol=1e-7)
    # the value and entropy terms: d/dvalue = value_coef * (value - returns) / N, d/dlog_std = -entropy_coef
    gv = jax.grad(lambda v: ppo_loss(ratio, adv, v, returns, log_std, TR))(value)
    np.testing.assert_allclose(np.asarray(gv), 0.5 * np.array([-1.0, 0.0, 2.0, 0.0]) / 4, atol=1e-7)
    gs = jax.grad(lambda s: ppo_loss(ratio, adv, value, returns, s, TR))(log_std)
    np.testing.assert_allclose(np.asarray(gs), [-0.01, -0.01], atol=1e-7)


def test_ppo_loss_without_clipping_is_the_plain_surrogate():
    ratio = jnp.array([0.9, 1.05, 1.19])  # all inside [0.8, 1.2]
    adv = jnp.array([2.0, -1.0, 0.5])
    zero = jnp.zeros(3)
    tr = {**TR, "value_coef": 0.0, "entropy_coef": 0.0}
    expect = -(0.9 * 2.0 - 1.05 + 1.19 * 0.5) / 3
    assert float(ppo_loss(ratio, adv, zero, zero, jnp.zeros(1), tr)) == pytest.approx(expect, abs=1e-6)


def _numpy_gae(reward, value, bootstrap, done, truncation, gamma, lam):
    """GAE as brax defines it, one environment at a time in plain Python: a terminated step has no
    future value; a truncated step (time limit, the environment auto-resets) is left out - its
    target is its own value and its advantage 0 - so the step before it bootstraps from its value."""
    T, B = reward.shape
    vs, adv = np.zeros((T, B)), np.zeros((T, B))
    for b in range(B):
        acc, next_value, next_vs = 0.0, bootstrap[b], bootstrap[b]
        for t in reversed(range(T)):
            terminated = done[t, b] and not truncation[t, b]
            if truncation[t, b]:
                acc = 0.0
                vs[t, b], adv[t, b] = value[t, b], 0.0
            else:
                future = 0.0 if terminated else gamma * next_value
                delta = reward[t, b] + future - value[t, b]
                acc = delta + (0.0 if terminated else gamma * lam * acc)
                vs[t, b] = value[t, b] + acc
                adv[t, b] = reward[t, b] + (0.0 if terminated else gamma * next_vs) - value[t, b]
            next_value, next_vs = value[t, b], vs[t, b]
    return vs, adv


def test_gae_bootstraps_a_truncated_episode_and_not_a_terminated_one():
    T = 5
    rng = np.random.default_rng(0)
    reward = rng.normal(size=(T, 3)).astype(np.float32)
    value = rng.normal(size=(T, 3)).astype(np.float32) + 2.0
    bootstrap = np.array([1.5, -0.5, 0.7], np.float32)
    done = np.zeros((T, 3), np.float32)
    truncation = np.zeros((T, 3), np.float32)
    done[1, 0] = truncation[1, 0] = 1.0  # env 0: the time limit at t = 1
    done[1, 1] = 1.0  # env 1: terminated at t = 1 (fell over)
    done[3, 2] = 1.0  # env 2: terminated at t = 3, truncated at t = 4 (last step of the unroll)
    done[4, 2] = truncation[4, 2] = 1.0
    data = {"reward": jnp.asarray(reward), "done": jnp.asarray(done), "truncation": jnp.asarray(truncation)}
    vs, adv = gae(data, jnp.asarray(value), jnp.asarray(bootstrap), TR)
    vs_ref, adv_ref = _numpy_gae(reward, value, bootstrap, done, truncation, TR["gamma"], TR["gae_lambda"])
    np.testing.assert_allclose(np.asarray(vs), vs_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(adv), adv_ref, rtol=1e-5, atol=1e-5)
    g, lam = TR["gamma"], TR["gae_lambda"]
    # truncated: the step bootstraps from its own value, the one before from it
    assert float(vs[1, 0]) == pytest.approx(value[1, 0], abs=1e-5) and float(adv[1, 0]) == 0.0
    assert float(vs[0, 0]) == pytest.approx(reward[0, 0] + g * value[1, 0], abs=1e-5)
    # terminated: the target is the reward alone, no value after it
    assert float(vs[1, 1]) == pytest.approx(reward[1, 1], abs=1e-5)
    assert float(adv[1, 1]) == pytest.approx(reward[1, 1] - value[1, 1], abs=1e-5)
    assert float(vs[0, 1]) == pytest.approx(reward[0, 1] + g * value[1, 1] + g * lam * (reward[1, 1] - value[1, 1]),
                                            abs=1e-5)
    # a running episode at the end of the unroll bootstraps from the critic's value of the last observation
    assert float(vs[4, 1]) == pytest.approx(reward[4, 1] + g * bootstrap[1], abs=1e-5)
    assert float(vs[3, 2]) == pytest.approx(reward[3, 2], abs=1e-5) and float(adv[4, 2]) == 0.0


# ---------------------------------------------------------------- checkpoints


def _state():
    theta = {"w0": jnp.arange(6.0).reshape(2, 3), "hidden.tau_m": jnp.array([0.25, -1.0])}
    opt = optax.adam(1e-3).update(theta, optax.adam(1e-3).init(theta), theta)[1]  # non-zero moments
    return {"theta": theta, "fixed": {"m0": jnp.array([[True, False, True], [False, True, True]])},
            "opt": opt, "pair": (jnp.int32(7), {"x": jnp.ones((2, 2), jnp.float16)}), "count": np.uint32(3)}


FAKE = types.SimpleNamespace(
    DT=0.5,
    PROJECTIONS={"w0": {"name": "in -> hidden.v", "learn": True}, "w1": {"name": "hidden->out", "learn": False}},
    NEURON_PARAMS={"hidden.tau_m": {"role": "time_constant"}, "hidden.v_th": {"role": "threshold"}},
)


def test_checkpoint_round_trip_with_named_arrays(tmp_path):
    state = _state()
    path = str(tmp_path / "checkpoint.npz")
    theta = {**state["theta"], "hidden.v_th": jnp.array([1.0, 2.0])}
    readable = readable_parameters(FAKE, theta)
    assert set(readable) == {"weights/in->hidden.v", "block/hidden/tau_m", "block/hidden/v_th"}
    meta = {"step": 3, "seed": 11, "spec": "s", "rule": "stop", "config": {"train": {"epochs": 3}},
            "wall_s": 1.5, "env_steps": 99}
    save_checkpoint(path, state, meta, readable)
    loaded, got = load_checkpoint(path, jax.tree.map(jnp.zeros_like, state))
    assert jax.tree.structure(loaded) == jax.tree.structure(state)  # dicts, tuples, optax's named tuples
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(state)):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert isinstance(loaded["opt"][0], optax.ScaleByAdamState)
    assert got["step"] == 3 and got["seed"] == 11 and got["config"] == {"train": {"epochs": 3}}
    assert got["env_steps"] == 99  # a trainer's own fields come back too
    assert checkpoint_meta(path)["wall_s"] == 1.5
    with np.load(path, allow_pickle=False) as data:  # plain numpy reads it, by name
        names = set(data.files)
        np.testing.assert_array_equal(data["state/theta/w0"], np.arange(6.0).reshape(2, 3))
        np.testing.assert_array_equal(data["state/opt/0/mu/w0"], np.asarray(state["opt"][0].mu["w0"]))
        assert data["state/pair/0"] == 7 and data["state/pair/1/x"].dtype == np.float16
        np.testing.assert_array_equal(data["network/weights/in->hidden.v"], np.arange(6.0).reshape(2, 3))
        tau = data["network/block/hidden/tau_m"]  # in ms, not raw
        np.testing.assert_allclose(tau, -0.5 / np.log(1 / (1 + np.exp(np.array([0.25, -1.0])))), rtol=1e-5)
        np.testing.assert_array_equal(data["network/block/hidden/v_th"], [1.0, 2.0])
        assert json.loads(str(data["meta"]))["step"] == 3
    assert "state/opt/0/count" in names and not [n for n in names if n.startswith("network/weights/hidden")]


def test_readable_time_constants_invert_the_raw_parameter():
    raw = tau_to_raw(np.array([1.0, 3.0, 30.0]), 0.5)
    np.testing.assert_allclose(np.asarray(tau_from_raw(jnp.asarray(raw), 0.5)), [1.0, 3.0, 30.0], rtol=1e-5)
    # the per-step decay of the membrane is exp(-dt / tau) = sigmoid(-raw)
    np.testing.assert_allclose(1 / (1 + np.exp(raw)), np.exp(-0.5 / np.array([1.0, 3.0, 30.0])), rtol=1e-5)
    assert raw[0] > raw[1] > raw[2]  # the raw value falls as tau grows


@pytest.mark.parametrize("field,value,where", [
    ("step", "three", "step"),
    ("step", -1, "step"),
    ("seed", [1], "seed"),
    ("spec_sets", "train.epochs=2", "spec_sets"),
    ("wall_s", "NaN", "wall_s"),
    ("config", [1, 2], "config"),
    ("network", {"projection w0": 3}, "network.projection w0"),
])
def test_checkpoint_metadata_of_the_wrong_type_is_E822(tmp_path, field, value, where):
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, {"w": np.zeros(2)}, {"step": 1, field: value})
    for read in (lambda: checkpoint_meta(path), lambda: load_checkpoint(path, {"w": np.zeros(2)})):
        with pytest.raises(RunError) as e:
            read()
        assert e.value.code == "E822" and f"`{where}`" in e.value.message, e.value.message


def test_checkpoint_without_metadata_or_missing(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, **{"state/w": np.zeros(2)})
    with pytest.raises(RunError) as e:
        checkpoint_meta(str(path))
    assert e.value.code == "E822"
    with pytest.raises(RunError) as e:
        checkpoint_meta(str(tmp_path / "none.npz"))
    assert e.value.code == "E821"


@pytest.mark.parametrize("failure", ["savez", "replace"])
def test_failed_checkpoint_write_is_E841_and_keeps_the_previous_one(tmp_path, monkeypatch, failure):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(str(path), {"w": np.ones(5)}, {"step": 1})
    before = path.read_bytes()

    def broken(*args, **kwargs):
        if failure == "savez":
            args[0].write(b"half a file")
        raise OSError(28, "No space left on device")

    if failure == "savez":
        monkeypatch.setattr(np, "savez", broken)
    else:
        import os

        monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(RunError) as e:
        save_checkpoint(str(path), {"w": np.zeros(5)}, {"step": 2})
    monkeypatch.undo()
    assert e.value.code == "E841" and "No space left on device" in e.value.message and str(path) in e.value.message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]  # the temporary file is gone
    state, meta = load_checkpoint(str(path), {"w": np.zeros(5)})
    assert meta["step"] == 1 and state["w"].tolist() == [1.0] * 5


def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "config.json"
    atomic_write(str(target), lambda f: f.write("old"), "w")

    def half(f):
        f.write("new but")
        raise OSError(27, "File too large")

    with pytest.raises(RunError) as e:
        atomic_write(str(target), half, "w")
    assert e.value.code == "E841" and target.read_text() == "old" and not list(tmp_path.glob("config.json.*tmp"))
    atomic_write(str(target), lambda f: f.write("new"), "w")
    assert target.read_text() == "new"


# ---------------------------------------------------------------- settings

REFERENCE = {"train": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0,
                                                   "schedule": "constant", "grad_clip": None}, "remat": False},
             "task": {"dataset": "digits", "path": None, "features": 64, "classes": 10, "test_fraction": 0.25},
             "time": {"dt": 1.0, "substeps": 1, "steps": 4}}
RULE = ("surrogate", "dataset")  # the settings models that check REFERENCE


def _with(path, value):
    cfg = json.loads(json.dumps(REFERENCE))
    node = cfg
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return cfg


def test_check_config_accepts_a_valid_config():
    check_config(REFERENCE, REFERENCE, *RULE, "ckpt")
    check_config(_with(("train", "optimizer", "grad_clip"), 0.5), REFERENCE, *RULE, "ckpt")
    check_config(_with(("train", "epochs"), 5.0), REFERENCE, *RULE, "ckpt")  # JSON may write 5 as 5.0


@pytest.mark.parametrize("path,value,text", [
    (("train", "optimizer", "lr"), -1, "train.optimizer.lr: must be greater than 0"),
    (("train", "optimizer", "lr"), 0, "train.optimizer.lr: must be greater than 0"),
    (("train", "epochs"), 0, "train.epochs: must be greater than or equal to 1"),
    (("train", "epochs"), "3", "train.epochs must be a whole number"),
    (("train", "epochs"), 2.5, "train.epochs must be a whole number"),
    (("train", "remat"), 1, "train.remat must be true or false"),
    (("train", "optimizer", "lr"), "fast", "train.optimizer.lr must be a number"),
    (("train", "optimizer", "name"), "adamx", "train.optimizer.name: must be 'adam', 'adamw' or 'sgd'"),
    (("train", "optimizer", "grad_clip"), "x", "train.optimizer.grad_clip must be a number"),
    (("train", "optimizer"), 5, "lacks the setting `train.optimizer.name`"),
    (("train", "foo"), 1, "unknown setting `train.foo`"),
    (("extra",), {}, "unknown setting `extra`"),
])
def test_check_config_rejects_a_bad_checkpoint_config(path, value, text):
    with pytest.raises(RunError) as e:
        check_config(_with(path, value), REFERENCE, *RULE, "the checkpoint c.npz")
    assert e.value.code == "E822" and text in e.value.message and "the checkpoint c.npz" in e.value.message, \
        e.value.message


def test_check_config_names_a_missing_setting():
    cfg = json.loads(json.dumps(REFERENCE))
    del cfg["task"]["path"]
    with pytest.raises(RunError) as e:
        check_config(cfg, REFERENCE, *RULE, "ckpt")
    assert e.value.code == "E822" and "`task.path`" in e.value.message


@pytest.mark.parametrize("pair", ["train.optimizer.lr=Infinity", "train.optimizer.lr=1e400",
                                  "train.optimizer.lr=-Infinity", "train.optimizer.lr=NaN",
                                  "train.epochs=Infinity", "train.epochs=1e400",
                                  "train.optimizer.grad_clip=1e400"])
def test_apply_overrides_refuses_non_finite_numbers(pair):
    with pytest.raises(RunError) as e:
        apply_overrides(REFERENCE, [pair], *RULE)
    assert e.value.code == "E401" and "finite number" in e.value.message, e.value.message


def test_apply_overrides_applies_a_copy():
    cfg = apply_overrides(REFERENCE, ["train.optimizer.lr=1e-4", "train.epochs=7", "task.path=/data"], *RULE)
    assert cfg["train"]["optimizer"]["lr"] == 1e-4 and cfg["train"]["epochs"] == 7 and cfg["task"]["path"] == "/data"
    assert REFERENCE["train"]["epochs"] == 3 and REFERENCE["task"]["path"] is None
    with pytest.raises(RunError) as e:
        apply_overrides(REFERENCE, ["train.remat=true"], *RULE, ["train.remat"])
    assert e.value.code == "E203" and "changes the generated network" in e.value.message


# ---------------------------------------------------------------- the model protocol


def _complete_model():
    module = types.ModuleType("fake_model")
    for name in Model.__annotations__:
        setattr(module, name, None)
    return module


def test_check_model_accepts_a_complete_module():
    check_model(_complete_model())


def test_check_model_names_what_a_module_lacks():
    module = _complete_model()
    del module.forward_step, module.NETWORK_HASH
    with pytest.raises(TypeError) as e:
        check_model(module)
    text = str(e.value)
    assert text.startswith("fake_model is not an snndsl model: it lacks ")
    assert set(text.split("it lacks ", 1)[1].split(", ")) == {"forward_step", "NETWORK_HASH"}  # those, only
    with pytest.raises(TypeError) as e:
        check_model(types.ModuleType("empty"))
    assert all(n in str(e.value) for n in Model.__annotations__ if n not in STOP_ONLY)  # a module without RULE


def test_only_a_stop_model_needs_presynaptic_signals():
    module = _complete_model()
    del module.presynaptic_signals
    module.RULE = "ec"
    check_model(module)
    module.RULE = "stop"
    with pytest.raises(TypeError, match="presynaptic_signals"):
        check_model(module)


def test_an_ec_model_file_has_no_stop_probes(tmp_path):
    """Only what the spec's rule uses is generated: STOP's probes and drives stay out of EC and BPTT models."""
    from snndsl.driver.build import load_spec, module_text

    for spec, has in (("quickstart.snn", False), ("surrogate_digits.snn", False), ("stop_digits.snn", True)):
        text = module_text(load_spec(str(SPECS / spec))[0])
        assert (("probes" in text) and ("drives" in text) and ("def presynaptic_signals" in text)) == has, spec
        assert has or "probe" not in text, spec


# ---------------------------------------------------------------- small pieces


def test_trainer_class_by_rule_and_task():
    names = {(r, k): trainer_class(r, k).__name__ for r, k in
             [("ec", "brax"), ("es", "brax"), ("stop", "dataset"), ("surrogate", "dataset"), ("surrogate", "brax")]}
    assert names == {("ec", "brax"): "ECTrainer", ("es", "brax"): "ESTrainer", ("stop", "dataset"): "STOPTrainer",
                     ("surrogate", "dataset"): "BPTTTrainer", ("surrogate", "brax"): "PPOTrainer"}
    assert trainer_class("surrogate", "brax").UNIT == "iteration" and trainer_class("ec", "brax").UNIT == "generation"
    assert trainer_class("stop", "dataset").UNIT == "epoch"
    with pytest.raises(ValueError):
        trainer_class("hebb", "dataset")


def test_loss_weights():
    np.testing.assert_allclose(loss_weights("per_step", 4), [0.25] * 4)
    np.testing.assert_array_equal(loss_weights("final", 3), [0.0, 0.0, 1.0])


def test_pack_bits_layout_and_projection():
    mask = np.zeros((35, 2), bool)
    mask[[0, 5, 31], 0] = True
    mask[[32, 34], 1] = True
    packed = np.asarray(pack_bits(jnp.asarray(mask)))
    assert packed.dtype == np.uint32 and packed.shape == (2, 2)  # ceil(35 / 32) words per output
    assert packed[:, 0].tolist() == [1 + 2 ** 5 + 2 ** 31, 0] and packed[:, 1].tolist() == [0, 1 + 4]
    rng = np.random.default_rng(1)
    m = rng.random((70, 9)) < 0.5
    s = rng.choice([-1.0, 0.0, 1.0], size=70).astype(np.float32)  # signed spikes
    dense = s @ m.astype(np.float32)
    for w in (pack_bits(jnp.asarray(m)), jnp.asarray(m, jnp.int8), jnp.asarray(m, jnp.float32)):
        np.testing.assert_array_equal(np.asarray(project(jnp.asarray(s), w)), dense)


def test_spike_functions():
    x = jnp.array([-1.0, 0.0, 0.5])
    np.testing.assert_array_equal(np.asarray(heaviside_spike(x)), [0, 0, 1])
    np.testing.assert_array_equal(np.asarray(heaviside_spike(x, inclusive=True)), [0, 1, 1])
    spike = surrogate_spike("triangle", 2.0)
    np.testing.assert_array_equal(np.asarray(spike(x)), [0, 0, 1])
    np.testing.assert_array_equal(np.asarray(spike(x, inclusive=True)), [0, 1, 1])
    for inclusive in (False, True):
        g = jax.vmap(jax.grad(lambda v: spike(v, inclusive)))(x)
        np.testing.assert_allclose(np.asarray(g), [0.25, 0.5, 0.375])  # max(0, 1 - |x| / 2) / 2
        np.testing.assert_allclose(np.asarray(g), np.asarray(SURROGATE_DERIVATIVES["triangle"](x, 2.0)))


def test_non_finite_error_is_a_run_error():
    e = NonFiniteError("epoch", 2, "train_loss", saved=False)
    assert isinstance(e, RunError) and e.code == "E831"
    assert "train_loss is not finite (NaN or inf) at epoch 2" in str(e) and "no checkpoint" in str(e)


def test_runtime_never_imports_the_compiler():
    """The runtime is copied beside an emitted model and must run where snndsl is not installed."""
    files = sorted(RUNTIME.rglob("*.py"))
    assert {"loop.py", "checkpoint.py", "trainers/ppo.py", "tasks/brax.py"} <= {str(f.relative_to(RUNTIME)) for f in files}
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module]
            else:
                continue
            assert not [m for m in mods if m.split(".")[0] == "snndsl"], (f, mods)


# ---------------------------------------------------------------- twin projections (found as bugs, now fixed)

TWIN = types.SimpleNamespace(  # `project hidden -> logits` twice: the language accepts it (snndsl check passes)
    DT=1.0, SUBSTEPS=1, STEPS=4,
    PROJECTIONS={"w0": {"name": "hidden->logits", "learn": True, "gain": 1.0},
                 "w1": {"name": "hidden->logits", "learn": True, "gain": 2.0}},
    NEURON_PARAMS={}, DRAWN_PARAMS={}, BLOCKS={},
)


def test_readable_parameters_keep_every_learned_projection():
    out = readable_parameters(TWIN, {"w0": jnp.zeros((2, 3)), "w1": jnp.ones((2, 3))})
    assert sorted(k for k in out if k.startswith("weights/")) == ["weights/hidden->logits", "weights/hidden->logits#2"]


def test_network_description_names_a_change_in_either_twin_projection():
    from snndsl_runtime.loop import network_description

    before = network_description(TWIN)
    changed = types.SimpleNamespace(**{**vars(TWIN), "PROJECTIONS": {
        "w0": {**TWIN.PROJECTIONS["w0"], "gain": 3.0}, "w1": TWIN.PROJECTIONS["w1"]}})
    assert network_description(changed) != before


def test_network_hash_does_not_depend_on_the_working_folder(tmp_path, monkeypatch):
    """A run resumed from another folder meets the same NETWORK_HASH (model sources are named from
    the spec's folder and stdlib/, not from the working folder)."""
    import re
    import shutil

    from snndsl import compile_spec, generate

    spec = tmp_path / "net" / "spec.snn"
    spec.parent.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "specs" / "stop_digits.snn", spec)
    hashes = []
    (tmp_path / "elsewhere").mkdir()
    for cwd in (tmp_path, spec.parent, tmp_path / "elsewhere", Path("/")):
        monkeypatch.chdir(cwd)
        s, diags, _ = compile_spec(os.path.relpath(spec))
        assert s is not None, diags
        hashes.append(re.search(r"NETWORK_HASH = '(\w+)'", generate(s)).group(1))
    assert len(set(hashes)) == 1
