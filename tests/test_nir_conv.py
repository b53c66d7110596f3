"""NIR interchange of convolutional networks (snndsl/interchange/, docs/nir.md): Conv2d (stride 1 and 2,
`same` padding that is asymmetric at stride 2), AvgPool2d, SumPool2d, global average pooling, pooling
before weights and Flatten before dense maps.  Each network round-trips spec -> NIR -> spec -> NIR to the
same graph, the imported spec simulates exactly as the original, the NIR nodes compute what snndsl
computes (a numpy convolution in NIR's own channels-first layout as the reference), and what NIR cannot
express is a located E881 (export) or E862 naming the node (import)."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

import snndsl  # noqa: E402
from snndsl import cli  # noqa: E402

HEAD = """
from "neurons" import LIF, HardLIF
from "encoders" import current
from "readouts" import instant, spike_count
time { dt = 1 ms }
input pixels = current { size = [2, 6, 6] }
"""

CONV_S1 = HEAD + """
population c1 = LIF([3, 6, 6]) { tau_m = 4 ms; v_th = 0.4 }
output out = instant(c1) { size = 4 }
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same, init = normal(0.1, 0.5)) }
project c1 -> out      { weights = dense(init = normal(0, 1)) }
"""

# `same` at stride 2 on 6 x 6 pads (0, 1): NIR's symmetric padding with a zero row and column
CONV_S2 = HEAD + """
population c1 = HardLIF([3, 3, 3]) { tau_m = 4 ms; v_th = 0.4; v_reset = 0.1 }
output out = instant(c1) { size = 4 }
project pixels -> c1.v { weights = conv2d(kernel = 3, stride = 2, padding = same, init = normal(0.1, 0.6)) }
project c1 -> out      { weights = dense(init = normal(0, 1)) }
"""

CONV_S2_PAD1 = CONV_S2.replace("stride = 2, padding = same", "stride = 2, padding = 1").replace("[3, 3, 3]", "[3, 3, 3]")

POOLS = HEAD + """
population c1 = LIF([3, 6, 6]) { tau_m = 4 ms; v_th = 0.3 }
population p1 = LIF([3, 3, 3]) { tau_m = 4 ms; v_th = 0.2; sign = -1 }
output out = spike_count(p1) { size = 3 }
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same, init = normal(0.2, 0.5)) }
project c1 -> p1.v     { weights = POOL(2); gain = 1.5 }
project p1 -> out      { weights = global_avg_pool }
"""

# a pooling before a convolution's weights, and a global average before a dense readout
POOLED = HEAD + """
population c1 = LIF([3, 6, 6]) { tau_m = 4 ms; v_th = 0.3 }
population c2 = LIF([4, 3, 3]) { tau_m = 4 ms; v_th = 0.3 }
output out = instant(c2) { size = 5 }
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same, init = normal(0.2, 0.5)) }
project c1 -> c2.v     { pool = sum_pool(2); weights = conv2d(kernel = 3, padding = 1, init = normal(0.1, 0.5)) }
project c2 -> out      { pool = global_avg_pool; weights = dense(init = normal(0, 1)) }
"""


def _arrays(node) -> dict:
    return {k: np.asarray(v) for k, v in vars(node).items() if k not in ("metadata", "input_type", "output_type")
            and isinstance(v, (np.ndarray, tuple, int, float, str))}


def _assert_same_graph(a, b):
    assert set(a.nodes) == set(b.nodes)
    assert sorted(a.edges) == sorted(b.edges)
    for k in a.nodes:
        assert type(a.nodes[k]) is type(b.nodes[k]), k
        x, y = _arrays(a.nodes[k]), _arrays(b.nodes[k])
        assert set(x) == set(y), k
        for f in x:
            if x[f].dtype.kind in "fiu":
                np.testing.assert_allclose(y[f], x[f], rtol=1e-6, atol=1e-7, err_msg=f"{k}.{f}")
            else:
                assert str(x[f]) == str(y[f]), (k, f)


def _round_trip(tmp_path, text):
    """spec -> NIR -> spec -> NIR: (original spec, imported spec, first graph, second graph)."""
    spec = tmp_path / "orig.snn"
    spec.write_text(text)
    snndsl.export_nir(spec, tmp_path / "a.nir")
    imported, _ = snndsl.import_nir(tmp_path / "a.nir", tmp_path / "imported.snn")
    snndsl.export_nir(imported, tmp_path / "b.nir")
    return str(spec), imported, nir.read(str(tmp_path / "a.nir")), nir.read(str(tmp_path / "b.nir"))


def _same_simulation(orig, imported, record, steps=25, seed=0):
    x = np.random.default_rng(seed).random((steps, 72)) * 1.5
    a = snndsl.simulate(orig, inputs={"pixels": x}, duration=float(steps), record=record)
    b = snndsl.simulate(imported, inputs={"pixels": x}, duration=float(steps), record=record)
    for k in record:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-5, err_msg=k)
    return a


def _nchw_conv(x, weight, stride, padding):
    """NIR's Conv2d written out: x (C_in, H, W), weight (C_out, C_in, kH, kW), symmetric padding (pH, pW)."""
    xp = np.pad(x, ((0, 0), (padding[0],) * 2, (padding[1],) * 2))
    kh, kw = weight.shape[2:]
    oh, ow = (xp.shape[1] - kh) // stride[0] + 1, (xp.shape[2] - kw) // stride[1] + 1
    y = np.zeros((weight.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            y[:, i, j] = np.einsum("chw,ochw->o", patch, weight)
    return y


@pytest.mark.parametrize("text, kernel", [(CONV_S1, 3), (CONV_S2, 4), (CONV_S2_PAD1, 3)],
                         ids=["stride1_same", "stride2_same", "stride2_pad1"])
def test_conv2d_round_trip_and_simulation(tmp_path, text, kernel):
    orig, imported, g, g2 = _round_trip(tmp_path, text)
    _assert_same_graph(g, g2)
    conv = g.nodes["pixels->c1.v"]
    assert isinstance(conv, nir.Conv2d) and conv.weight.shape == (3, 2, kernel, kernel)
    assert isinstance(g.nodes["c1"], nir.LIF) and g.nodes["c1"].tau.shape == tuple(g.nodes["c1"].input_type["input"])
    assert isinstance(g.nodes["c1->out.flatten"], nir.Flatten)
    src = open(imported).read()
    assert "LIF([3, " in src and "size = [2, 6, 6]" in src and "conv2d(kernel = 3" in src, src
    a = _same_simulation(orig, imported, ["c1.spikes", "c1.v", "out.value"])
    assert 0 < a["c1.spikes"].mean() < 0.9


@pytest.mark.parametrize("text", [CONV_S1, CONV_S2, CONV_S2_PAD1], ids=["stride1_same", "stride2_same", "stride2_pad1"])
def test_nir_conv2d_computes_snndsl_conv_in_channels_first_layout(tmp_path, text):
    """The exported Conv2d, applied as NIR defines it (NCHW, OIHW, symmetric padding), equals snndsl's conv
    of the same image in its channels-last layout; the exported kernel is snndsl's, transposed to OIHW."""
    import jax.numpy as jnp

    from snndsl.interchange.nir_export import export_spec
    from snndsl_runtime.layers import apply_projection, channels_first

    spec = tmp_path / "s.snn"
    spec.write_text(text)
    graph, _, _ = export_spec(str(spec))
    conv = graph.nodes["pixels->c1.v"]
    meta = conv.metadata
    hwio = np.asarray(meta["snndsl_weight"])
    t, b, left, r = np.asarray(meta["snndsl_pads"]).tolist()
    op = {"type": "conv2d", "in": (2, 6, 6), "out": tuple(conv.output_type["output"]), "kernel": 3,
          "stride": int(conv.stride[0]), "padding": ((t, b), (left, r))}
    image = np.random.default_rng(4).normal(size=(2, 6, 6))
    flat = np.transpose(image, (1, 2, 0)).reshape(-1)  # (h * W + w) * C + c
    ours = apply_projection(jnp.asarray(flat, jnp.float32), jnp.asarray(hwio, jnp.float32), op)
    ours = np.asarray(channels_first(np.asarray(ours, np.float64), op["out"]))
    ref = _nchw_conv(image, np.asarray(conv.weight), conv.stride, conv.padding)
    np.testing.assert_allclose(ref, ours, rtol=1e-5, atol=1e-5)
    assert tuple(conv.output_type["output"]) == ref.shape
    k0 = max(t, b) - t
    np.testing.assert_array_equal(np.asarray(conv.weight)[:, :, k0:k0 + 3, k0:k0 + 3], hwio.transpose(3, 2, 0, 1))


@pytest.mark.parametrize("pool, node", [("avg_pool", nir.AvgPool2d), ("sum_pool", nir.SumPool2d)])
def test_poolings_round_trip_and_simulation(tmp_path, pool, node):
    orig, imported, g, g2 = _round_trip(tmp_path, POOLS.replace("POOL", pool))
    _assert_same_graph(g, g2)
    p = g.nodes["c1->p1.v"]
    assert isinstance(p, node) and list(p.kernel_size) == [2, 2] and list(p.stride) == [2, 2]
    np.testing.assert_allclose(g.nodes["c1->p1.v.gain"].scale, 1.5)  # the gain, as a Scale
    glob = g.nodes["p1->out"]  # global average: the whole 3 x 3 image, through the spike-count readout
    assert isinstance(glob, nir.AvgPool2d) and list(glob.kernel_size) == [3, 3]
    assert ("out.readout", "p1->out") in g.edges and isinstance(g.nodes["out.readout"], nir.I)
    assert list(g.nodes["out"].output_type["output"]) == [3, 1, 1]
    src = open(imported).read()
    assert f"weights = {pool}(2)" in src and "gain = 1.5" in src and "global_avg_pool" in src, src
    a = _same_simulation(orig, imported, ["c1.spikes", "p1.spikes", "p1.v", "out.value"])
    assert a["p1.spikes"].sum() > 3


def test_pooling_before_weights_and_flatten_round_trip(tmp_path):
    orig, imported, g, g2 = _round_trip(tmp_path, POOLED)
    _assert_same_graph(g, g2)
    assert isinstance(g.nodes["c1->c2.v.pool"], nir.SumPool2d) and isinstance(g.nodes["c1->c2.v"], nir.Conv2d)
    assert ("c1->c2.v.pool", "c1->c2.v") in g.edges
    assert [type(g.nodes[k]).__name__ for k in ("c2->out.pool", "c2->out.flatten", "c2->out")] == \
        ["AvgPool2d", "Flatten", "Linear"]
    src = open(imported).read()
    assert "pool = sum_pool(2); weights = conv2d(kernel = 3, stride = 1, padding = 1" in src
    assert "pool = global_avg_pool; weights = dense" in src
    a = _same_simulation(orig, imported, ["c1.spikes", "c2.spikes", "c2.v", "out.value"])
    assert a["c2.spikes"].sum() > 3


def test_flatten_takes_the_rows_in_channels_first_order(tmp_path):
    """A dense readout of a (C, H, W) layer: Flatten then Linear, whose column (c * H + h) * W + w is
    snndsl's row (h * W + w) * C + c."""
    from snndsl.interchange.nir_export import export_spec

    spec = tmp_path / "s.snn"
    spec.write_text(CONV_S1)
    graph, _, _ = export_spec(str(spec))
    lin = graph.nodes["c1->out"]
    w = np.asarray(lin.metadata["snndsl_weight"])  # (inputs x outputs), snndsl's order
    c, h, x = 2, 4, 5
    np.testing.assert_array_equal(lin.weight[:, (c * 6 + h) * 6 + x], w[(h * 6 + x) * 3 + c])
    assert list(graph.nodes["c1->out.flatten"].output_type["output"]) == [108]


def test_per_channel_threshold_is_a_channels_first_array(tmp_path):
    text = CONV_S1.replace("v_th = 0.4 }", "v_th = 0.4; learn v_th per channel }")
    import jax

    from snndsl.driver.build import import_module, load_plan, module_text
    from snndsl.interchange.nir_export import build_graph
    from snndsl_runtime.network import init_parameters

    spec = tmp_path / "s.snn"
    spec.write_text(text)
    plan, _ = load_plan(str(spec), [], on_warnings=lambda *a: None)
    model, _ = import_module(module_text(plan.spec, plan), plan.spec.name)
    theta, fixed = init_parameters(model, jax.random.PRNGKey(0))
    theta = {**theta, "c1.v_th": np.array([0.2, 0.5, 0.9], np.float32)}
    graph, _ = build_graph(plan.spec, model, theta, fixed)
    v_th = graph.nodes["c1"].v_threshold
    assert v_th.shape == (3, 6, 6)
    for ch, v in enumerate([0.2, 0.5, 0.9]):
        np.testing.assert_allclose(v_th[ch], v, rtol=1e-6)


def _export_err(tmp_path, capsys, text):
    spec = tmp_path / "bad.snn"
    spec.write_text(text)
    assert cli.main(["export", "--untrained", str(spec), "-o", str(tmp_path / "bad.nir")]) == 2
    assert not (tmp_path / "bad.nir").exists()
    return capsys.readouterr().err


def test_max_pool_is_refused_located(tmp_path, capsys):
    err = _export_err(tmp_path, capsys, POOLS.replace("POOL", "max_pool"))
    assert "error[E881]" in err and "`c1->p1.v`" in err and "no max pooling node" in err
    assert "bad.snn:12:1" in err and "hint: use avg_pool or sum_pool" in err
    err = _export_err(tmp_path, capsys, POOLED.replace("sum_pool", "max_pool"))
    assert "error[E881]" in err and "`c1->c2.v`" in err and "bad.snn:12:1" in err


def test_dense_map_into_a_conv_layer_is_refused(tmp_path, capsys):
    err = _export_err(tmp_path, capsys, CONV_S1 + "project pixels -> c1.v { weights = dense(init = normal(0, 0.1)) }\n")
    assert "error[E881]" in err and "no node that reshapes" in err and "bad.snn:12:1" in err


def _conv_graph(**conv):
    """Input (2, 5, 5) -> Conv2d -> LIF -> Output, the Conv2d's settings overridden by `conv`."""
    settings = dict(input_shape=(5, 5), weight=np.ones((3, 2, 3, 3)), stride=1, padding=1, dilation=1, groups=1,
                    bias=np.zeros(3))
    settings.update(conv)
    c = nir.Conv2d(**settings)
    shape = tuple(c.output_type["output"])
    lif = nir.LIF(tau=np.full(shape, 0.01), r=np.full(shape, 0.01), v_leak=np.zeros(shape),
                  v_threshold=np.full(shape, 10.0), v_reset=np.zeros(shape))
    return nir.NIRGraph(nodes={"x": nir.Input(np.array([settings["weight"].shape[1], 5, 5])), "conv": c, "lif": lif,
                               "y": nir.Output(np.array(shape))}, edges=[("x", "conv"), ("conv", "lif"), ("lif", "y")],
                        type_check=False)


@pytest.mark.parametrize("conv, words", [
    (dict(groups=2, weight=np.ones((4, 1, 3, 3))), ["groups 2"]),
    (dict(dilation=2), ["dilation [2, 2]"]),
    (dict(stride=2, padding="same"), ["'same' with stride 2"]),
    (dict(padding=(1, 0)), ["pads [1, 0]"]),
    (dict(weight=np.ones((3, 2, 3, 1)), padding=0), ["3 x 1 kernel"]),
])
def test_import_refuses_a_conv2d_it_cannot_express(tmp_path, capsys, conv, words):
    nir.write(str(tmp_path / "g.nir"), _conv_graph(**conv))
    assert cli.main(["import", str(tmp_path / "g.nir"), "-o", str(tmp_path / "g.snn")]) == 2
    err = capsys.readouterr().err
    assert "E862" in err and "`conv`" in err and "Traceback" not in err and all(w in err for w in words), err
    assert not (tmp_path / "g.snn").exists()


def test_import_refuses_an_overlapping_pooling(tmp_path, capsys):
    g = _conv_graph()
    lif = nir.LIF(tau=np.full((3, 2, 2), 0.01), r=np.full((3, 2, 2), 0.01), v_leak=np.zeros((3, 2, 2)),
                  v_threshold=np.ones((3, 2, 2)), v_reset=np.zeros((3, 2, 2)))
    g.nodes.update({"pool": nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]),
                                          padding=np.array([0, 0])), "lif2": lif, "y": nir.Output(np.array([3, 2, 2]))})
    g.edges = [("x", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "lif2"), ("lif2", "y")]
    nir.write(str(tmp_path / "g.nir"), g)
    assert cli.main(["import", str(tmp_path / "g.nir"), "-o", str(tmp_path / "g.snn")]) == 2
    err = capsys.readouterr().err
    assert "E862" in err and "`pool`" in err and "stride [2, 2]" in err


