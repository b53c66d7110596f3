"""Shaped populations, convolution and pooling projections (snndsl_runtime/layers.py): the ops
against loops written out in numpy, the channels-last layout, Kaiming's fan-in, residual sums,
STOP against jax.grad BPTT over a conv layer (`pytest -k "stop and exact"` selects those too),
and BPTT with and without remat."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl import cli, compile_spec
from snndsl_runtime.layers import apply_projection, per_channel, to_image, weight_gradient
from snndsl_runtime.network import init_parameters, sample_init
from snndsl_runtime.tasks.datasets import load_task
from snndsl_runtime.trainers.bptt import sequence_loss
from snndsl_runtime.trainers.gradient import loss_weights

from .conftest import SPECS, generated, write_spec
from .test_stop import _assert_equal, _grads

HEAD = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = STEPS }
task digits { }
input pixels = current
"""

# one hidden conv layer and a dense readout: STOP equals BPTT at every T
ONE_CONV = HEAD + """
population c1 = LIF([4, 8, 8]) { tau_m = 3 ms; v_th = 0.3; learn v_th per channel; learn tau_m per population }
output logits = instant(c1)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same, init = normal(0, 0.5)); learn w }
project c1 -> logits   { weights = dense(init = lecun); learn w }
train stop { batch_size = 8; loss = LOSS; surrogate = fast_sigmoid(slope = 5) }
"""

# conv, pooling, a strided conv, and a residual second path into c2: at T = 1 STOP is BPTT
DEEP_CONV = HEAD + """
population c1 = LIF([4, 8, 8]) { tau_m = 3 ms; v_th = 0.3; learn v_th per channel }
population p1 = LIF([4, 4, 4]) { tau_m = 3 ms; v_th = 0.2 }
population c2 = LIF([6, 2, 2]) { tau_m = 3 ms; v_th = 0.2; learn v_th per neuron }
output logits = instant(c2)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same, init = normal(0, 0.5)); learn w }
project c1 -> p1.v     { weights = POOL(2); gain = 2 }
project p1 -> c2.v     { weights = conv2d(kernel = 3, stride = 2, padding = 1); init = normal(0, 0.5); learn w }
project pixels -> c2.v { weights = dense(init = normal(0, 0.1)); learn w }
project c2 -> logits   { weights = dense(init = lecun); learn w }
train stop { batch_size = 8; loss = LOSS; surrogate = fast_sigmoid(slope = 5) }
"""


def _padded(x, pads):
    return np.pad(x, (pads[0], pads[1], (0, 0)))


