"""EC: the generated network against a hand-written reference step, the NES update by hand,
centered ranks, resume equivalence (also after SIGKILL), the standalone emitted file, learning."""

import json
import os
import re
import signal
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime import train
from snndsl_runtime.network import network_weights
from snndsl_runtime.trainers.ec import ECTrainer, ec_optimizer, natural_gradient
from snndsl_runtime.trainers.es import ESTrainer, antithetic_gradient, es_optimizer
from snndsl_runtime.trainers.evolution import centered_ranks

from .conftest import PYTHON, ROOT, SPECS, cli_in_process, generated, trainer_of

TINY = ["train.population=24", "train.eval_copies=4", "task.episode_length=20", "time.substeps=3",
        "train.checkpoint_every=1"]


# ---------------------------------------------------------------- the reference ConnSNN, by hand (ec.md §1)

def reference_env_step(carry, obs, w_in, w_h, w_out, n_exc, dt=0.5, substeps=33, tau_syn=5.0, tau_m=10.0,
                       tau_out=10.0, v_th=1.0, v_r=0.0, p=0.5):
    """One environment step of the EC reference network, written from ec.md §1.2-1.4."""
    v, i_syn, r, s = carry
    n, d = w_h.shape[0], obs.shape[0]
    r_in = 0.1 * v_th * tau_m * np.sqrt(2 / (p * d))
    r_h = 1.0 * v_th * (tau_m / tau_syn) * np.sqrt(2 / (p * n))
    r_out = 5.0 * np.sqrt(1 / (p * n))
    a_syn, a_m, a_out = np.exp(-dt / tau_syn), np.exp(-dt / tau_m), np.exp(-dt / tau_out)
    i_in = r_in * (jnp.concatenate([obs, -obs]) @ w_in)
    sign = jnp.concatenate([jnp.ones(n_exc), -jnp.ones(n - n_exc)])
    spikes = []
    for _ in range(substeps):
        i_syn = a_syn * i_syn + r_h * (s @ w_h)
        v = a_m * v + (1 - a_m) * (v_r + i_syn + i_in)
        z = v > v_th
        v = jnp.where(z, v_r, v)
        s = z * sign
        r = a_out * r + (1 - a_out) * s / dt
        spikes.append(s)
    action = jnp.clip(r_out * (r @ w_out), -1, 1)
    return (v, i_syn, r, s), action, jnp.stack(spikes)


