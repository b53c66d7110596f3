"""The device mesh (snndsl_runtime/mesh.py, train.devices): the setting, its refusals, the exact EC
update and the regenerated ES update against the plain formulas, and (in one subprocess with 4 fake
CPU devices, tests/mesh_worker.py) EC, ES, STOP, surrogate and PPO runs on 4 devices against 1-device runs."""

import json
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl import compile_spec
from snndsl_runtime.errors import RunError
from snndsl_runtime.mesh import check_divisible, describe, device_mesh, mesh_devices
from snndsl_runtime.trainers.ec import natural_gradient, natural_gradient_from_sums, rank_sums
from snndsl_runtime.trainers.es import ESTrainer, antithetic_gradient
from snndsl_runtime.trainers.evolution import centered_ranks, ranks

from .conftest import PYTHON, ROOT, SPECS, generated, write_spec

WORKER = ROOT / "tests" / "mesh_worker.py"


# ---------------------------------------------------------------- the setting and its refusals

@pytest.mark.parametrize("value, expect", [("all", "all"), ("2", 2)])
def test_devices_setting_in_a_spec(tmp_path, value, expect):
    text = (SPECS / "quickstart.snn").read_text()
    spec, diags, _ = compile_spec(str(write_spec(tmp_path, text)), [f"train.devices={value}"])
    assert spec is not None, [d.message for d in diags]
    assert spec.train.devices == expect



def natural_gradient_from_ranks(samples, rho, rank, ranked):
    """The trainer's exact path in one call: integer rank sums of every member's masks, then the
    natural gradient (rank: each member's rank among the ranked ones; ranked: 1 where ranked)."""
    return natural_gradient_from_sums(rank_sums(samples, rank, ranked), rho, int(jnp.sum(ranked)))

def test_devices_must_be_all_or_a_positive_count(tmp_path):
    spec, diags, _ = compile_spec(str(SPECS / "quickstart.snn"), ["train.devices=0"])
    assert spec is None and [d.code for d in diags if d.is_error] == ["E401"]
    assert "must be all or a number of devices" in diags[0].message


def test_devices_set_on_a_model_file():
    from snndsl_runtime.config import apply_overrides

    mod = generated(SPECS / "quickstart.snn", ["train.devices=2"])
    cfg = apply_overrides(mod.CONFIG, ["train.devices=all"], mod.RULE, mod.TASK_KIND)
    assert cfg["train"]["devices"] == "all"
    assert apply_overrides(cfg, ["train.devices=1"], mod.RULE, mod.TASK_KIND)["train"]["devices"] == 1
    with pytest.raises(RunError) as e:
        apply_overrides(cfg, ["train.devices=most"], mod.RULE, mod.TASK_KIND)
    assert e.value.code == "E401"


def test_more_devices_than_there_are_is_e891():
    n = len(jax.devices())
    assert len(mesh_devices("all")) == n and len(mesh_devices(1)) == 1
    with pytest.raises(RunError) as e:
        mesh_devices(n + 1)
    assert e.value.code == "E891" and f"from 1 to {n}" in e.value.hint
    assert describe(device_mesh(1)) == f"1 x {jax.devices()[0].platform}"


def test_a_count_that_does_not_split_is_e892():
    class FourDevices:  # check_divisible reads only the mesh's device count and kinds
        devices = np.array(jax.devices()[:1] * 4, dtype=object)

    check_divisible(12, FourDevices, "train.population", "members")
    with pytest.raises(RunError) as e:
        check_divisible(10, FourDevices, "train.population", "members")
    assert e.value.code == "E892" and "(8 or 12)" in e.value.hint


# ---------------------------------------------------------------- the updates, against the plain formulas