def test_foreign_conv2d_with_bias_imports_and_equals_numpy(tmp_path):
    """A Conv2d from another tool (symmetric padding 1, a bias per channel) into NIR LIF nodes: the imported
    network's first step's membrane is the numpy convolution plus the bias's relaxation (a constant input)."""
    rng = np.random.default_rng(5)
    weight, bias = rng.normal(0, 0.5, (3, 2, 3, 3)), np.array([0.5, -0.2, 0.1])
    g = _conv_graph(weight=weight, bias=bias)
    nir.write(str(tmp_path / "g.nir"), g)
    spec, _ = snndsl.import_nir(tmp_path / "g.nir", tmp_path / "g.snn", dt_ms=0.1)
    text = open(spec).read()
    assert "population lif = NirLIF([3, 5, 5])" in text and "padding = 1" in text, text
    image = rng.random((2, 5, 5))
    x = np.zeros((1, 50))
    x[0] = np.transpose(image, (1, 2, 0)).reshape(-1)  # channels last
    v = snndsl.simulate(spec, inputs={"x": x}, duration=0.1, record=["lif.v"], sets=["time.precision=float64"])["lif.v"]
    from snndsl_runtime.layers import channels_first

    v = channels_first(np.asarray(v[0], np.float64), (3, 5, 5))
    tau, dt = 0.01, 1e-4  # s
    relax = bias[:, None, None] * 0.01 * (1 - np.exp(-dt / tau))  # v_leak = r b, relaxed over one step
    expected = _nchw_conv(image, weight, (1, 1), (1, 1)) + relax  # the impulse: a jump of r w / tau = w
    np.testing.assert_allclose(v, expected, rtol=1e-5, atol=1e-7)  # the .npz holds float32 weights


