"""EC and ES on classification datasets: the fitness of hand-built members against accuracy and
loss computed by hand, the whole population on one minibatch, test accuracy reported, learning."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime import evaluate, train
from snndsl_runtime.network import network

from .conftest import ROOT, SPECS, cli_in_process, generated, trainer_of, write_spec

SPEC = """
from "neurons" import LIF
from "encoders" import signed_current
from "readouts" import instant

time { dt = 1 ms; steps = 3 }
task digits { validation = 0.1 }

input pixels = signed_current
population exc = LIF(16) { tau_m = 5 ms; sign = +1 }
population inh = LIF(16) { tau_m = 5 ms; sign = -1 }
group hidden = [exc, inh]
output logits = instant(hidden)

project pixels -> hidden.v { weights = bernoulli(p = 0.5); gain = 1.5; learn p }
project hidden -> logits   { weights = bernoulli(p = 0.5); gain = 0.3; learn p }

train ec { population = 8; eval_copies = 2; generations = 2; batch_size = 16; FITNESS }
"""


def _model(tmp_path, fitness="fitness = accuracy"):
    return generated(write_spec(tmp_path, SPEC.replace("FITNESS", fitness)))


def _by_hand(mod, mask, fixed, xb, yb):
    """Accuracy and mean per-step cross-entropy of one boolean-mask member, sample by sample in
    numpy from forward_step (no vmap, no population)."""
    w, bp, bc = network(mod, mask, fixed)
    right, losses = 0, []
    for img, label in zip(np.asarray(xb), np.asarray(yb)):
        x = mod.init_state(jax.random.PRNGKey(0), bp)
        outs = []
        for t in range(mod.STEPS):
            x, out = mod.forward_step(w, bp, bc, x, {mod.INPUT: jnp.asarray(img)}, jax.random.PRNGKey(t))
            outs.append(np.asarray(out, np.float64))
        outs = np.stack(outs)
        right += int(np.argmax(outs.sum(0)) == label)
        logp = outs - np.log(np.exp(outs - outs.max(1, keepdims=True)).sum(1, keepdims=True)) - outs.max(1, keepdims=True)
        losses.append(-logp[:, label].mean())
    return right / len(yb), float(np.mean(losses))


@pytest.mark.parametrize("fitness", ["accuracy", "neg_loss"])
def test_fitness_of_hand_built_members_equals_the_hand_computed_value(tmp_path, fitness):
    mod = _model(tmp_path, f"fitness = {fitness}")
    tr = trainer_of(mod)
    state = tr.state
    rng = np.random.default_rng(0)
    # hand-built members: no connection, and random masks of different densities
    hand = [{k: np.zeros(v.shape, bool) for k, v in state["theta"].items()}]
    hand += [{k: rng.random(v.shape) < p for k, v in state["theta"].items()} for p in (0.3, 0.5, 0.8)]
    dtypes = tr.matmul_dtypes()
    from snndsl_runtime.network import pack_bits

    members = {k: jnp.stack([jnp.asarray(m[k]) for m in hand]) for k in state["theta"]}
    members = {k: pack_bits(v) if dtypes[k] == jnp.uint32 else v.astype(dtypes[k]) for k, v in members.items()}
    xb, yb = tr.minibatch(1)
    outs = tr.population_outputs(state, members, xb, jax.random.PRNGKey(4))
    assert outs.shape == (4, tr.batch, mod.STEPS, 10)
    from snndsl_runtime.trainers.evolution_data import member_fitness

    got = np.asarray(member_fitness(outs, yb, jnp.asarray(tr.loss_weights), fitness, "per_step"))
    for m, g in zip(hand, got):
        acc, loss = _by_hand(mod, {k: jnp.asarray(v) for k, v in m.items()}, state["fixed"], xb, yb)
        assert g == pytest.approx(acc if fitness == "accuracy" else -loss, abs=1e-5)
    assert len(set(np.round(got, 6))) > 1  # the members differ: the test can tell them apart


def test_every_member_sees_the_same_minibatch_and_it_changes_per_generation(tmp_path):
    tr = trainer_of(_model(tmp_path))
    a, b, c = tr.minibatch(1), tr.minibatch(1), tr.minibatch(2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert len(set(np.asarray(a[1]).tolist())) > 1


@pytest.mark.slow
def test_ec_and_es_on_a_dataset_report_validation_and_test(tmp_path):
    mod = _model(tmp_path)
    rows = train(mod, out_dir=str(tmp_path / "ec"), seed=1)
    assert {"fitness", "eval_fitness", "validation_accuracy", "test_accuracy", "test_loss"} <= set(rows[-1])
    assert 0 <= rows[-1]["fitness"] <= 1
    result = evaluate(mod, str(tmp_path / "ec"), best=True)
    assert "test_accuracy" in result and result["generation"] in (1, 2)
    es = SPEC.replace("learn p", "learn w").replace("bernoulli(p = 0.5)", "dense(init = normal(0, 1))") \
        .replace("train ec", "train es").replace("FITNESS", "fitness = neg_loss")
    mod = generated(write_spec(tmp_path, es, "es.snn"))
    rows = train(mod, out_dir=str(tmp_path / "es"), seed=1)
    assert rows[-1]["fitness"] < 0 and 0 <= rows[-1]["test_accuracy"] <= 1


@pytest.mark.slow
def test_ec_learns_digits_above_chance(tmp_path):
    """specs/ec_digits.snn, shrunk: well above the 10 % of chance after 40 generations."""
    out = tmp_path / "run"
    # the commands in-process (what they learn is the point here; test_cli_run starts real ones)
    r = cli_in_process("run", SPECS / "ec_digits.snn", "--out", out, "--set", "train.generations=40",
                       "--set", "train.population=128", "--set", "train.batch_size=64", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    r = cli_in_process("eval", out, "--best", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    import json

    acc = json.loads(r.stdout.strip().splitlines()[-1])["test_accuracy"]
    assert acc > 0.3, acc


@pytest.mark.slow
def test_ec_on_a_dataset_resumes_exactly(tmp_path):
    mod = _model(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    ra = train(mod, out_dir=str(a), seed=2, sets=["train.generations=3", "train.checkpoint_every=1"])
    train(mod, out_dir=str(b), seed=2, sets=["train.generations=2", "train.checkpoint_every=1"])
    rb = train(mod, out_dir=str(b), resume=True, sets=["train.generations=3"])
    ca, cb = np.load(a / "checkpoint.npz"), np.load(b / "checkpoint.npz")
    assert sorted(ca.files) == sorted(cb.files) and any(k.startswith("state/best/") for k in ca.files)
    for k in ca.files:
        if k != "meta":
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
    keep = ("fitness", "eval_fitness", "validation_accuracy", "test_accuracy", "test_loss")
    assert [ra[-1][k] for k in keep] == [rb[-1][k] for k in keep]