def test_generated_step_matches_reference_connsnn():
    mod = generated(SPECS / "ec_hopper.snn")
    key = jax.random.PRNGKey(3)
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    w_in = jax.random.bernoulli(k1, 0.5, (22, 256))
    w_h = jax.random.bernoulli(k2, 0.5, (256, 256))
    w_out = jax.random.bernoulli(k3, 0.5, (256, 3))
    theta = {"w0": w_in, "w1": w_h, "w2": w_out}
    w = network_weights(mod, theta, {})
    bp, bc = mod.block_params(theta, {})
    x = mod.init_state(k4, bp)
    ref = (x["hidden"]["v"], x["hidden"]["i_syn"], x["action"]["r"], x["hidden"]["s"])
    step = jax.jit(lambda x, o: mod.forward_step(w, bp, bc, x, {"obs": o}, key))
    total_spikes = 0
    for t in range(20):
        obs = 2.0 * jax.random.normal(jax.random.fold_in(k5, t), (11,))
        x, action = step(x, obs)
        ref, ref_action, ref_spikes = reference_env_step(ref, obs, w_in.astype(jnp.float32),
                                                         w_h.astype(jnp.float32), w_out.astype(jnp.float32), 128)
        np.testing.assert_array_equal(np.asarray(x["hidden"]["s"]), np.asarray(ref[3]))  # same spikes
        np.testing.assert_allclose(x["hidden"]["v"], ref[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(x["action"]["r"], ref[2], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(action, ref_action, rtol=1e-4, atol=1e-6)
        total_spikes += int(jnp.abs(ref_spikes).sum())
    assert total_spikes > 100  # the comparison exercised real spiking


@pytest.mark.parametrize("dtype", ["int8", "uint32"])
def test_packed_masks_give_the_same_network_as_float32(dtype):
    """EC's int8 and bit-packed paths (spikes x masks, exact counts) must not change a single spike."""
    mod = generated(SPECS / "ec_hopper.snn")
    keys = jax.random.split(jax.random.PRNGKey(8), 5)
    theta = {name: jax.random.bernoulli(k, 0.5, pr["shape"]) for k, (name, pr) in zip(keys, mod.PROJECTIONS.items())}
    dtypes = {k: jnp.dtype(dtype) if pr["carries_spikes"] else jnp.float32 for k, pr in mod.PROJECTIONS.items()}
    runs = []
    for types in (None, dtypes):
        w = network_weights(mod, theta, {}, types)
        bp, bc = mod.block_params(theta, {})
        x = mod.init_state(keys[3], bp)
        step = jax.jit(lambda x, o: mod.forward_step(w, bp, bc, x, {"obs": o}, keys[4]))
        trace = []
        for t in range(10):
            x, action = step(x, 2.0 * jax.random.normal(jax.random.fold_in(keys[4], t), (11,)))
            trace.append((np.asarray(x["hidden"]["s"]), np.asarray(action)))
        runs.append(trace)
    assert w["w1"].dtype == jnp.dtype(dtype)
    for (s32, a32), (s8, a8) in zip(*runs):
        np.testing.assert_array_equal(s32, s8)
        np.testing.assert_allclose(a32, a8, rtol=1e-6)


# ---------------------------------------------------------------- the NES update, by hand

def test_centered_ranks():
    np.testing.assert_allclose(centered_ranks(jnp.array([3.0, 1.0, 2.0, 10.0])),
                               [1 / 6, -0.5, -1 / 6, 0.5], atol=1e-6)


class _Cfg:
    def __init__(self, mod, n_train, **train):
        self.model = mod
        self.cfg = {"train": {**mod.CONFIG["train"], **train}}
        self.n_train = n_train


def test_nes_gradient_and_adam_step_by_hand():
    mod = generated(SPECS / "quickstart.snn")
    rho = {"w0": jnp.full((1, 2), 0.5)}
    members = {"w0": jnp.array([[[1, 0]], [[0, 1]], [[1, 1]]], jnp.float32)}
    u = centered_ranks(jnp.array([1.0, 2.0, 3.0]))  # [-0.5, 0, 0.5]
    fake = _Cfg(mod, 3, lr=0.15, eps=1e-3, weight_decay=0.0)
    state = {"theta": rho, "opt": ec_optimizer(fake.cfg["train"]).init(rho)}
    new = ECTrainer.update(fake, state, natural_gradient(members, rho, u))  # the gradient reads the sampled masks
    # natural gradient g = mean(u * (theta - rho)) = [0, 1/6]; Adam's first step moves each entry by
    # lr * g/|g| (bias-corrected), toward higher fitness; g = 0 leaves the entry alone
    np.testing.assert_allclose(new["theta"]["w0"], [[0.5, 0.65]], atol=1e-6)
    # clipping to [eps, 1 - eps]
    state = {"theta": {"w0": jnp.array([[0.999, 0.0015]])}}
    state["opt"] = ec_optimizer(fake.cfg["train"]).init(state["theta"])
    members = {"w0": jnp.array([[[1, 0]], [[1, 0]], [[0, 1]]], jnp.float32)}
    u = jnp.array([0.5, 0.0, -0.5])
    new = ECTrainer.update(fake, state, natural_gradient(members, state["theta"], u))
    np.testing.assert_allclose(new["theta"]["w0"], [[0.999, 0.001]], atol=1e-7)


def test_es_antithetic_gradient_by_hand():
    spec = SPECS / "es_hopper.snn"
    mod = generated(spec, ["train.population=8", "train.eval_copies=2"])
    theta = {"w0": jnp.zeros((1,))}
    noise = {"w0": jnp.array([[1.0], [2.0], [-1.0]])}  # three pairs
    fake = _Cfg(mod, 6, lr=0.1, sigma=0.5, weight_decay=0.0)
    fake.n_pairs = 3
    state = {"theta": theta, "opt": es_optimizer(fake.cfg["train"]).init(theta)}
    # members: +eps pairs score [3, 1, 2], -eps pairs score [0, 4, 5] -> ranks over the six
    fitness = jnp.array([3.0, 1.0, 2.0, 0.0, 4.0, 5.0])
    u = centered_ranks(fitness)
    new = ESTrainer.update(fake, state, antithetic_gradient(noise, u, 0.5))
    w = np.asarray(u[:3] - u[3:])
    g = (w * 0.5 * np.array([1.0, 2.0, -1.0])).mean()
    # AdamW first step: lr * sign(g) (weight decay of zero weights is zero)
    np.testing.assert_allclose(new["theta"]["w0"], [0.1 * np.sign(g)], atol=1e-6)


@pytest.mark.slow
def test_es_ranks_only_the_antithetic_pairs():
    """An odd number of sampled members leaves one unperturbed: it must not shift the pairs' ranks."""
    mod = generated(SPECS / "es_hopper.snn", ["task.env=inverted_pendulum", "train.population=9",
                                               "train.eval_copies=2", "task.episode_length=5", "time.substeps=2"])
    trainer = trainer_of(mod)
    assert (trainer.n_train, trainer.n_pairs, trainer.n_ranked) == (7, 3, 6)
    _, metrics = trainer.generation(trainer.state, jax.random.PRNGKey(0), trainer.pool)
    assert np.isfinite(float(metrics["fitness"]))


# ---------------------------------------------------------------- training, resume, standalone file

def _final_params(out_dir):
    with np.load(os.path.join(out_dir, "checkpoint.npz")) as data:
        params = [data[k] for k in sorted(data.files) if k.startswith("state/")]
    assert params, "no state/ arrays in the checkpoint"
    return params


def _rows(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_resume_equals_uninterrupted(tmp_path):
    mod = generated(SPECS / "quickstart.snn", TINY)
    a, b = tmp_path / "a", tmp_path / "b"
    train(mod, out_dir=str(a), seed=7, sets=["train.generations=4"])
    train(mod, out_dir=str(b), seed=7, sets=["train.generations=2"])
    train(mod, out_dir=str(b), seed=0, resume=True, sets=["train.generations=4"])  # seed comes from the checkpoint
    for x, y in zip(_final_params(a), _final_params(b)):
        np.testing.assert_array_equal(x, y)
    assert [r["generation"] for r in _rows(b)] == [1, 2, 3, 4]
    assert [r["fitness"] for r in _rows(a)] == [r["fitness"] for r in _rows(b)]


@pytest.mark.slow
def test_resume_after_sigkill_and_standalone_file(tmp_path):
    """The emitted file runs with snndsl unimportable; SIGKILL mid-run; --resume finishes the same run."""
    train_py = tmp_path / "train.py"
    r = cli_in_process("emit", SPECS / "quickstart.snn", "-o", train_py, *sum((["--set", s] for s in TINY), []),
                       cwd=ROOT)  # the emitted file's processes below are the point
    assert r.returncode == 0, r.stderr
    imports = "\n".join(line for line in train_py.read_text().splitlines() if line.startswith(("import", "from")))
    assert not re.search(r"\bsnndsl\b", imports), imports  # the runtime only, never the compiler
    assert "import snndsl_runtime" in imports and (tmp_path / "snndsl_runtime" / "loop.py").exists()
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text("import sys\nsys.modules['snndsl'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(block)}
    blocked = subprocess.run([PYTHON, "-c", "import snndsl"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert blocked.returncode != 0 and "import of snndsl halted" in blocked.stderr, blocked.stderr  # the block works
    args = [PYTHON, str(train_py), "--set", "train.generations=30", "--seed", "3"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    r = subprocess.run(args + ["--out", str(full)], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert (full / "train.py").read_text() == train_py.read_text()  # the run folder holds its program
    assert (full / "snndsl_runtime" / "loop.py").read_text() == (tmp_path / "snndsl_runtime" / "loop.py").read_text()
    proc = subprocess.Popen(args + ["--out", str(killed)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (killed / "checkpoint.npz").exists() and len(_rows(killed)) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(_rows(killed)) < 30, "the run finished before it could be killed"
    r = subprocess.run(args + ["--out", str(killed), "--resume"], capture_output=True, text=True, cwd=tmp_path,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert [row["generation"] for row in _rows(killed)] == list(range(1, 31))
    for x, y in zip(_final_params(full), _final_params(killed)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_tiny_ec_run_improves(tmp_path):
    mod = generated(SPECS / "quickstart.snn", ["train.population=128", "train.eval_copies=8",
                                                "task.episode_length=100"])
    rows = train(mod, out_dir=str(tmp_path), seed=0, sets=["train.generations=18", "train.checkpoint_every=18"])
    first = np.mean([r["eval_fitness"] for r in rows[:3]])
    last = np.mean([r["eval_fitness"] for r in rows[-3:]])
    assert last > 2.5 * first, (first, last)  # seeds 0-3 measured: 3.2x to 5.5x
    assert (tmp_path / "curve.png").exists() and (tmp_path / "tensorboard").is_dir()