def _conv_loops(x, k, stride, pads):
    """x (H, W, C_in), k (kh, kw, C_in, C_out): the cross-correlation, written out."""
    xp = _padded(x, pads)
    kh = k.shape[0]
    oh, ow = (xp.shape[0] - kh) // stride + 1, (xp.shape[1] - kh) // stride + 1
    y = np.zeros((oh, ow, k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = xp[i * stride:i * stride + kh, j * stride:j * stride + kh]
            y[i, j] = np.einsum("abc,abcd->d", patch, k)
    return y


def test_conv_matches_loops_in_channels_last_order():
    rng = np.random.default_rng(0)
    c, h, w = 2, 5, 6
    image = rng.normal(size=(c, h, w))  # channels first, as a spec writes the shape
    flat = np.transpose(image, (1, 2, 0)).reshape(-1)  # index (h * W + w) * C + c
    assert flat[(3 * w + 4) * c + 1] == image[1, 3, 4]
    kernel = rng.normal(size=(3, 3, c, 3))
    op = {"type": "conv2d", "in": (c, h, w), "out": (3, 3, 3), "kernel": 3, "stride": 2, "padding": ((1, 1), (1, 1))}
    y = np.asarray(apply_projection(jnp.asarray(flat, jnp.float32), jnp.asarray(kernel, jnp.float32), op))
    ref = _conv_loops(np.transpose(image, (1, 2, 0)), kernel, 2, ((1, 1), (1, 1)))
    np.testing.assert_allclose(y, ref.reshape(-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["avg_pool", "sum_pool", "max_pool", "global_avg_pool"])
def test_pooling_matches_numpy(kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 3))  # (H, W, C), a window of 2
    windows = x.reshape(2, 2, 3, 2, 3)
    ref = {"avg_pool": windows.mean((1, 3)), "sum_pool": windows.sum((1, 3)), "max_pool": windows.max((1, 3)),
           "global_avg_pool": x.mean((0, 1))}[kind]
    out = (3, 1, 1) if kind == "global_avg_pool" else (3, 2, 3)
    op = {"type": kind, "in": (3, 4, 6), "out": out, "size": 2}
    y = apply_projection(jnp.asarray(x.reshape(-1), jnp.float32), jnp.zeros(0), op)
    np.testing.assert_allclose(np.asarray(y), ref.reshape(-1), rtol=1e-6, atol=1e-6)


def test_weight_gradient_dense_is_the_outer_product_and_conv_the_loops():
    rng = np.random.default_rng(2)
    pre, err = rng.normal(size=(5, 7)), rng.normal(size=(5, 4))
    g = weight_gradient({"type": "dense"}, jnp.zeros((7, 4)), jnp.asarray(pre, jnp.float32), jnp.asarray(err, jnp.float32))
    np.testing.assert_allclose(np.asarray(g), pre.T @ err, rtol=1e-5, atol=1e-5)

    c, h, w, cout, k, s = 2, 5, 5, 3, 3, 2
    pads = ((1, 1), (1, 1))
    op = {"type": "conv2d", "in": (c, h, w), "out": (cout, 3, 3), "kernel": k, "stride": s, "padding": pads}
    pre, err = rng.normal(size=(4, h * w * c)), rng.normal(size=(4, 3 * 3 * cout))
    g = weight_gradient(op, jnp.zeros((k, k, c, cout)), jnp.asarray(pre, jnp.float32), jnp.asarray(err, jnp.float32))
    ref = np.zeros((k, k, c, cout))
    for b in range(4):
        xp = _padded(pre[b].reshape(h, w, c), pads)
        e = err[b].reshape(3, 3, cout)
        for i in range(3):
            for j in range(3):
                ref += np.einsum("abc,d->abcd", xp[i * s:i * s + k, j * s:j * s + k], e[i, j])
    np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-4, atol=1e-4)


def test_kaiming_fan_in_of_a_kernel_is_channels_times_window():
    v = np.asarray(sample_init(jax.random.PRNGKey(0), ("kaiming", 0.0, 1.0), (3, 3, 8, 512)))
    assert abs(v.std() - np.sqrt(2 / 72)) < 0.01 * np.sqrt(2 / 72) * 10


def test_image_task_gives_the_input_its_shape_and_check_prints_layers(tmp_path, capsys):
    path = write_spec(tmp_path, DEEP_CONV.replace("STEPS", "2").replace("LOSS", "per_step").replace("POOL", "max_pool"))
    spec, diags, _ = compile_spec(str(path))
    assert spec is not None, diags
    assert spec.inputs[0].shape == (1, 8, 8) and spec.population("c1").shape == (4, 8, 8)
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "[4, 8, 8] = 256" in out
    assert "[1, 8, 8] -> [4, 8, 8], 36 weights" in out  # 3 x 3 x 1 x 4
    assert "[4, 4, 4] -> [6, 2, 2], 216 weights" in out  # 3 x 3 x 4 x 6, stride 2
    assert "max_pool 2" in out


def test_per_channel_parameters_repeat_over_positions(tmp_path):
    mod = generated(write_spec(tmp_path, ONE_CONV.replace("STEPS", "2").replace("LOSS", "per_step")))
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(0))
    assert theta["c1.v_th"].shape == (4,)
    theta = {**theta, "c1.v_th": jnp.arange(4.0)}
    bp, _ = mod.block_params(theta, fixed)
    v_th = np.asarray(bp["c1"]["v_th"])
    h, w, c = 3, 5, 2
    assert v_th.shape == (256,) and v_th[(h * 8 + w) * 4 + c] == c
    np.testing.assert_array_equal(np.asarray(per_channel(jnp.arange(3), 2)), [0, 1, 2, 0, 1, 2])


def test_two_projections_into_one_population_add(tmp_path):
    """A residual: the conv path and the dense path into c2 sum into its drive."""
    mod = generated(write_spec(tmp_path, DEEP_CONV.replace("STEPS", "2").replace("LOSS", "per_step")
                               .replace("POOL", "avg_pool")))
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(3))
    from snndsl_runtime.network import network
    w, bp, bc = network(mod, theta, fixed)
    image = jnp.asarray(load_task(mod, mod.CONFIG["task"])["train"][0][0])
    x = mod.init_state(jax.random.PRNGKey(0), bp)
    x = {**x, "p1": {**x["p1"], "s": (jnp.arange(64) % 3 == 0).astype(jnp.float32)}}  # some spikes to carry
    drives = {}
    held = mod.hold_inputs(w, mod.encode_inputs({"pixels": image}, jax.random.PRNGKey(1)))
    new = mod.network_step(w, bp, bc, x, held, None, drives)
    conv = apply_projection(new["p1"]["s"], w["w2"], mod.PROJECTIONS["w2"]["op"])
    dense = image @ w["w3"]
    np.testing.assert_allclose(np.asarray(drives["c2"]["v"]), np.asarray(conv + dense), rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(conv).sum()) > 0 and float(jnp.abs(dense).sum()) > 0


