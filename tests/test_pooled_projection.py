"""A projection that pools its source before its weights (`pool = avg_pool(2)`): the op against
pooling then the layer, the shape check with the pool, the summary, and STOP against jax.grad
BPTT for one hidden conv layer fed and read through pooled projections (exact for every pool)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl import compile_spec
from snndsl.diagnostics import render_all
from snndsl.summary import summarize
from snndsl_runtime.layers import apply_projection, weight_gradient

from .conftest import generated, write_spec
from .test_conv import HEAD
from .test_stop import _assert_equal, _grads

# pixels [1, 8, 8] -> pooled to [1, 4, 4] -> conv to c1 [4, 4, 4] -> pooled again -> dense readout
POOLED = HEAD + """
population c1 = LIF([4, 4, 4]) { tau_m = 3 ms; v_th = 0.3; learn v_th per channel; learn tau_m per population }
output logits = instant(c1)
project pixels -> c1.v { pool = POOL(2); weights = conv2d(kernel = 3, padding = same, init = normal(0, 0.5)); learn w }
project c1 -> logits   { pool = READ; weights = dense(init = lecun); learn w }
train stop { batch_size = 8; loss = LOSS; surrogate = fast_sigmoid(slope = 5) }
"""


def _spec(tmp_path, text):
    spec, diags, sources = compile_spec(str(write_spec(tmp_path, text)))
    return spec, diags, render_all(diags, sources)


def test_pool_then_conv_is_the_pooling_followed_by_the_convolution():
    x = jax.random.uniform(jax.random.PRNGKey(0), (3 * 8 * 8,))
    k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 5))
    pool = {"type": "avg_pool", "in": (3, 8, 8), "out": (3, 4, 4), "size": 2}
    conv = {"type": "conv2d", "in": (3, 4, 4), "out": (5, 4, 4), "kernel": 3, "stride": 1, "padding": ((1, 1), (1, 1))}
    pooled = apply_projection(x, None, pool)
    assert pooled.shape == (48,)
    np.testing.assert_allclose(apply_projection(x, k, {**conv, "pool": pool}), apply_projection(pooled, k, conv),
                               rtol=1e-6)
    # global average pooling then dense: each channel's mean times the matrix
    m = jax.random.normal(jax.random.PRNGKey(2), (3, 7))
    gap = {"type": "dense", "pool": {"type": "global_avg_pool", "in": (3, 8, 8), "out": (3, 1, 1), "size": 0}}
    means = x.reshape(64, 3).mean(0)
    np.testing.assert_allclose(apply_projection(x, m, gap), means @ m, rtol=1e-5)
    # the weight gradient through the pool is the gradient at the pooled input
    e = jax.random.normal(jax.random.PRNGKey(3), (2, 7))
    xs = jnp.stack([x, 2 * x])
    np.testing.assert_allclose(weight_gradient(gap, m, xs, e), xs.reshape(2, 64, 3).mean(1).T @ e, rtol=1e-5)


@pytest.mark.parametrize("pool,read", [("avg_pool", "global_avg_pool"), ("sum_pool", "avg_pool(2)")])
@pytest.mark.parametrize("loss", ["per_step", "final"])
def test_stop_exact_one_hidden_conv_layer_through_pooled_projections(tmp_path, pool, read, loss):
    text = POOLED.replace("POOL", pool).replace("READ", read)
    g_stop, g_bptt = _grads(tmp_path, text, steps=5, loss=loss)
    assert set(g_bptt) == {"w0", "w1", "c1.v_th", "c1.tau_m"}
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_stop_exact_through_max_pool_of_input_spikes(tmp_path):
    """The trace runs on the pooled signal, so a maximum is exact too.  Poisson input spikes vary in
    time (for a static input max_pool of the trace would happen to agree)."""
    text = POOLED.replace("POOL", "max_pool").replace("READ", "global_avg_pool").replace(
        'import current', 'import poisson').replace("input pixels = current", "input pixels = poisson")
    g_stop, g_bptt = _grads(tmp_path, text, steps=5)
    _assert_equal(g_stop, g_bptt, g_bptt.keys())


def test_generated_weights_have_the_pooled_shape(tmp_path):
    mod = generated(write_spec(tmp_path, POOLED.replace("STEPS", "2").replace("LOSS", "per_step")
                               .replace("POOL", "avg_pool").replace("READ", "global_avg_pool")))
    assert mod.PROJECTIONS["w0"]["shape"] == (3, 3, 1, 4)
    assert mod.PROJECTIONS["w1"]["shape"] == (4, 10)
    assert mod.PROJECTIONS["w1"]["op"]["pool"]["type"] == "global_avg_pool"


def test_shape_check_counts_the_pool_and_hints_the_fitting_shape(tmp_path):
    text = POOLED.replace("STEPS", "2").replace("LOSS", "per_step").replace("POOL", "avg_pool") \
        .replace("READ", "global_avg_pool").replace("LIF([4, 4, 4])", "LIF([4, 8, 8])")
    spec, diags, out = _spec(tmp_path, text)
    assert spec is None and [d.code for d in diags] == ["E621"]
    assert "avg_pool(2) then conv2d() gives [4, 4, 4]" in out and "Model([4, 4, 4])" in out


def test_pool_of_a_flat_source_and_pool_that_is_not_a_pooling(tmp_path):
    flat = (HEAD.replace("task digits { }", "task digits { }\npopulation h = LIF(16) { tau_m = 3 ms }") + """
