"""Property tests on what a run reads besides the spec: a model file's --set strings, checkpoint
metadata, dataset files, and file and folder names.  Each gives a result or a RunError / diagnostic,
never another exception, and no text becomes code."""

import ast
import gzip
import json
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snndsl_runtime.checkpoint import checkpoint_meta
from snndsl_runtime.config import apply_overrides
from snndsl_runtime.errors import RunError
from snndsl_runtime.tasks import datasets

from .conftest import SPECS

FAST = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
CONFIG = {"train": {"epochs": 3, "batch_size": 32, "loss": "per_step", "checkpoint_every": 1,
                    "optimizer": {"name": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0,
                                  "schedule": "constant", "grad_clip": None}},
          "task": {"dataset": "digits", "path": None, "features": 64, "classes": 10, "test_fraction": 0.25},
          "time": {"dt": 1.0, "substeps": 1, "steps": 4}}
KEYS = ["train.epochs", "train.batch_size", "train.loss", "train.optimizer.lr", "train.optimizer.name",
        "train.optimizer.grad_clip", "task.path", "task.test_fraction", "time.dt", "train", "x.y", ""]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=10)


@FAST
@given(st.sampled_from(KEYS), st.text(max_size=30) | st.sampled_from(["1e400", "-1", "NaN", "Infinity", "[1]",
                                                                      "{}", "true", "none", "3.5", "adamx"]))
def test_model_file_set_strings(key, value):
    try:
        out = apply_overrides(CONFIG, [f"{key}={value}"], "stop", "dataset", ["time.dt"])
    except RunError as e:
        assert e.code in ("E203", "E401", "E403", "E404"), e.code
        return
    assert set(out) == set(CONFIG)  # a valid override changes one value and nothing else


@FAST
@given(st.dictionaries(st.sampled_from(["step", "seed", "spec", "rule", "spec_sets", "config", "wall_s",
                                        "network_hash", "network", "env_steps"]), JSON, max_size=8) | JSON)
def test_checkpoint_metadata(meta):
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "checkpoint.npz"
        np.savez(path, meta=np.array(json.dumps(meta)))
        try:
            got = checkpoint_meta(str(path))
        except RunError as e:
            assert e.code == "E822"
            return
        assert isinstance(got["step"], int) and got["step"] >= 0 and isinstance(got["spec_sets"], list)
    finally:
        shutil.rmtree(folder)


def _idx(dims, data: bytes, ndim: int) -> bytes:
    return struct.pack(">I", 0x800 + ndim) + struct.pack(f">{ndim}I", *dims) + data


@FAST
@given(st.lists(st.integers(0, 40), min_size=3, max_size=3), st.binary(max_size=3000), st.booleans(),
       st.integers(0, 3), st.booleans())
def test_dataset_files(dims, data, gz, cut, bad_magic):
    folder = Path(tempfile.mkdtemp())
    try:
        images = _idx(dims, data, 3)
        if bad_magic:
            images = b"\x00\x00\x08\x09" + images[4:]
        images = images[: len(images) - cut] if cut else images
        n = dims[0]
        labels = _idx([n], bytes(n), 1)
        for stem in datasets.IDX_FILES:
            blob = images if "images" in stem else labels
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))
            else:
                (folder / stem).write_bytes(blob)
        try:
            x, y, _, _ = datasets.load_dataset("mnist", str(folder))
        except RunError as e:
            assert e.code.startswith("E81"), e.code
            return
        assert x.shape == (n, 784) and len(y) == n and n > 0
    finally:
        shutil.rmtree(folder)


NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(NAME, NAME)
def test_file_and_folder_names_never_become_code(folder_name, stem):
    from snndsl.diagnostics import SpecError
    from snndsl.driver.build import load_spec, module_text

    root = Path(tempfile.mkdtemp())
    try:
        try:
            spec_path = root / folder_name / f"{stem}.snn"
            spec_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SPECS / "stop_digits.snn", spec_path)
        except (OSError, ValueError):  # a name this file system refuses ("..", too long)
            return
        try:
            text = module_text(load_spec(str(spec_path))[0])
        except SpecError:
            return
        tree = ast.parse(text)
        assert "__import__" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert ast.literal_eval(next(n.value for n in tree.body if isinstance(n, ast.Assign)
                                     and n.targets[0].id == "SPEC_NAME")) == stem
    finally:
        shutil.rmtree(root)