@pytest.mark.parametrize("loss", ["per_step", "final"])
def test_stop_exact_one_hidden_conv_layer(tmp_path, loss):
    g_stop, g_bptt = _grads(tmp_path, ONE_CONV, steps=6, loss=loss)
    assert set(g_bptt) == {"w0", "w1", "c1.v_th", "c1.tau_m"}
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


@pytest.mark.parametrize("pool", ["avg_pool", "max_pool"])
def test_stop_exact_T1_deep_conv_with_pooling_and_residual(tmp_path, pool):
    g_stop, g_bptt = _grads(tmp_path, DEEP_CONV.replace("POOL", pool), steps=1)
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_bptt_remat_gives_the_same_gradients_over_conv(tmp_path):
    text = DEEP_CONV.replace("STEPS", "4").replace("POOL", "avg_pool").replace(
        "train stop { batch_size = 8; loss = LOSS;", "train surrogate { batch_size = 8; loss = per_step;")
    mod = generated(write_spec(tmp_path, text))
    theta, fixed = init_parameters(mod, jax.random.PRNGKey(1))
    x, y = load_task(mod, mod.CONFIG["task"])["train"]
    xb, yb = jnp.asarray(x[:8]), jnp.asarray(y[:8])
    weights = jnp.asarray(loss_weights("per_step", mod.STEPS))
    grads = [jax.grad(lambda th: sequence_loss(mod, weights, th, fixed, xb, yb, jax.random.PRNGKey(2), remat)[0])(theta)
             for remat in (False, True)]
    for k in grads[0]:
        assert np.linalg.norm(np.ravel(grads[0][k])) > 0, k
        np.testing.assert_allclose(np.asarray(grads[1][k]), np.asarray(grads[0][k]), rtol=1e-5, atol=1e-7)


def test_nir_export_writes_a_conv_network_and_refuses_max_pool(tmp_path, capsys):
    path = write_spec(tmp_path, ONE_CONV.replace("STEPS", "2").replace("LOSS", "per_step"))
    assert cli.main(["export", "--untrained", str(path), "-o", str(tmp_path / "m.nir")]) == 0
    assert "Conv2d" in capsys.readouterr().err
    path = write_spec(tmp_path, DEEP_CONV.replace("STEPS", "2").replace("LOSS", "per_step").replace("POOL", "max_pool"))
    assert cli.main(["export", "--untrained", str(path), "-o", str(tmp_path / "d.nir")]) == 2
    err = capsys.readouterr().err
    assert "E881" in err and "max pooling" in err and "`c1->p1.v`" in err


@pytest.mark.slow
def test_stop_digits_conv_learns(tmp_path):
    from snndsl_runtime import train

    mod = generated(SPECS / "stop_digits_conv.snn")
    rows = train(mod, out_dir=str(tmp_path), sets=["train.epochs=2"])
    assert rows[-1]["test_accuracy"] > 0.85 and rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_dataset_shapes_match_their_sizes_and_rows_are_channels_last():
    from sklearn.datasets import load_digits

    from snndsl.ir.tables import DATASET_SHAPES, DATASET_SIZES

    for name, (c, h, w) in DATASET_SHAPES.items():
        assert c * h * w == DATASET_SIZES[name][0], name
    d = load_digits()
    image = np.asarray(to_image(jnp.asarray(d.data[5]), DATASET_SHAPES["digits"]))
    np.testing.assert_array_equal(image[..., 0], d.images[5])


POOL_READOUT = HEAD.replace("STEPS", "2") + """
population c1 = LIF([4, 8, 8]) { tau_m = 2 ms }
population c2 = LIF(SHAPE) { tau_m = 2 ms }
output logits = instant(c2)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); learn w }
project c1 -> c2.v     { weights = conv2d(kernel = 4, stride = 4); learn w }
project c2 -> logits   { weights = global_avg_pool }
train stop { epochs = 1 }
"""


def test_global_pooling_into_an_output_and_a_flat_target_that_does_not_fit(tmp_path):
    spec, diags, _ = compile_spec(str(write_spec(tmp_path, POOL_READOUT.replace("SHAPE", "[10, 2, 2]"))))
    assert spec is not None, diags
    assert spec.projections[2].out_shape == (10, 1, 1)
    spec, diags, _ = compile_spec(str(write_spec(tmp_path, POOL_READOUT.replace("SHAPE", "30"), "b.snn")))
    e621 = [d for d in diags if d.code == "E621"]
    assert spec is None and e621 and "Model([C, 2, 2])" in e621[0].hint and "30 neurons" in e621[0].message

