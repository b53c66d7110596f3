"""Several processes in one run (snndsl_runtime/distributed.py): the job settings from flags, the
environment and SLURM / Open MPI; the rows each process holds; and two real processes on localhost
through jax.distributed with gloo CPU collectives (slow): the same metrics as one process, only
process 0 writes, resume reads a shared checkpoint, a killed process stops the other."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from snndsl_runtime import distributed
from snndsl_runtime.errors import RunError

from .conftest import PYTHON, cli_in_process, write_spec

EC_TINY = """
from "neurons" import LIF
from "encoders" import signed_current
from "readouts" import instant

time { dt = 1 ms; steps = 3 }
task digits { validation = 0.1 }

input pixels = signed_current
population exc = LIF(12) { tau_m = 5 ms; sign = +1 }
population inh = LIF(4) { tau_m = 5 ms; sign = -1 }
group hidden = [exc, inh]
output logits = instant(hidden)

project pixels -> hidden.v { weights = bernoulli(p = 0.5); gain = 0.4; learn p }
project hidden -> logits   { weights = bernoulli(p = 0.5); gain = 0.3; learn p }

train ec { population = 24; eval_copies = 4; generations = 4; batch_size = 32; lr = 0.1; checkpoint_every = 2 }
"""

STOP_TINY = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant

time { dt = 1 ms; steps = 3 }
task digits { }

input pixels = current
population hidden = LIF(16) { tau_m = 2 ms; learn v_th per neuron { bounds = [0.1, 4] } }
output logits = instant(hidden)

project pixels -> hidden.v { weights = dense(init = kaiming); learn w }
project hidden -> logits   { weights = dense(init = lecun); learn w }

train stop { epochs = 2; batch_size = 128; optimizer = adam(lr = 5e-3) }
"""

TIMING = ("wall_s", "samples_per_s", "steps_per_s", "devices")  # and what the run was spread over


# ---- the job settings

def test_no_job_settings_is_a_single_process():
    assert distributed.resolve({}, {}) is None
    assert distributed.resolve({"num_processes": "1"}, {}) is None  # a job of one: nothing to join


def test_flags_give_the_job():
    s = distributed.resolve({"coordinator": "127.0.0.1:1234", "num_processes": "2", "process_id": "1",
                             "timeout": "7"}, {})
    assert (s.coordinator, s.num_processes, s.process_id, s.timeout, s.cluster) == ("127.0.0.1:1234", 2, 1, 7.0, None)


def test_environment_gives_the_job_and_flags_win():
    env = {"SNNDSL_COORDINATOR": "localhost:99", "SNNDSL_NUM_PROCESSES": "4", "SNNDSL_PROCESS_ID": "3",
           "SNNDSL_DISTRIBUTED_TIMEOUT": "30"}
    s = distributed.resolve({}, env)
    assert (s.coordinator, s.num_processes, s.process_id, s.timeout) == ("localhost:99", 4, 3, 30.0)
    s = distributed.resolve({"process_id": "0"}, env)
    assert s.process_id == 0 and s.num_processes == 4
    jax_env = {"JAX_COORDINATOR_ADDRESS": "[::1]:5000", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}
    assert distributed.resolve({}, jax_env).coordinator == "[::1]:5000"
    assert distributed.resolve({}, {**env, "SNNDSL_DISTRIBUTED": "off"}) is None


SLURM = {"SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_NTASKS": "2", "SLURM_PROCID": "1",
         "SLURM_LOCALID": "0"}


def test_slurm_and_open_mpi_are_left_to_jax_detection():
    s = distributed.resolve({}, SLURM)
    assert s.cluster == "slurm" and (s.coordinator, s.num_processes, s.process_id) == (None, None, None)
    assert distributed.resolve({}, {**SLURM, "SLURM_NTASKS": "1"}) is None  # one task: no job
    assert distributed.resolve({}, {k: v for k, v in SLURM.items() if k != "SLURM_STEP_NODELIST"}) is None  # sbatch
    ompi = {"OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.96.0.1:34911", "OMPI_COMM_WORLD_SIZE": "4"}
    assert distributed.resolve({}, ompi).cluster == "ompi"
    assert distributed.resolve({"coordinator": "127.0.0.1:4000"}, SLURM).coordinator == "127.0.0.1:4000"  # flags still win