@pytest.mark.parametrize("input_line, code", [
    ("input pixels = current { size = [1, 8, 8] }", None),
    ("input pixels = signed_current { size = [1, 8, 8] }", "E205"),
    ("input pixels = current { size = [2, 4, 8] }", "E501"),  # digits are [1, 8, 8]
])
def test_a_shaped_input_size(tmp_path, input_line, code):
    from snndsl.compiler import compile_spec

    spec = tmp_path / "s.snn"
    spec.write_text('from "neurons" import LIF\nfrom "encoders" import current, signed_current\n'
                    'from "readouts" import instant\ntask digits { }\n' + input_line + "\npopulation c = LIF([2, 8, 8])\n"
                    "output logits = instant(c)\nproject pixels -> c.v { weights = dense }\n"
                    "project c -> logits { weights = dense }\n")
    ir, diags, _ = compile_spec(str(spec))
    errors = [d for d in diags if d.is_error]
    if code is None:
        assert ir is not None and ir.inputs[0].shape == (1, 8, 8), errors
    else:
        assert [d.code for d in errors] == [code] and errors[0].span.line == 5, errors


def test_a_layer_of_a_group_member_is_refused(tmp_path, capsys):
    text = HEAD + """
population c1 = LIF([3, 6, 6]) { tau_m = 4 ms }
population c2 = LIF([3, 6, 6]) { tau_m = 4 ms }
group both = [c1, c2]
output out = instant(both) { size = 4 }
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same) }
project both -> out    { weights = dense(init = normal(0, 1)) }
"""
    err = _export_err(tmp_path, capsys, text)
    assert "error[E881]" in err and "`c1` is (in) a group" in err and "bad.snn:12:1" in err


