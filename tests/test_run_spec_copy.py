"""A run folder keeps a copy of its spec (config.json: spec_file, spec_sha256, spec_copy), so that
`snndsl export RUN` and `snndsl sim RUN` work from any folder, the moved spec's copy included, and an
edited copy or a spec that cannot be found is a located E863 (exit 2)."""

import hashlib
import json
import shutil

import pytest

from snndsl import cli

from .conftest import write_spec

# the neuron model comes from a module beside the spec: the copy must still find it there
MODULE = """
neuron LIF {
    param tau_m = 2 ms
    param v_th  = 1
    state v = 0
    dv/dt = -v / tau_m
    spike when v > v_th
    on spike { v -= v_th }
}
"""

SPEC = """
from "mylif" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 2 }
task digits { }
input pixels = current
population c1 = LIF([2, 8, 8]) { tau_m = 2 ms; learn v_th per channel }
output logits = instant(c1)
project pixels -> c1.v { weights = conv2d(kernel = 3, padding = same); init = kaiming; learn w }
project c1 -> logits   { weights = dense(init = lecun); learn w }
train stop { epochs = 1; batch_size = 128 }
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run of a spec in proj/, started from proj/ with a relative spec path."""
    import os

    from snndsl.driver.run import train_spec

    root = tmp_path_factory.mktemp("spec_copy")
    proj = root / "proj"
    proj.mkdir()
    write_spec(proj, MODULE, "mylif.snn")
    write_spec(proj, SPEC, "tiny.snn")
    here = os.getcwd()
    os.chdir(proj)
    try:
        done = train_spec("tiny.snn", [], "runs/tiny", summary=False)
    finally:
        os.chdir(here)
    assert done.status == 0
    return root, proj / "runs" / "tiny"


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of the trained run folder and of its project (each test moves or edits files)."""
    root, _ = trained
    shutil.copytree(root / "proj", tmp_path / "proj")
    out = tmp_path / "proj" / "runs" / "tiny"
    saved = json.loads((out / "config.json").read_text())
    saved["spec_file"] = str(tmp_path / "proj" / "tiny.snn")  # as if it had been trained here
    (out / "config.json").write_text(json.dumps(saved, indent=2))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return tmp_path / "proj", out, elsewhere


def test_the_run_folder_records_and_copies_its_spec_and_local_module(trained):
    root, out = trained
    saved = json.loads((out / "config.json").read_text())
    text, module = (root / "proj" / "tiny.snn").read_bytes(), (root / "proj" / "mylif.snn").read_bytes()
    assert saved["spec_file"] == str(root / "proj" / "tiny.snn")  # absolute, though given relative
    assert saved["spec_copy"] == "tiny.snn" and (out / "tiny.snn").read_bytes() == text
    assert saved["spec_sha256"] == hashlib.sha256(text).hexdigest()
    assert (out / "mylif.snn").read_bytes() == module  # the stdlib's modules are not copied
    assert saved["spec_modules"] == {"mylif.snn": hashlib.sha256(module).hexdigest()}


def test_export_and_sim_of_a_run_from_another_folder(run, monkeypatch, capsys):
    proj, out, elsewhere = run
    monkeypatch.chdir(elsewhere)
    rel = "../proj/runs/tiny"
    assert cli.main(["export", rel, "-o", "net.nir"]) == 0
    assert (elsewhere / "net.nir").exists()
    assert cli.main(["sim", rel, "--sample", "0", "-o", "s.npz", "--format", "nir", "--no-plot"]) == 0
    assert (elsewhere / "s.nirdata").exists()
    # the spec moved away: the run's own copy (its local module still beside the old place)
    (proj / "tiny.snn").rename(proj / "tiny.old")
    capsys.readouterr()
    assert cli.main(["export", rel, "-o", "net2.nir"]) == 0
    assert "runs/tiny/tiny.snn" in capsys.readouterr().err  # its warnings quote the copy
    assert (elsewhere / "net2.nir").read_bytes() == (elsewhere / "net.nir").read_bytes()


def test_an_edited_copy_is_not_used_and_the_error_is_located(run, monkeypatch, capsys):
    proj, out, elsewhere = run
    monkeypatch.chdir(elsewhere)
    (proj / "tiny.snn").unlink()
    with open(out / "tiny.snn", "a") as f:
        f.write("# edited\n")
    capsys.readouterr()
    assert cli.main(["export", "../proj/runs/tiny", "-o", "net.nir"]) == 2
    err = capsys.readouterr().err
    assert "error[E863]" in err and "edited or removed since (tiny.snn" in err and "--spec" in err
    lines = (out / "config.json").read_text().splitlines()
    row = next(i for i, t in enumerate(lines, 1) if '"spec_file"' in t)
    col = lines[row - 1].index('"/') + 1
    assert f"config.json:{row}:{col}:" in err and "^^^" in err, err
    assert not (elsewhere / "net.nir").exists()
    # the spec given: it is used
    (proj / "tiny.snn").write_text(SPEC)
    assert cli.main(["export", "../proj/runs/tiny", "--spec", str(proj / "tiny.snn"), "-o", "net.nir"]) == 0


def test_an_older_run_without_a_copy_is_found_from_its_folder_only(run, monkeypatch, capsys):
    """A run made before the copy: train.py names the spec as `snndsl run` was given it (relative)."""
    proj, out, elsewhere = run
    saved = json.loads((out / "config.json").read_text())
    for k in ("spec_file", "spec_sha256", "spec_copy"):
        del saved[k]
    (out / "config.json").write_text(json.dumps(saved, indent=2))
    (out / "tiny.snn").unlink()
    monkeypatch.chdir(proj)
    assert cli.main(["export", "runs/tiny", "-o", "net.nir"]) == 0
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert cli.main(["export", "../proj/runs/tiny", "-o", "net.nir"]) == 2
    err = capsys.readouterr().err
    first = (out / "train.py").read_text().splitlines()[0]
    assert f"train.py:1:{first.index('from tiny.snn') + len('from ') + 1}:" in err and "error[E863]" in err, err
    assert "(tiny.snn)" in err