@pytest.mark.parametrize("flags, env, code, words", [
    ({"coordinator": "node1", "num_processes": "2", "process_id": "0"}, {}, "E901", "not HOST:PORT"),
    ({"coordinator": "node1:0", "num_processes": "2", "process_id": "0"}, {}, "E901", "not HOST:PORT"),
    ({"coordinator": "node1:70000", "num_processes": "2", "process_id": "0"}, {}, "E901", "not HOST:PORT"),
    ({"coordinator": "no-such-host.invalid:1234", "num_processes": "2", "process_id": "0"}, {}, "E901", "not known"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": "2", "process_id": "2"}, {}, "E902", "out of range"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": "0", "process_id": "0"}, {}, "E902", "at least 1"),
    ({}, {"SNNDSL_COORDINATOR": "127.0.0.1:1234", "SNNDSL_NUM_PROCESSES": "two", "SNNDSL_PROCESS_ID": "0"},
     "E902", "SNNDSL_NUM_PROCESSES must be a whole number"),
    ({"coordinator": "127.0.0.1:1234", "process_id": "1"}, {}, "E903", "--num-processes missing"),
    ({"num_processes": "2"}, {}, "E903", "--coordinator and --process-id missing"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": "2", "process_id": "0", "timeout": "0"}, {}, "E903",
     "seconds from 1"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": "2", "process_id": "0"}, {"SNNDSL_DISTRIBUTED": "off"},
     "E903", "SNNDSL_DISTRIBUTED=off"),
])
def test_bad_job_settings_are_named(flags, env, code, words):
    with pytest.raises(RunError) as e:
        distributed.resolve(flags, env)
    assert e.value.code == code and words in e.value.message