output logits = instant(h)
project pixels -> h.v { weights = dense(init = lecun); learn w }
project h -> logits { pool = avg_pool(2); weights = dense(init = lecun); learn w }
train stop { batch_size = 8 }
""").replace("STEPS", "2")
    spec, diags, out = _spec(tmp_path, flat)
    assert [d.code for d in diags] == ["E622"] and "flat row of 16" in out
    spec, diags, out = _spec(tmp_path, POOLED.replace("STEPS", "2").replace("LOSS", "per_step")
                             .replace("pool = POOL(2)", "pool = conv2d(kernel = 3)").replace("READ", "global_avg_pool"))
    assert [d.code for d in diags] == ["E627"]


def test_summary_shows_the_pool(tmp_path):
    spec, diags, _ = _spec(tmp_path, POOLED.replace("STEPS", "2").replace("LOSS", "per_step")
                           .replace("POOL", "avg_pool").replace("READ", "global_avg_pool"))
    text = summarize(spec)
    assert "avg_pool 2 + conv2d 3x3/1 same" in text
    assert "[1, 8, 8] avg_pool(2) [1, 4, 4] -> [4, 4, 4], 36 weights" in text
    assert "global_avg_pool + dense lecun" in text and "[4, 4, 4] global_avg_pool() [4, 1, 1] -> 10, 40 weights" in text


def test_downsampled_event_frames_give_the_input_its_shape(tmp_path):
    text = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 4 }
task dvs_gesture { path = "nowhere"; size = 16 }
input frames = current
population c1 = LIF([4, 8, 8]) { tau_m = 2 ms }
output logits = instant(c1)
project frames -> c1.v { pool = avg_pool(2); weights = conv2d(kernel = 3, padding = same); learn w }
project c1 -> logits { pool = global_avg_pool; weights = dense(init = lecun); learn w }
train stop { batch_size = 2 }
"""
    spec, diags, out = _spec(tmp_path, text)
    assert spec is not None, out
    assert spec.inputs[0].shape == (2, 16, 16)
    assert spec.projections[0].source_shape == (2, 16, 16) and spec.projections[0].in_shape == (2, 8, 8)


def test_nir_export_writes_a_pooled_dense_projection(tmp_path, capsys):
    from snndsl import cli

    text = HEAD.replace("STEPS", "2") + """
population c1 = LIF([4, 8, 8]) { tau_m = 2 ms }
output logits = instant(c1)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); learn w }
project c1 -> logits { pool = global_avg_pool; weights = dense(init = lecun); learn w }
train stop { batch_size = 8 }
"""
    path = write_spec(tmp_path, text)
    assert cli.main(["export", "--untrained", str(path), "-o", str(tmp_path / "m.nir")]) == 0
    import nir

    g = nir.read(str(tmp_path / "m.nir"))  # the pooling, then the dense map of its (C, 1, 1) output
    assert [type(g.nodes[k]).__name__ for k in ("c1->logits.pool", "c1->logits.flatten", "c1->logits")] == \
        ["AvgPool2d", "Flatten", "Linear"]
    assert list(g.nodes["c1->logits.pool"].kernel_size) == [8, 8]
