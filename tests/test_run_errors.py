"""Bad input at run time: a diagnostic and exit status 2, never a traceback; a NaN stops the run."""

import subprocess

import numpy as np
import pytest

from snndsl_runtime.checkpoint import load_checkpoint, save_checkpoint
from snndsl_runtime.config import apply_overrides
from snndsl_runtime.errors import RunError
from snndsl_runtime.tasks.brax import make_env

from .conftest import PYTHON, ROOT, SPECS, cli_in_process, generated, write_spec


def snndsl(*args, cwd=ROOT):
    """`snndsl ARGS` in this process: these tests are about what the command reports and leaves on
    disk; the exit status of a real process is checked by the first test below and tests/test_cli_run.py."""
    r = cli_in_process(*args, cwd=cwd)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return r


def snndsl_process(*args, cwd=ROOT):
    r = subprocess.run([PYTHON, "-m", "snndsl", *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def small_stop_digits(tmp_path):
    """specs/stop_digits.snn with 64 hidden neurons instead of 1024, under the same file name: the
    resume tests check what a run folder keeps, not what 1024 neurons learn."""
    text = (SPECS / "stop_digits.snn").read_text()
    assert "LIF(1024)" in text
    return write_spec(tmp_path, text.replace("LIF(1024)", "LIF(64)"), "stop_digits.snn")


def test_missing_dataset_folder_points_at_the_task(tmp_path):
    r = snndsl_process("run", str(SPECS / "stop_mnist.snn"), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2
    assert "stop_mnist.snn:13:1: error[E811]" in r.stderr and "--set task.path=DIR" in r.stderr


def test_resume_without_or_with_a_corrupt_checkpoint(tmp_path):
    r = snndsl("run", str(SPECS / "stop_digits.snn"), "--out", str(tmp_path / "none"), "--resume")
    assert r.returncode == 2 and "error[E821]" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "checkpoint.npz").write_bytes(b"not a checkpoint")
    r = snndsl("run", str(SPECS / "stop_digits.snn"), "--out", str(bad), "--resume")
    assert r.returncode == 2 and "error[E822]" in r.stderr


def test_checkpoint_from_another_network(tmp_path):
    save_checkpoint(str(tmp_path / "c.npz"), {"a": np.zeros(3)}, {"step": 1})
    with pytest.raises(RunError) as e:
        load_checkpoint(str(tmp_path / "c.npz"), {"a": np.zeros(4)})
    assert e.value.code == "E822"


def test_checkpoints_are_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, {"w": np.ones(5)}, {"step": 1})

    def broken(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(RunError) as e:  # the OSError, reported as a run error
        save_checkpoint(path, {"w": np.zeros(5)}, {"step": 2})
    assert e.value.code == "E841" and "disk full" in e.value.message
    monkeypatch.undo()
    state, meta = load_checkpoint(path, {"w": np.zeros(5)})
    assert meta["step"] == 1 and state["w"].tolist() == [1.0] * 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary file left behind


NAN_SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 4 }
task digits { }
input pixels = current
population hidden = LIF(32)
output logits = instant(hidden)
project pixels -> hidden.v { weights = dense(init = kaiming); learn w }
project hidden -> logits   { weights = dense(init = lecun); learn w }
train surrogate { epochs = 3; batch_size = 64; optimizer = sgd(lr = 1e38) }
"""


@pytest.mark.slow
def test_nan_stops_the_run_naming_step_and_quantity(tmp_path):
    spec = write_spec(tmp_path, NAN_SPEC)
    r = snndsl("run", str(spec), "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert "E831" in r.stderr and "train_loss is not finite" in r.stderr and "epoch 1" in r.stderr
    assert not (tmp_path / "run" / "checkpoint.npz").exists()  # nothing non-finite was saved


@pytest.mark.slow
def test_emitted_file_set_errors(tmp_path):
    train_py = tmp_path / "train.py"
    assert snndsl("emit", str(SPECS / "stop_digits.snn"), "-o", str(train_py)).returncode == 0
    for args, text in ((["--set", "train.epoch=3"], "did you mean `train.epochs`"),
                       (["--set", "train.epochs=many"], "whole number"),
                       (["--set", "train.loss=average"], "must be 'per_step' or 'final'"),
                       (["--set", "time.dt=0.5"], "snndsl emit")):
        r = subprocess.run([PYTHON, str(train_py), *args, "--out", str(tmp_path / "x")], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_environment_sizes_checked_before_compiling(monkeypatch):
    mod = generated(SPECS / "quickstart.snn")
    monkeypatch.setattr(mod, "IN_SIZE", 5)  # as if the network had been declared for another environment
    with pytest.raises(RunError) as e:
        make_env(mod, mod.CONFIG["task"])
    assert e.value.code == "E703" and e.value.node == "input"


@pytest.mark.parametrize("pair,code,text", [
    ("train.epochs=0", "E401", "train.epochs: must be greater than or equal to 1"),
    ("train.epochs=1.5", "E403", "whole number"),  # as `snndsl check` says it
    ("train.batch_size=-3", "E401", "train.batch_size: must be greater than or equal to 1"),
    ("task.test_fraction=2", "E401", "task.test_fraction: must be less than 1"),
    ("train.optimizer.name=adamx", "E404", "train.optimizer.name: must be 'adam', 'adamw' or 'sgd'"),
    ("train.optimizer.schedule=cosin", "E404", "must be 'constant' or 'cosine'"),
    ("train.optimizer.grad_clip=abc", "E404", "must be a number"),
    ("train.optimizer=adam(lr=1e-2)", "E404", "group of settings"),
    ("train.num_envs=64", "E203", "unknown key"),  # a PPO setting means nothing on a dataset
    ("train.surrogate.width=2", "E203", "changes the generated network"),
])
def test_emitted_file_checks_values_like_the_spec_does(pair, code, text):
    mod = generated(SPECS / "stop_digits.snn")
    with pytest.raises(RunError) as e:
        apply_overrides(mod.CONFIG, [pair], mod.RULE, mod.TASK_KIND, mod.STRUCTURAL)
    assert e.value.code == code and text in e.value.message, e.value.message
    ok = apply_overrides(mod.CONFIG, ["train.optimizer.grad_clip=0.5", "train.optimizer.name=sgd"],
                         mod.RULE, mod.TASK_KIND, mod.STRUCTURAL)
    assert ok["train"]["optimizer"]["grad_clip"] == 0.5 and ok["train"]["optimizer"]["name"] == "sgd"


@pytest.mark.parametrize("pair", ["train.epochs=0", "train.batch_size=-3", "train.optimizer.lr=-1",
                                  "train.optimizer.momentum=1.5"])
def test_one_validator_one_message(pair):
    """`snndsl check --set` and the model file's --set refuse a value outside its bounds in the same words."""
    from snndsl import compile_spec

    mod = generated(SPECS / "stop_digits.snn")
    with pytest.raises(RunError) as e:
        apply_overrides(mod.CONFIG, [pair], mod.RULE, mod.TASK_KIND, mod.STRUCTURAL)
    _, diags, _ = compile_spec(str(SPECS / "stop_digits.snn"), [pair])
    assert [(d.code, d.message) for d in diags if d.is_error] == [(e.value.code, e.value.message)]


@pytest.mark.slow
def test_unwritable_outputs_are_diagnostics(tmp_path):
    r = snndsl("emit", str(SPECS / "stop_digits.snn"), "-o", str(tmp_path / "no" / "such" / "train.py"))
    assert r.returncode == 2 and "error[E841]" in r.stderr
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    r = snndsl("run", str(SPECS / "stop_digits.snn"), "--out", str(a_file))
    assert r.returncode == 2 and "error[E841]" in r.stderr


def test_failed_start_leaves_no_run_folder(tmp_path):
    r = snndsl("run", str(SPECS / "stop_mnist.snn"), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2 and not (tmp_path / "run").exists()
    r = snndsl("run", str(SPECS / "stop_digits.snn"), "--out", str(tmp_path / "never"), "--resume")
    assert r.returncode == 2 and not (tmp_path / "never").exists()


@pytest.mark.slow
def test_resume_keeps_the_runs_settings(tmp_path):
    out = tmp_path / "run"
    spec = str(small_stop_digits(tmp_path))
    tiny = ["--set", "train.batch_size=256", "--set", "train.optimizer.lr=0.01"]
    r = snndsl("run", spec, *tiny, "--set", "train.epochs=1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    r = snndsl("run", spec, "--set", "train.epochs=2", "--out", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    assert "train.epochs 1 -> 2" in r.stderr  # the only change, and it is announced
    import json

    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["train"]["batch_size"] == 256 and saved["config"]["train"]["optimizer"]["lr"] == 0.01
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    r = snndsl("run", spec, "--set", "time.steps=3", "--out", str(out), "--resume")
    assert r.returncode == 2 and "error[E822]" in r.stderr and "time.steps" in r.stderr


def test_dataset_error_points_at_the_command_line_when_the_path_came_from_there(tmp_path):
    r = snndsl("run", str(SPECS / "stop_mnist.snn"), "--set", f"task.path={tmp_path / 'none'}",
               "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "<command line>:1:7: error[E811]" in r.stderr, r.stderr


@pytest.mark.slow
def test_a_run_is_never_overwritten_and_either_tool_resumes_it(tmp_path):
    out = tmp_path / "run"
    spec = str(small_stop_digits(tmp_path))
    train_py = tmp_path / "train.py"
    assert snndsl("emit", spec, "-o", str(train_py)).returncode == 0
    made = subprocess.run([PYTHON, str(train_py), "--out", str(out), "--set", "train.epochs=1",
                           "--set", "train.batch_size=256"], capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    r = snndsl("run", spec, "--set", "train.epochs=1", "--out", str(out))
    assert r.returncode == 2 and "error[E823]" in r.stderr  # not --resume: the run stays as it was
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    r = snndsl("run", spec, "--set", "train.epochs=2", "--out", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    assert "train.epochs 1 -> 2" in r.stderr and "batch_size" not in r.stderr  # the run's batch size kept
    import json

    assert json.loads((out / "config.json").read_text())["config"]["train"]["batch_size"] == 256
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    r = snndsl("run", str(SPECS / "surrogate_digits.snn"), "--out", str(out), "--resume")
    assert r.returncode == 2 and "error[E822]" in r.stderr and "stop_digits" in r.stderr


@pytest.mark.slow
def test_resume_after_a_gain_change_names_the_projection(tmp_path):
    """A resumed run must be the network that made it: a changed gain (in the spec, not a --set) is
    E822 naming the projection, before anything in the run folder is written."""
    spec = tmp_path / "stop_digits.snn"
    original = small_stop_digits(tmp_path).read_text()
    out = tmp_path / "run"
    r = snndsl("run", str(spec), "--set", "train.epochs=1", "--set", "train.batch_size=256", "--out", str(out))
    assert r.returncode == 0, r.stderr
    program = (out / "train.py").read_bytes()
    checkpoint = (out / "checkpoint.npz").read_bytes()
    metrics = (out / "metrics.jsonl").read_text()
    edited = original.replace("weights = dense(init = kaiming); learn w", "weights = dense(init = kaiming); gain = 2; learn w")
    assert edited != original
    spec.write_text(edited)
    r = snndsl("run", str(spec), "--resume", "--set", "train.epochs=2", "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert "error[E822]" in r.stderr and "the network changed" in r.stderr, r.stderr
    assert "projection pixels->hidden.v" in r.stderr and "hidden->logits" not in r.stderr, r.stderr
    assert (out / "train.py").read_bytes() == program  # the run's own program was not overwritten
    assert (out / "checkpoint.npz").read_bytes() == checkpoint and (out / "metrics.jsonl").read_text() == metrics