def test_exact_ec_gradient_equals_the_natural_gradient_of_centered_ranks():
    rng = np.random.default_rng(0)
    n, ranked = 37, 33  # the last 4 members (eval copies) are not ranked
    samples = {"a": jnp.asarray(rng.random((n, 5, 3)) < 0.4), "b": jnp.asarray(rng.random((n, 7)) < 0.6)}
    rho = {"a": jnp.asarray(rng.random((5, 3)), jnp.float32), "b": jnp.asarray(rng.random(7), jnp.float32)}
    fitness = jnp.asarray(rng.normal(size=ranked))
    rank = jnp.concatenate([ranks(fitness), jnp.zeros(n - ranked, jnp.int32)])
    weight = jnp.concatenate([jnp.ones(ranked, jnp.int32), jnp.zeros(n - ranked, jnp.int32)])
    got = natural_gradient_from_ranks(samples, rho, rank, weight)
    want = natural_gradient({k: v[:ranked] for k, v in samples.items()}, rho, centered_ranks(fitness))
    for k in rho:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), atol=1e-6)
        assert not np.allclose(np.asarray(got[k]), 0)


def test_exact_ec_gradient_has_no_overflow_at_a_large_population():
    n = 300_000  # sum of ranks * masks is far beyond int32: split into a high and a low part
    samples = {"w": jnp.ones((n, 1), bool)}
    rank = jnp.arange(n, dtype=jnp.int32)
    g = natural_gradient_from_ranks(samples, {"w": jnp.zeros(1)}, rank, jnp.ones(n, jnp.int32))
    # every member connected: sum u = 0, so the gradient is 0
    assert abs(float(g["w"][0])) < 1e-6


def test_regenerated_es_gradient_equals_the_antithetic_gradient_of_the_members_noise():
    mod = generated(SPECS / "es_hopper.snn", ["task.env=inverted_pendulum", "train.population=300",
                                               "train.eval_copies=3", "train.devices=1"])

    class Fake:  # what ESTrainer.gradient reads
        cfg = {"train": {**mod.CONFIG["train"], "sigma": 0.3}}
        n_pairs = 148  # more than one chunk of 64, and not a multiple of it
        mesh = device_mesh(1)
        pair_noise = ESTrainer.pair_noise

    rng = np.random.default_rng(1)
    theta = {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), "v": jnp.asarray(rng.normal(size=4), jnp.float32)}
    key = jax.random.PRNGKey(5)
    fitness = jnp.asarray(rng.normal(size=2 * Fake.n_pairs))
    got = ESTrainer.gradient(Fake(), {"theta": theta}, key, None, None, fitness)
    noise = jax.vmap(lambda j: ESTrainer.pair_noise(None, theta, key, j))(jnp.arange(Fake.n_pairs))
    want = antithetic_gradient(noise, centered_ranks(fitness), 0.3)
    for k in theta:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- 4 devices against 1 (one subprocess)

# One Brax case: the rollout, the sharded reset pool and the normalizer are EvolutionTrainer's, the
# same for EC and ES (ec.py and es.py only sample members and rank them); EC's sharded sampling and
# exact update on 4 devices are checked by ec-digits, ES's by the dataset test below.
EVOLUTION = [
    (SPECS / "es_hopper.snn", ["task.env=inverted_pendulum", "train.population=24", "train.eval_copies=3",
                               "task.episode_length=20", "time.substeps=3"]),
    (SPECS / "ec_digits.snn", ["train.population=16", "train.eval_copies=4", "train.batch_size=32"]),
]
EVOLUTION_IDS = ["es-brax-odd", "ec-digits"]
GRADIENT_SPECS = ["stop_digits.snn", "surrogate_digits.snn"]


def _es_digits_text():
    text = (SPECS / "ec_digits.snn").read_text().replace("bernoulli(p = 0.5)", "dense(init = normal(0, 1))") \
        .replace("learn p", "learn w")
    return text[:text.index("train ec")] + "train es { population = 16; eval_copies = 3; batch_size = 32; fitness = neg_loss }\n"


def _jobs(folder):
    """Every job the tests below read, by name: (spec, steps, device counts, settings)."""
    jobs = {name: (spec, 2, (1, 4), sets) for name, (spec, sets) in zip(EVOLUTION_IDS, EVOLUTION)}
    jobs["es-digits"] = (write_spec(folder, _es_digits_text(), "es_digits.snn"), 3, (1, 4), [])
    for spec in GRADIENT_SPECS:
        text = (SPECS / spec).read_text()
        assert "LIF(1024)" in text
        jobs[spec] = (write_spec(folder, text.replace("LIF(1024)", "LIF(64)"), spec), 1, (1, 4), ["train.batch_size=64"])
    jobs["ppo"] = (SPECS / "sg_hopper.snn", 2, (4,), [
        "task.env=inverted_pendulum", "train.num_envs=16", "train.minibatches=2", "train.unroll_length=4",
        "train.eval_episodes=2", "task.episode_length=20", "time.substeps=3", "train.update_epochs=1"])
    jobs["bad-split"] = (SPECS / "quickstart.snn", 0, (1, 4), ["train.population=10", "train.eval_copies=2"])
    return jobs


