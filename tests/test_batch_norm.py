"""`norm = batch` on a projection (snndsl_runtime.layers.batch_norm): the op against numpy, BPTT
against jax.grad of a batched network written out here, the running statistics, STOP against BPTT
at T = 1 (conv and dense; `pytest -k "stop and exact"` selects them) and against the trace
approximation written out at T > 1, checkpoints, and training end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime.layers import BATCH_AXIS, batch_norm, batch_norm_vjp, norm_keys, running_stats
from snndsl_runtime.network import init_parameters, network, readable_parameters, tau_from_raw
from snndsl_runtime.tasks.datasets import load_task
from snndsl_runtime.trainers.bptt import sequence_loss
from snndsl_runtime.trainers.gradient import cross_entropy, loss_weights, train_batch
from snndsl_runtime.trainers.stop import stop_gradients

from .conftest import SPECS, generated, trainer_of, write_spec
from .test_stop import _assert_equal, _rel

HEAD = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = STEPS }
task digits { }
input pixels = current
"""

# two dense layers, each normalised: BN on an input projection and on one carrying spikes
DENSE_BN = HEAD + """
population h1 = LIF(24) { tau_m = 3 ms; v_th = 0.5; learn v_th per neuron; learn tau_m per population }
population h2 = LIF(16) { tau_m = 3 ms; v_th = 0.5; learn v_th per neuron }
output logits = instant(h2)
project pixels -> h1.v { weights = dense(init = normal(0, 0.3)); learn w; norm = batch; gain = 0.8 }
project h1 -> h2.v     { weights = dense(init = normal(0, 0.3)); learn w; norm = batch }
project h2 -> logits   { weights = dense(init = lecun); learn w }
train RULE { batch_size = 8; loss = per_step; surrogate = fast_sigmoid(slope = 5) }
"""

ONE_DENSE_BN = HEAD + """
population h1 = LIF(24) { tau_m = 3 ms; v_th = 0.5; learn v_th per neuron }
output logits = instant(h1)
project pixels -> h1.v { weights = dense(init = normal(0, 0.3)); learn w; norm = batch; gain = 1.5 }
project h1 -> logits   { weights = dense(init = lecun); learn w }
train stop { batch_size = 8; loss = per_step; surrogate = fast_sigmoid(slope = 5) }
"""

CONV_BN = HEAD + """
population c1 = LIF([4, 8, 8]) { tau_m = 3 ms; v_th = 0.5; learn v_th per channel; learn tau_m per population }
population c2 = LIF([6, 4, 4]) { tau_m = 3 ms; v_th = 0.5; learn v_th per channel }
output logits = instant(c2)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); init = kaiming; learn w; norm = batch }
project c1 -> c2.v     { weights = conv2d(kernel = 3, stride = 2, padding = same); init = kaiming; learn w; norm = batch }
project c2 -> logits   { weights = dense(init = lecun); learn w }
train RULE { batch_size = 8; loss = per_step; surrogate = fast_sigmoid(slope = 5) }
"""

ONE_CONV_BN = HEAD + """
population c1 = LIF([4, 8, 8]) { tau_m = 3 ms; v_th = 0.5; learn v_th per channel; learn tau_m per population }
output logits = instant(c1)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); init = kaiming; learn w; norm = batch }
project c1 -> logits   { weights = dense(init = lecun); learn w }
train stop { batch_size = 8; loss = per_step; surrogate = fast_sigmoid(slope = 5) }
"""


def _model(tmp_path, text, steps, rule="surrogate", name="spec.snn"):
    return generated(write_spec(tmp_path, text.replace("STEPS", str(steps)).replace("RULE", rule), name))


def _batch(mod, n=8):
    x, y = load_task(mod, mod.CONFIG["task"])["train"]
    return jnp.asarray(x[:n]), jnp.asarray(y[:n])


def _numpy_bn(z, scale, shift, channels, eps=1e-5):
    """z (B, positions * C) channels-last: per channel over the batch and positions."""
    zc = z.reshape(z.shape[0], -1, channels).astype(np.float64)
    mean, var = zc.mean((0, 1)), zc.var((0, 1))
    return ((zc - mean) / np.sqrt(var + eps) * scale + shift).reshape(z.shape), mean, var