def _snndsl(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([PYTHON, "-m", "snndsl", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_cli_reports_bad_job_settings_with_exit_2(tmp_path):
    spec = write_spec(tmp_path, EC_TINY)
    r = _snndsl("run", str(spec), "--coordinator", "127.0.0.1:99999", "--num-processes", "2", "--process-id", "0")
    assert r.returncode == 2 and "error[E901]" in r.stderr and "Traceback" not in r.stderr
    r = _snndsl("run", str(spec), env={"SNNDSL_COORDINATOR": "127.0.0.1:1234", "SNNDSL_NUM_PROCESSES": "2",
                                       "SNNDSL_PROCESS_ID": "5"})
    assert r.returncode == 2 and "error[E902]" in r.stderr and "SNNDSL_PROCESS_ID 5" in r.stderr


@pytest.mark.slow
def test_emitted_model_takes_the_job_flags(tmp_path):
    spec = write_spec(tmp_path, EC_TINY)
    out = tmp_path / "train.py"
    assert cli_in_process("emit", spec, "-o", out).returncode == 0
    r = subprocess.run([PYTHON, str(out), "--coordinator", "127.0.0.1:1234", "--num-processes", "2",
                        "--process-id", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "error[E902]" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([PYTHON, str(out), "--help"], capture_output=True, text=True, timeout=300)
    assert "--coordinator" in r.stdout and "--distributed-timeout" in r.stdout


# ---- each process's rows

def test_local_rows_split_a_batch_into_equal_blocks():
    batch = np.arange(12)
    shards = [distributed.process_shard(batch, i, 3) for i in range(3)]
    assert [s.tolist() for s in shards] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert distributed.local_rows(12) == slice(0, 12)  # a single process holds every row
    with pytest.raises(RunError) as e:
        distributed.local_rows(10, 0, 4)
    assert e.value.code == "E908" and "multiple of 4" in e.value.hint


# ---- two processes on localhost

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job(args, n=2, cwds=None, timeout=20, extra=(), only=None):
    """Start the `snndsl run` processes of a job of n (those in `only`, default all); their Popens."""
    port = _free_port()
    procs = []
    for i in only or range(n):
        cmd = [PYTHON, "-m", "snndsl", "run", *args, "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(n),
               "--process-id", str(i), "--distributed-timeout", str(timeout), *(extra[i] if extra else ())]
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device per process
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      cwd=(cwds or [None] * n)[i], env=env))
    return procs


def _finish(procs, timeout=400):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


def _rows(run_dir):
    with open(Path(run_dir) / "metrics.jsonl") as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def _devices(run_dir) -> set:
    with open(Path(run_dir) / "metrics.jsonl") as f:
        return {json.loads(line)["devices"] for line in f}


@pytest.mark.slow
def test_two_processes_train_ec_as_one_and_resume_from_the_shared_folder(tmp_path):
    spec = write_spec(tmp_path, EC_TINY)
    one = tmp_path / "one"
    # the single-process reference in this process (no start-up); the job's processes are real
    assert cli_in_process("run", spec, "--out", one, "--set", "train.generations=6").returncode == 0
    a, b = tmp_path / "host0", tmp_path / "host1"  # each process's working folder; --out is relative to it
    a.mkdir(), b.mkdir()
    results = _finish(_job([str(spec), "--out", "runs/x"], cwds=[a, b]))
    assert [r[0] for r in results] == [0, 0], results
    assert "generation" not in results[1][1] + results[1][2]  # process 1 shows no progress (gloo says hello)
    assert "generation 4/4" in results[0][2]
    assert not (b / "runs").exists()  # only process 0 writes the run folder
    assert (a / "runs/x/checkpoint.npz").exists() and (a / "runs/x/curve.png").exists()
    assert _devices(a / "runs/x") == {"2 x cpu"}  # the mesh spans both processes' devices
    assert _rows(a / "runs/x") == _rows(one)[:4]  # EC's sharded update is exact
    # resume: every process reads the checkpoint from the folder both see
    shared = str(a / "runs/x")  # (both from folder a: the model's comments name stdlib paths relative to the cwd)
    results = _finish(_job([str(spec), "--out", shared, "--resume", "--set", "train.generations=6"], cwds=[a, a]))
    assert [r[0] for r in results] == [0, 0], results
    assert _rows(shared) == _rows(one)
    # a folder process 1 does not see: E907 on both, no traceback
    results = _finish(_job([str(spec), "--out", "runs/x", "--resume", "--set", "train.generations=8"], cwds=[a, b]))
    assert [r[0] for r in results] == [2, 2]
    assert all("error[E907]" in r[2] and "process 1 cannot read it" in r[2] for r in results), results
    assert "Traceback" not in results[0][2] + results[1][2]


@pytest.mark.slow
def test_two_processes_train_stop_as_one(tmp_path):
    spec = write_spec(tmp_path, STOP_TINY)
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli_in_process("run", spec, "--out", one).returncode == 0  # the reference, in this process
    results = _finish(_job([str(spec), "--out", str(two)]))
    assert [r[0] for r in results] == [0, 0], results
    rows, reference = _rows(two), _rows(one)
    assert _devices(two) == {"2 x cpu"}  # each batch split over both processes' devices
    assert len(rows) == 2 and rows[0].keys() == reference[0].keys()
    for row, ref in zip(rows, reference):  # the gradients are summed in another order: float rounding
        for k, v in ref.items():
            assert row[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
    assert rows[-1]["test_accuracy"] > 0.3  # it learned (chance 0.1): the comparison is of a real run


@pytest.mark.slow
def test_processes_of_one_job_must_run_the_same_job(tmp_path):
    spec = write_spec(tmp_path, EC_TINY)
    results = _finish(_job([str(spec), "--out", str(tmp_path / "x")], extra=[[], ["--seed", "1"]]))
    assert [r[0] for r in results] == [2, 2]
    assert all("error[E904]" in r[2] and "its seed is 1, process 0's is 0" in r[2] for r in results), results
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_process_stops_the_other_within_the_timeout(tmp_path, victim):
    spec = write_spec(tmp_path, EC_TINY)
    out = tmp_path / "x"
    procs = _job([str(spec), "--out", str(out), "--set", "train.generations=100000", "--set",
                  "train.checkpoint_every=100000"], timeout=5)
    deadline = time.time() + 240
    while not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text():  # both are training
        assert time.time() < deadline and all(p.poll() is None for p in procs), _finish(procs)
        time.sleep(0.5)
    procs[victim].send_signal(signal.SIGKILL)
    t = time.time()
    code, _, stderr = _finish([procs[1 - victim]], timeout=60)[0]
    assert time.time() - t < 5 + 15  # the timeout, and the time to notice
    assert code == 2 and "error[E906]" in stderr, stderr
    if victim == 1:
        assert "process 1 has not answered" in stderr
    else:
        assert "the coordinator (process 0 at 127.0.0.1" in stderr
    procs[victim].wait()


@pytest.mark.slow
def test_an_emitted_model_alone_stops_after_the_timeout(tmp_path):
    """The model file joins before its module body starts JAX (else: E905 'JAX was started ...')."""
    spec = write_spec(tmp_path, EC_TINY)
    program = tmp_path / "train.py"
    assert cli_in_process("emit", spec, "-o", program).returncode == 0
    t = time.time()
    r = subprocess.run([PYTHON, str(program), "--out", str(tmp_path / "x"), "--coordinator", f"127.0.0.1:{_free_port()}",
                        "--num-processes", "2", "--process-id", "0", "--distributed-timeout", "3"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert time.time() - t < 60
    assert r.returncode == 2 and "error[E905]" in r.stderr and "within 3 s" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x").exists()