@pytest.mark.slow
def test_trained_conv_run_exports_its_learned_kernels(tmp_path):
    """A STOP run of a conv layer: the exported Conv2d holds the checkpoint's kernel (HWIO -> OIHW), the LIF node
    its learned per-channel thresholds as a (C, H, W) array, and the readout's Linear the rows in channels-first
    order."""
    from snndsl_runtime.layers import channels_first_order

    spec = tmp_path / "conv.snn"
    spec.write_text("""
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 2 }
task digits { }
input pixels = current
population c1 = LIF([2, 4, 4]) { tau_m = 3 ms; v_th = 0.3; learn v_th per channel }
output logits = instant(c1)
project pixels -> c1.v { weights = conv2d(kernel = 3, stride = 2, padding = same, init = normal(0, 0.5)); learn w }
project c1 -> logits   { weights = dense(init = lecun); learn w }
train stop { epochs = 1; batch_size = 64 }
""")
    run = tmp_path / "run"
    snndsl.train(snndsl.build(snndsl.load(str(spec))), out_dir=str(run))
    snndsl.export_nir(run, tmp_path / "run.nir")
    g = nir.read(str(tmp_path / "run.nir"))
    ck = np.load(run / "checkpoint.npz")
    kernel = ck["network/weights/pixels->c1.v"]  # (3, 3, 1, 2); `same` at stride 2 on 8 x 8 pads (0, 1)
    conv = g.nodes["pixels->c1.v"]
    assert conv.weight.shape == (2, 1, 4, 4) and list(conv.padding) == [1, 1]
    np.testing.assert_allclose(conv.weight[:, :, 1:, 1:], kernel.transpose(3, 2, 0, 1), rtol=1e-6)
    assert np.all(conv.weight[:, :, 0, :] == 0) and np.all(conv.weight[:, :, :, 0] == 0)
    v_th = ck["network/block/c1/v_th"]
    assert v_th.shape == (2,) and not np.allclose(v_th, 0.3)  # it did learn
    np.testing.assert_allclose(g.nodes["c1"].v_threshold, np.broadcast_to(v_th[:, None, None], (2, 4, 4)), rtol=1e-6)
    w = ck["network/weights/c1->logits"]
    np.testing.assert_allclose(g.nodes["c1->logits"].weight, w[channels_first_order((2, 4, 4))].T, rtol=1e-6)