def test_batch_norm_in_a_named_vmap_is_the_batch_formula_and_eval_uses_running_stats():
    rng = np.random.default_rng(0)
    b, positions, c = 5, 6, 3
    z = rng.normal(1.0, 2.0, size=(b, positions * c)).astype(np.float32)
    scale, shift = rng.normal(size=c).astype(np.float32), rng.normal(size=c).astype(np.float32)
    info = {"channels": c, "positions": positions, "momentum": 0.1, "eps": 1e-5}
    norm = {"scale": jnp.asarray(scale), "shift": jnp.asarray(shift)}

    def one(zs):
        stats = {}
        y = batch_norm(zs, norm, info, stats, "k")
        return y, stats["k"]["mean"], stats["k"]["var"]

    def train(zb):
        return jax.vmap(one, axis_name=BATCH_AXIS)(zb)

    y, mean, var = train(jnp.asarray(z))
    ref, ref_mean, ref_var = _numpy_bn(z, scale, shift, c)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(mean)[0], ref_mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(var)[0], ref_var, rtol=1e-5)
    # the gradient through the collective: the batch formula's, cross-sample terms included
    g = rng.normal(size=z.shape).astype(np.float32)

    def batched(zb):
        zc = zb.reshape(b, positions, c)
        m = zc.mean((0, 1))
        v = ((zc - m) ** 2).mean((0, 1))
        return ((zc - m) / jnp.sqrt(v + 1e-5) * scale + shift).reshape(zb.shape)

    got = jax.grad(lambda zb: jnp.sum(train(zb)[0] * g))(jnp.asarray(z))
    want = jax.grad(lambda zb: jnp.sum(batched(zb) * g))(jnp.asarray(z))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)
    # STOP's J^T, written out from the centered values batch_norm records: the same vjp
    def recorded(zs):
        stats = {}
        batch_norm(zs, norm, info, stats, "k")
        return stats["k"]["centered"]

    centered = jax.vmap(recorded, axis_name=BATCH_AXIS)(jnp.asarray(z))
    direct = batch_norm_vjp(centered, jnp.asarray(g), norm, jnp.asarray(ref_var), info)
    np.testing.assert_allclose(np.asarray(direct), np.asarray(want), rtol=1e-4, atol=1e-5)
    # evaluation: the running statistics, sample by sample, no batch axis needed
    run = {**norm, "mean": jnp.asarray([0.5, -1.0, 2.0]), "var": jnp.asarray([4.0, 1.0, 0.25])}
    y = np.asarray(batch_norm(jnp.asarray(z[0]), run, info)).reshape(positions, c)
    want = (z[0].reshape(positions, c) - [0.5, -1.0, 2.0]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-5) * scale + shift
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def _reference(mod, theta, xb, yb, weights):
    """DENSE_BN written out over the batch: BN over axis 0 at each step; returns (loss, per-step stats)."""
    gains = [mod.PROJECTIONS["w0"]["gain"], mod.PROJECTIONS["w1"]["gain"]]
    decay1 = jnp.exp(-1.0 / tau_from_raw(theta["h1.tau_m"], 1.0))
    decay2 = np.exp(-1.0 / 3.0)
    v1, v2 = jnp.zeros((xb.shape[0], 24)), jnp.zeros((xb.shape[0], 16))
    total, stats = 0.0, {"w0": [], "w1": []}

    def bn(z, k):
        m = z.mean(0)
        v = ((z - m) ** 2).mean(0)
        stats[k].append((m, v))
        return (z - m) / jnp.sqrt(v + 1e-5) * theta[k + ".scale"] + theta[k + ".shift"]

    for t in range(mod.STEPS):
        v1 = decay1 * v1 + gains[0] * bn(xb @ theta["w0"], "w0")
        s1 = mod.spike(v1 - theta["h1.v_th"])
        v1 = v1 - mod.reset_gate(s1) * theta["h1.v_th"]
        v2 = decay2 * v2 + gains[1] * bn(s1 @ theta["w1"], "w1")
        s2 = mod.spike(v2 - theta["h2.v_th"])
        v2 = v2 - mod.reset_gate(s2) * theta["h2.v_th"]
        total = total + weights[t] * jax.vmap(cross_entropy)(s2 @ theta["w2"], yb)
    return jnp.mean(total), stats