# which jobs each test reads: the fixture runs only those of the selected tests
NEEDS = {**{f"test_evolution_on_4_devices_equals_1_device[{i}]": [i] for i in EVOLUTION_IDS},
         "test_es_on_a_dataset_on_4_devices_equals_1_device": ["es-digits"],
         **{f"test_gradient_rules_on_4_devices_agree_with_1_device[{s}]": [s] for s in GRADIENT_SPECS},
         "test_ppo_completes_on_4_devices_and_population_must_split": ["ppo", "bad-split"]}


@pytest.fixture(scope="module")
def mesh(request, tmp_path_factory):
    """One worker process (one JAX start-up, 4 fake devices) runs the selected tests' jobs; a job's
    result, by name. Each job is trained on its own trainers, as a separate launch would."""
    names = [n for item in request.session.items if item.module is request.module for n in NEEDS.get(item.name, [])]
    folder = tmp_path_factory.mktemp("mesh")
    jobs = _jobs(folder)
    listing = [{"name": n, "spec": str(jobs[n][0]), "steps": jobs[n][1], "counts": list(jobs[n][2]), "sets": jobs[n][3]}
               for n in dict.fromkeys(names)]
    (folder / "jobs.json").write_text(json.dumps(listing))
    r = subprocess.run([PYTHON, str(WORKER), str(folder / "jobs.json")], capture_output=True, text=True,
                       timeout=1800, cwd=ROOT)
    results = {}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            name, _, body = line[len("RESULT "):].partition(" ")
            results[name] = json.loads(body)

    def result(name):
        assert name in results, r.stderr[-3000:]
        out = results[name]
        assert "crash" not in out, out.get("crash")
        assert out["devices"] == 4
        return out

    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", EVOLUTION_IDS)
def test_evolution_on_4_devices_equals_1_device(mesh, name):
    out = mesh(name)
    one, four = out["1"], out["4"]
    assert four["mesh"] == "4 x cpu" and one["mesh"] == "1 x cpu"
    assert one["rows"] == four["rows"]  # every metric identical: fitness, eval fitness, held-out scores
    assert out["theta_max_diff"] == 0.0
    assert len({r["fitness"] for r in one["rows"]}) > 1  # the generations differ: the test can tell


@pytest.mark.slow
def test_es_on_a_dataset_on_4_devices_equals_1_device(mesh):
    out = mesh("es-digits")
    assert out["1"]["rows"] == out["4"]["rows"] and out["theta_max_diff"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("spec", GRADIENT_SPECS)
def test_gradient_rules_on_4_devices_agree_with_1_device(mesh, spec):
    """Data parallel: the batch split over the devices, gradients all-reduced: equal within rounding."""
    out = mesh(spec)
    (a,), (b,) = out["1"]["rows"], out["4"]["rows"]
    for k in ("train_loss", "test_loss", "param_norm"):
        assert b[k] == pytest.approx(a[k], rel=1e-4), k
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.01
    assert 0 < out["theta_max_diff"] < 1e-2  # not the same program: rounding differs, a little


@pytest.mark.slow
def test_ppo_completes_on_4_devices_and_population_must_split(mesh):
    out = mesh("ppo")
    rows = out["4"]["rows"]
    assert out["4"]["mesh"] == "4 x cpu" and len(rows) == 2 and all(np.isfinite(r["loss"]) and np.isfinite(r["eval_fitness"]) for r in rows)
    assert rows[-1]["env_steps"] == 2 * 16 * 4
    bad = mesh("bad-split")
    assert "rows" in bad["1"] and bad["4"]["error"] == "E892"  # 10 members split over 1 device, not 4
    assert "train.population = 10" in bad["4"]["message"] and "8 or 12" in bad["4"]["hint"]
