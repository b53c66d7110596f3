"""`snndsl sim --format nir` of a convolutional network: a (C, H, W) node's neurons in NIR's
channels-first order, checked on neurons whose spikes are placed by hand, and its shape beside the data."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from snndsl import cli  # noqa: E402

from .conftest import write_spec  # noqa: E402

# C, H, W = 2, 3, 4 (H != W, so a swapped axis shows); a 1x1 identity convolution copies each input
# value onto the neuron at the same [c, h, w]; a 2x2 average pool of c1 is the output (shape [2, 1, 2]:
# row 2 is dropped); h is a flat layer read by a dense map (stays flat)
SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms }
input pixels = current { size = [2, 3, 4] }
population c1 = LIF([2, 3, 4]) { tau_m = 2 ms; v_th = 1 }
population h = LIF(3) { tau_m = 2 ms; v_th = 0.5 }
output out = instant(c1) { size = 4 }
project pixels -> c1.v { weights = conv2d(kernel = 1, init = file("k.npz", "k")) }
project c1 -> out      { weights = avg_pool(2) }
project c1 -> h.v      { weights = dense(init = normal(1, 0)) }
"""

C, H, W = 2, 3, 4
FIRING = [(1, 1, 1), (0, 0, 2)]  # the [c, h, w] of the two neurons driven above threshold


def _channels_last(c, h, w):
    """snndsl's flat index of neuron [c, h, w] (written out here, not taken from layers.py)."""
    return (h * W + w) * C + c


def test_sim_nir_data_puts_a_known_spike_at_its_c_h_w(tmp_path, capsys):
    import h5py

    np.savez(tmp_path / "k.npz", k=np.eye(C, dtype=np.float32).reshape(1, 1, C, C))  # HWIO identity
    spec = write_spec(tmp_path, SPEC, "shaped.snn")
    drive = np.zeros(C * H * W)
    for c, h, w in FIRING:
        drive[_channels_last(c, h, w)] = 2.0
    form = "[" + ", ".join(f"{v:g}" for v in drive) + "]"
    rec = tmp_path / "rec.npz"
    assert cli.main(["sim", str(spec), "--input", f"pixels={form}", "--duration", "3 ms", "-o", str(rec),
                     "--record", "c1.spikes,c1.v,h.spikes,out.value", "--format", "nir", "--no-plot"]) == 0
    capsys.readouterr()
    flat = np.load(rec)
    # the .npz stays snndsl's flat channels-last order
    assert sorted(np.nonzero(flat["c1.spikes"].any(0))[0]) == sorted(_channels_last(*n) for n in FIRING)

    data = nir.read_data(str(tmp_path / "rec.nirdata"))
    spikes = data.nodes["c1"].observables["spikes"].data
    steps = flat["c1.spikes"].shape[0]
    assert spikes.shape == (1, steps, C * H * W) and spikes.dtype == bool
    image = spikes.reshape(1, steps, C, H, W)
    assert sorted(map(tuple, np.argwhere(image[0].any(0)))) == sorted(FIRING)
    for t in range(steps):  # every step, every neuron: [c, h, w] of NIR is [c, h, w] of snndsl
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    assert image[0, t, c, h, w] == flat["c1.spikes"][t, _channels_last(c, h, w)]
    v = data.nodes["c1"].observables["v"].data.reshape(1, steps, C, H, W)
    assert v[0, :, 1, 1, 1] == pytest.approx(flat["c1.v"][:, _channels_last(1, 1, 1)])
    # the output [2, 1, 2]: the spike at [1, 1, 1] falls in window [1, 0, 0], the one at [0, 0, 2] in [0, 0, 1]
    value = data.nodes["out"].observables["value"].data.reshape(1, steps, 2, 1, 2)
    assert sorted(map(tuple, np.argwhere(value[0].any(0)))) == [(0, 0, 1), (1, 0, 0)]
    assert value[0, :, 1, 0, 0] == pytest.approx(flat["out.value"][:, 1])  # channels last: (0 * 2 + 0) * 2 + 1
    assert value[0, :, 0, 0, 1] == pytest.approx(flat["out.value"][:, 2])  # (0 * 2 + 1) * 2 + 0
    # a flat layer is as before
    np.testing.assert_array_equal(data.nodes["h"].observables["spikes"].data[0], flat["h.spikes"].astype(bool))
    with h5py.File(tmp_path / "rec.nirdata") as f:
        assert list(f["nodes/c1"].attrs["snndsl_shape"]) == [C, H, W]
        assert list(f["nodes/out"].attrs["snndsl_shape"]) == [2, 1, 2]
        assert "snndsl_shape" not in f["nodes/h"].attrs

    # the exported graph has the same (C, H, W) nodes
    net = tmp_path / "net.nir"
    assert cli.main(["export", "--untrained", str(spec), "-o", str(net)]) == 0
    graph = nir.read(str(net))
    assert list(graph.nodes["c1"].output_type["output"]) == [C, H, W]
    assert list(graph.nodes["out"].input_type["input"]) == [2, 1, 2]
    assert list(graph.nodes["h"].output_type["output"]) == [3]


@pytest.mark.parametrize("name", ["CONV_S1", "POOLS", "POOLED"])
def test_node_shapes_from_the_model_are_the_export_s(tmp_path, name):
    """A run folder has no spec: the recording's shapes come from the model's ops, and must be the ones
    the export derives from the spec."""
    from snndsl.driver.build import import_module, load_plan, module_text
    from snndsl.interchange.nir_data import node_shapes
    from snndsl.interchange.nir_export import _layer_shapes

    from . import test_nir_conv

    text = getattr(test_nir_conv, name).replace("POOL(2)", "avg_pool(2)")
    plan, _ = load_plan(str(write_spec(tmp_path, text)))
    model, _ = import_module(module_text(plan.spec, plan), plan.spec.name)
    exported, diags = _layer_shapes(plan.spec)
    assert not diags
    inputs = {i.name for i in plan.spec.inputs}
    assert node_shapes(model) == {k: v for k, v in exported.items() if k not in inputs}
    assert node_shapes(model)  # not vacuous