def test_bptt_with_batch_norm_is_jax_grad_of_the_network_written_out(tmp_path):
    mod = _model(tmp_path, DENSE_BN, 4)
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    assert {"w0.scale", "w0.shift", "w1.scale", "w1.shift"} <= set(theta) and {"w0.mean", "w1.var"} <= set(fixed)
    xb, yb = _batch(mod)
    weights = jnp.asarray(loss_weights("per_step", mod.STEPS))
    key = jax.random.PRNGKey(2)
    (loss, (outs, stats)), g = jax.value_and_grad(
        lambda th: sequence_loss(mod, weights, th, fixed, xb, yb, key), has_aux=True)(theta)
    ref_loss, ref_g = jax.value_and_grad(lambda th: _reference(mod, th, xb, yb, weights)[0])(theta)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    for k in ref_g:
        assert np.linalg.norm(np.ravel(ref_g[k])) > 0 or k.endswith("tau_m"), k
        assert _rel(g[k], ref_g[k]) < 1e-4, (k, _rel(g[k], ref_g[k]))
    _, ref_stats = _reference(mod, theta, xb, yb, weights)
    for k in ("w0", "w1"):
        np.testing.assert_allclose(stats[k][0], np.stack([m for m, _ in ref_stats[k]]), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(stats[k][1], np.stack([v for _, v in ref_stats[k]]), rtol=1e-4, atol=1e-6)
    assert float(np.ptp(np.asarray(stats["w1"][0]), axis=0).max()) > 0, "spike statistics vary over time"


def test_bptt_remat_equal_and_running_stats_move_by_the_momentum_rule(tmp_path):
    mod = _model(tmp_path, CONV_BN, 3)
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    xb, yb = _batch(mod)
    weights = jnp.asarray(loss_weights("per_step", mod.STEPS))
    key = jax.random.PRNGKey(2)
    grads = [jax.grad(lambda th: sequence_loss(mod, weights, th, fixed, xb, yb, key, remat)[0])(theta)
             for remat in (False, True)]
    for k in grads[0]:
        assert np.linalg.norm(np.ravel(grads[0][k])) > 0 or k.endswith("tau_m"), k
        np.testing.assert_allclose(np.asarray(grads[1][k]), np.asarray(grads[0][k]), rtol=1e-5, atol=1e-7)
    # one training step of the trainer: running = 0.9 running + 0.1 (mean over steps of the step's statistics)
    tr = trainer_of(mod)
    state = {"theta": theta, "fixed": fixed, "opt": tr.optimizer.init(theta)}
    _, stats = train_batch(mod, theta, fixed, xb, jax.random.split(key, 8))
    new, _ = jax.jit(tr.train_step)(state, xb, yb, key)
    for k, c, positions in (("w0", 4, 64), ("w1", 6, 16)):
        mean, var = np.asarray(stats[k][0]), np.asarray(stats[k][1])
        assert mean.shape == var.shape == (3, c)
        n = 8 * positions
        np.testing.assert_allclose(new["fixed"][k + ".mean"], 0.1 * mean.mean(0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(new["fixed"][k + ".var"], 0.9 + 0.1 * var.mean(0) * n / (n - 1), rtol=1e-5)
    # the hand-written running update, and the readable names
    moved = running_stats(mod, fixed, {"w1": (jnp.ones((3, 6)), jnp.full((3, 6), 2.0))}, 8)
    np.testing.assert_allclose(moved["w1.var"], 0.9 + 0.2 * 128 / 127, rtol=1e-6)
    names = readable_parameters(mod, theta, fixed)
    assert {"norm/pixels->c1.v/scale", "norm/c1->c2.v/shift", "norm/c1->c2.v/mean", "norm/c1->c2.v/var"} <= set(names)


def _stop_and_bptt(mod, n=8):
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    xb, yb = _batch(mod, n)
    key = jax.random.PRNGKey(5)
    weights = loss_weights("per_step", mod.STEPS)
    g_stop, loss_stop, _, stats = jax.jit(lambda *a: stop_gradients(mod, weights, *a))(theta, fixed, xb, yb, key)
    (loss, (_, bptt_stats)), g_bptt = jax.value_and_grad(
        lambda th: sequence_loss(mod, jnp.asarray(weights), th, fixed, xb, yb, key), has_aux=True)(theta)
    np.testing.assert_allclose(loss_stop, loss, rtol=1e-5)
    assert set(stats) == set(bptt_stats) == set(norm_keys(mod))
    for k in bptt_stats:  # the same forward pass: the same statistics
        np.testing.assert_allclose(stats[k][0], bptt_stats[k][0], rtol=1e-5, atol=1e-6)
    return g_stop, g_bptt, (theta, fixed, xb, yb, key, weights)


@pytest.mark.parametrize("spec", ["dense", "conv"])
def test_stop_exact_T1_with_batch_norm(tmp_path, spec):
    mod = _model(tmp_path, DENSE_BN if spec == "dense" else CONV_BN, 1, "stop")
    g_stop, g_bptt, _ = _stop_and_bptt(mod)
    assert {"w0.scale", "w1.shift"} <= set(g_bptt)
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_stop_with_batch_norm_at_T4_is_the_trace_approximation_written_out(tmp_path):
    """Two dense layers with BN, T = 4: STOP's gradients are those of each step's loss with the
    previous state held, BN's Jacobian at step t applied to the presynaptic trace (written out here
    with jax.grad over the batch and traces injected as derivatives).  On the second layer (spikes
    in, so BN's input changes over time) that differs from BPTT, although the last hidden layer is
    exact without BN; the first layer's static images keep its BN input the same at every step."""
    mod = _model(tmp_path, DENSE_BN.replace(" learn tau_m per population }", " }"), 4, "stop")
    g_stop, g_bptt, (theta, fixed, xb, yb, key, weights) = _stop_and_bptt(mod)
    gains = [mod.PROJECTIONS["w0"]["gain"], mod.PROJECTIONS["w1"]["gain"]]
    decay = np.exp(-1.0 / 3.0)
    sg = jax.lax.stop_gradient

    def bn(z, th, k):
        m = z.mean(0)
        var = ((z - m) ** 2).mean(0)
        return (z - m) / jnp.sqrt(var + 1e-5) * th[k + ".scale"] + th[k + ".shift"]

    def traced(signal, trace, w):  # value signal @ w; derivative in w: trace @ dw, in signal: ds @ w
        return signal @ sg(w) + sg(trace) @ w - sg(trace @ w)

    def step_loss(th, state, t):
        (v1, v2, k1, k2, e0, e1) = state
        vth1, vth2 = th["h1.v_th"], th["h2.v_th"]
        e0 = decay * e0 + xb
        u1 = decay * (v1 + k1 * (vth1 - sg(vth1))) + gains[0] * bn(traced(xb, e0, th["w0"]), th, "w0")
        s1 = mod.spike(u1 - vth1)
        e1 = decay * e1 + sg(s1)
        u2 = decay * (v2 + k2 * (vth2 - sg(vth2))) + gains[1] * bn(traced(s1, e1, th["w1"]), th, "w1")
        s2 = mod.spike(u2 - vth2)
        loss = weights[t] * jnp.sum(jax.vmap(cross_entropy)(s2 @ th["w2"], yb)) / xb.shape[0]
        # after the step: soft reset (detached), and d(v)/d(v_th) along each neuron's own recurrence
        new = (u1 - sg(s1) * vth1, u2 - sg(s2) * vth2, decay * k1 - s1, decay * k2 - s2, e0, e1)
        return loss, sg(new)

    total = jax.tree.map(jnp.zeros_like, theta)
    state = (jnp.zeros((8, 24)), jnp.zeros((8, 16)), jnp.zeros((8, 24)), jnp.zeros((8, 16)),
             jnp.zeros_like(xb), jnp.zeros((8, 24)))
    for t in range(mod.STEPS):
        g, state = jax.grad(step_loss, has_aux=True)(theta, state, t)
        total = jax.tree.map(jnp.add, total, g)
    for k in theta:
        assert np.linalg.norm(np.ravel(total[k])) > 0, k
        assert _rel(g_stop[k], total[k]) < 1e-4, (k, _rel(g_stop[k], total[k]))
    assert _rel(g_stop["w1"], g_bptt["w1"]) > 1e-3  # approximate: BN's input is the current, not the trace


def test_stop_with_batch_norm_over_one_conv_layer_is_aligned_with_bptt(tmp_path):
    """The measured gap at T = 4 (one hidden conv layer with BN): cosine of every gradient > 0.9."""
    mod = _model(tmp_path, ONE_CONV_BN, 4, "stop")
    g_stop, g_bptt, _ = _stop_and_bptt(mod)
    for k in g_bptt:
        a, b = np.ravel(g_stop[k]), np.ravel(g_bptt[k])
        if np.linalg.norm(b) == 0:
            continue
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        assert cos > 0.9, (k, cos)


def test_evaluation_uses_the_running_statistics(tmp_path):
    mod = _model(tmp_path, DENSE_BN, 2)
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    w, _, _ = network(mod, theta, fixed)
    assert set(w["w0.norm"]) == {"scale", "shift", "mean", "var"}
    w, _, _ = network(mod, theta, fixed, train=True)
    assert set(w["w0.norm"]) == {"scale", "shift"}
    # a trainer's evaluation runs sample by sample (no batch axis): with running stats it must work,
    # and a changed running mean changes its outputs
    tr = trainer_of(mod)
    loss0, _ = tr.score_split(*tr.data["test"])
    tr.state = {**tr.state, "fixed": {**tr.state["fixed"], "w0.mean": tr.state["fixed"]["w0.mean"] + 3.0}}
    loss1, _ = tr.score_split(*tr.data["test"])
    assert np.isfinite(loss0) and loss1 != loss0


def test_online_stop_with_batch_norm_moves_running_stats_once_per_batch(tmp_path):
    # a learning rate too small to move the statistics: the running ones are the momentum rule's
    mod = _model(tmp_path, CONV_BN.replace("loss = per_step;", "loss = per_step; update = online; "
                                           "optimizer = adam(lr = 1e-9);"), 2, "stop")
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    xb, yb = _batch(mod)
    tr = trainer_of(mod)
    state = {"theta": theta, "fixed": fixed, "opt": tr.optimizer.init(theta)}
    new, m = jax.jit(tr.train_step)(state, xb, yb, jax.random.PRNGKey(3))
    assert np.isfinite(float(m["loss"]))
    assert not np.array_equal(new["theta"]["w1.shift"], theta["w1.shift"])  # learned, if barely
    _, stats = train_batch(mod, theta, fixed, xb, jax.random.split(jax.random.PRNGKey(3), 8))
    for k in ("w0", "w1"):
        assert float(np.abs(np.asarray(new["fixed"][k + ".mean"])).max()) > 0
        np.testing.assert_allclose(new["fixed"][k + ".mean"], 0.1 * np.asarray(stats[k][0]).mean(0), rtol=1e-4, atol=1e-6)


def test_checkpoint_and_resume_keep_running_stats(tmp_path):
    from snndsl_runtime import train

    mod = _model(tmp_path, CONV_BN, 2, "surrogate")
    a, b = tmp_path / "a", tmp_path / "b"
    ra = train(mod, out_dir=str(a), seed=5, sets=["train.epochs=2", "train.batch_size=128"])
    train(mod, out_dir=str(b), seed=5, sets=["train.epochs=1", "train.batch_size=128"])
    rb = train(mod, out_dir=str(b), seed=0, resume=True, sets=["train.epochs=2", "train.batch_size=128"])
    ca, cb = np.load(a / "checkpoint.npz"), np.load(b / "checkpoint.npz")
    running = [k for k in ca.files if k.endswith("w1.mean") or k.endswith("norm/c1->c2.v/mean")]
    assert len(running) == 2, ca.files  # in the state and among the readable parameters
    assert all(np.abs(ca[k]).max() > 0 for k in running)
    assert sorted(ca.files) == sorted(cb.files)
    for k in ca.files:
        if k != "meta":
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
    assert rb[-1]["test_accuracy"] == ra[-1]["test_accuracy"]


def test_check_prints_the_norm_and_counts_its_parameters_and_export_refuses_it(tmp_path, capsys):
    from snndsl import cli

    path = write_spec(tmp_path, CONV_BN.replace("STEPS", "2").replace("RULE", "stop"))
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv2d 3x3/2 same kaiming + batch norm (6 channels)" in out
    assert f"{2 * (4 + 6)} batch norm scales and shifts" in out
    dense = write_spec(tmp_path, ONE_DENSE_BN.replace("STEPS", "2"), "dense.snn")
    assert cli.main(["export", "--untrained", str(dense), "-o", str(tmp_path / "m.nir")]) == 2
    err = capsys.readouterr().err
    assert "E881" in err and "batch-normalised" in err


def test_export_refuses_a_batch_normalised_convolution_at_its_norm(tmp_path, capsys):
    """Convolutions export to NIR now, so BN alone stops this one: one E881 per normalised projection,
    each located at its `norm` value, and nothing about the convolutions themselves."""
    from snndsl import cli

    path = write_spec(tmp_path, CONV_BN.replace("STEPS", "2").replace("RULE", "stop"))
    assert cli.main(["export", "--untrained", str(path), "-o", str(tmp_path / "m.nir")]) == 2
    err = capsys.readouterr().err
    assert err.count("error[E881]") == 2 and err.count("batch-normalised") == 2, err
    lines = path.read_text().splitlines()
    for name, line_start in (("pixels->c1.v", "project pixels -> c1.v"), ("c1->c2.v", "project c1 -> c2.v")):
        row = next(i for i, t in enumerate(lines, 1) if t.startswith(line_start))
        col = lines[row - 1].index("norm = batch") + len("norm = ") + 1  # the caret under `batch`
        assert f"spec.snn:{row}:{col}" in err and f"`{name}`" in err, err
    assert not (tmp_path / "m.nir").exists()


def test_batch_norm_refused_on_a_brax_task(tmp_path):
    from snndsl import compile_spec

    text = (SPECS / "sg_hopper.snn").read_text().replace("learn w }", "learn w; norm = batch }", 1)
    spec, diags, _ = compile_spec(str(write_spec(tmp_path, text)))
    e628 = [d for d in diags if d.code == "E628"]
    assert spec is None and e628 and "Brax" in e628[0].message


# the previous tests' conv net, trained as a user would: `snndsl run`, then `snndsl eval`
CONV_BN_RUN = CONV_BN.replace("STEPS", "4").replace(
    "batch_size = 8;", "epochs = 3; batch_size = 32;").replace(
    "surrogate = fast_sigmoid(slope = 5)", "surrogate = fast_sigmoid(slope = 5); optimizer = adam(lr = 3e-3)")


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["stop", "surrogate"])
def test_run_and_eval_of_a_conv_net_with_batch_norm_learns_digits(tmp_path, rule):
    from .test_cli_run import snndsl_here as snndsl  # in-process: what it learns, not the process

    out = tmp_path / "run"
    spec = write_spec(tmp_path, CONV_BN_RUN.replace("RULE", rule))
    r = snndsl("run", str(spec), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert rows[-1]["test_accuracy"] > 0.7 and rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["silent/c2"] < 0.5
    r = snndsl("eval", str(out))
    assert r.returncode == 0, r.stderr
    evaluated = json.loads(r.stdout.strip().splitlines()[-1])
    # eval scores the checkpoint as the last epoch did: with the running statistics
    assert evaluated["test_accuracy"] == pytest.approx(rows[-1]["test_accuracy"])
    # and it reads them: the running statistics of an untrained net (mean 0, variance 1) score worse
    ckpt = out / "checkpoint.npz"
    arrays = dict(np.load(ckpt))
    for k in [k for k in arrays if k.endswith(".mean") or k.endswith("/mean")]:
        arrays[k] = np.zeros_like(arrays[k])
    for k in [k for k in arrays if k.endswith(".var") or k.endswith("/var")]:
        arrays[k] = np.ones_like(arrays[k])
    np.savez(ckpt, **arrays)
    r = snndsl("eval", str(out))
    assert r.returncode == 0, r.stderr
    reset = json.loads(r.stdout.strip().splitlines()[-1])
    assert reset["test_accuracy"] < evaluated["test_accuracy"] - 0.05, (reset, evaluated)
