"""Several processes (hosts) in one run, through `jax.distributed`.

A run joins a job when it is given one: `--coordinator HOST:PORT --num-processes N --process-id I`
(on `snndsl run` and on an emitted model's command line), the same three as environment variables
(SNNDSL_COORDINATOR, SNNDSL_NUM_PROCESSES, SNNDSL_PROCESS_ID; JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID also work), or a SLURM step / Open MPI launch with more than one
task, which JAX's own cluster detection reads.  SNNDSL_DISTRIBUTED=off never joins.  Flags win
over environment variables; the cluster fills what neither gives.

Joining must come before anything starts JAX's backend (`jax.devices()`, the first array), so the
command line joins first thing (`join_from_args`), before the model is imported.

Process 0 alone writes the run folder (checkpoints, metrics, plots, TensorBoard) and shows
progress; `is_writer()` says which process this is.  Every process reads a resumed checkpoint, so
the run folder must be on a file system all hosts share.

A job must not hang when one process dies.  Each process beats a counter in the coordinator's
key-value store; a watchdog thread stops this process with a message naming the peer (E906, exit
status 2) when a peer's counter stands still for the timeout, when a peer reports an error, or
when the coordinator (process 0) cannot be reached for that long.  The same timeout bounds the
wait for every process to join (E905).  `--distributed-timeout S` or SNNDSL_DISTRIBUTED_TIMEOUT
sets it (seconds, default 120).  JAX's own heartbeat, which aborts a process with a C++ trace, is
set well beyond it.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

from .errors import RunError

DEFAULT_TIMEOUT = 120.0
ENV = {"coordinator": ("SNNDSL_COORDINATOR", "JAX_COORDINATOR_ADDRESS"),
       "num_processes": ("SNNDSL_NUM_PROCESSES", "JAX_NUM_PROCESSES"),
       "process_id": ("SNNDSL_PROCESS_ID", "JAX_PROCESS_ID"),
       "timeout": ("SNNDSL_DISTRIBUTED_TIMEOUT",)}
FLAGS = {"coordinator": "--coordinator", "num_processes": "--num-processes", "process_id": "--process-id",
         "timeout": "--distributed-timeout"}
_PREFIX = "snndsl/"


@dataclass(frozen=True)
class JobSettings:
    """What this process was told about the job; None fields are left to the cluster's detection."""

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    timeout: float
    cluster: str | None  # "slurm" or "ompi" when JAX's detection fills the gaps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job flags, shared by `snndsl run` and an emitted model's command line."""
    g = parser.add_argument_group("several processes (hosts); see README, \"Several hosts\"")
    g.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0, where the others connect (env SNNDSL_COORDINATOR)")
    g.add_argument("--num-processes", metavar="N", help="processes in the job (env SNNDSL_NUM_PROCESSES)")
    g.add_argument("--process-id", metavar="I", help="this process, 0..N-1; process 0 writes the run folder "
                   "(env SNNDSL_PROCESS_ID)")
    g.add_argument("--distributed-timeout", metavar="S",
                   help=f"seconds to wait for every process to join, and for a silent process before the "
                        f"others stop (env SNNDSL_DISTRIBUTED_TIMEOUT, default {DEFAULT_TIMEOUT:g})")


def _given(name: str, flags: dict, environ) -> tuple[str | None, str | None]:
    """(value, where it came from) of one job setting: the flag, else the first environment variable set."""
    value = flags.get(name)
    if value not in (None, ""):
        return str(value), FLAGS[name]
    for var in ENV[name]:
        if environ.get(var, "") != "":
            return environ[var], var
    return None, None


def detected_cluster(environ) -> str | None:
    """A launch JAX's cluster detection can read, with more than one task: "slurm" or "ompi"."""
    def count(var):
        try:
            return int(environ.get(var, "1"))
        except ValueError:
            return 1
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
    if all(v in environ for v in slurm) and count("SLURM_NTASKS") > 1:
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in environ and count("OMPI_COMM_WORLD_SIZE") > 1:
        return "ompi"
    return None


def _whole(text: str, where: str, code: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise RunError(code, f"{where} must be a whole number, not {text!r}", _HINT) from None
    if value < least:
        raise RunError(code, f"{where} must be at least {least}, not {value}", _HINT)
    return value


_HINT = "e.g. --coordinator node1:12345 --num-processes 2 --process-id 0 on the first host, --process-id 1 on the other"


def check_address(address: str, where: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT (IPv6 as [ADDR]:PORT); RunError E901 unless the host resolves."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RunError("E901", f"{where} {address!r} is not HOST:PORT (a port 1 to 65535)",
                       "e.g. --coordinator node1:12345, the host of process 0 and a free port there")
    try:
        socket.getaddrinfo(host, int(port))
    except (OSError, UnicodeError) as e:
        raise RunError("E901", f"{where} {address!r}: the host {host!r} is not known here "
                               f"({getattr(e, 'strerror', None) or e})",
                       "give process 0's host name or IP address as the other hosts reach it") from None
    return host, int(port)


def resolve(flags: dict, environ=None) -> JobSettings | None:
    """The job this process is to join, or None for a single-process run.  flags: coordinator,
    num_processes, process_id, timeout as given on the command line (None when not).  RunError
    E901 (address), E902 (count or id out of range), E903 (an incomplete or contradictory set)."""
    environ = os.environ if environ is None else environ
    values = {name: _given(name, flags, environ) for name in FLAGS}
    timeout_text, timeout_from = values.pop("timeout")
    timeout = DEFAULT_TIMEOUT
    if timeout_text is not None:
        try:
            timeout = float(timeout_text)
        except ValueError:
            timeout = float("nan")
        if not 1 <= timeout <= 86400:
            raise RunError("E903", f"{timeout_from} must be a number of seconds from 1 to 86400, not {timeout_text!r}",
                           "e.g. --distributed-timeout 60")
    if environ.get("SNNDSL_DISTRIBUTED", "").lower() in ("off", "0", "no", "false"):
        given = [where for _, where in values.values() if where and where.startswith("--")]
        if given:
            raise RunError("E903", f"{given[0]} is given, but SNNDSL_DISTRIBUTED=off says not to join a job",
                           "unset SNNDSL_DISTRIBUTED, or drop the job flags")
        return None
    cluster = detected_cluster(environ)
    coordinator, num, pid = (values[k][0] for k in ("coordinator", "num_processes", "process_id"))
    if coordinator is None and num is None and pid is None and cluster is None:
        return None
    n = _whole(num, values["num_processes"][1], "E902", 1) if num is not None else None
    i = _whole(pid, values["process_id"][1], "E902", 0) if pid is not None else None
    if n is not None and i is not None and i >= n:
        raise RunError("E902", f"{values['process_id'][1]} {i} is out of range for {values['num_processes'][1]} {n}: "
                               f"process ids run from 0 to {n - 1}", _HINT)
    if coordinator is not None:
        check_address(coordinator, values["coordinator"][1])
    if cluster is None:
        missing = [FLAGS[k] for k in ("coordinator", "num_processes", "process_id") if values[k][0] is None]
        if n == 1:  # a job of one: nothing to join
            return None
        if missing:
            given = ", ".join(f"{where} {value}" for value, where in values.values() if where)
            raise RunError("E903", f"a job of several processes needs --coordinator, --num-processes and "
                                   f"--process-id; {given} given, {' and '.join(missing)} missing", _HINT)
    return JobSettings(coordinator, n, i, timeout, cluster)


# ---- the job this process belongs to

class _Job:
    def __init__(self, settings: JobSettings, client, index: int, count: int):
        self.settings, self.client, self.index, self.count = settings, client, index, count
        self.status = None  # the exit status this process leaves with, once known
        self.stopping = threading.Event()
        self.verdict = None  # why a peer stopped, set by the watchdog
        self.agreements = 0


_job: _Job | None = None


def process_index() -> int:
    return _job.index if _job else 0


def process_count() -> int:
    return _job.count if _job else 1


def is_writer() -> bool:
    """True on the process that writes the run folder and shows progress (process 0)."""
    return process_index() == 0


def join_from_args(args) -> JobSettings | None:
    """Join the job an argparse namespace (with add_arguments' flags) and the environment describe."""
    flags = {name: getattr(args, flag[2:].replace("-", "_"), None) for name, flag in FLAGS.items()}
    return join(resolve(flags))


def join_from_argv(argv) -> JobSettings | None:
    """join_from_args on a raw argument list (an emitted model joins before its module body runs
    JAX); a bad job setting prints its error and exits with status 2."""
    ap = argparse.ArgumentParser(add_help=False)
    add_arguments(ap)
    args, _ = ap.parse_known_args(argv)
    try:
        return join_from_args(args)
    except RunError as e:
        print(e, file=sys.stderr)
        sys.exit(2)


def _use_gloo() -> None:
    """Cross-process collectives on CPU through gloo (the option's name changed across JAX versions)."""
    import jax

    for option, value in (("jax_cpu_collectives_implementation", "gloo"), ("jax_cpu_enable_gloo_collectives", True)):
        try:
            jax.config.update(option, value)
            return
        except (AttributeError, KeyError, ValueError):
            continue


_JOIN_HINT = ("start every process within the timeout (--distributed-timeout), with the same --coordinator and "
              "--num-processes; process 0's port must be free and reachable from the other hosts")


def join(settings: JobSettings | None) -> JobSettings | None:
    """jax.distributed.initialize for `settings` (None: a single process, nothing to do), then the
    watchdog.  E905 when the job is not formed within the timeout (JAX's own wait can run longer,
    and ends in an abort: a timer of ours ends it first)."""
    global _job
    if settings is None or _job is not None:
        return settings
    import jax
    from jax._src import distributed as jax_distributed  # the client: key-value store and barriers

    _use_gloo()
    timeout = int(settings.timeout + 0.999)
    where = settings.coordinator or f"the {settings.cluster} job's coordinator"
    me = "" if settings.process_id is None else f"process {settings.process_id} of {settings.num_processes}: "
    joining = (f"{me}not every process joined the job through {where} within {timeout} s "
               f"(--distributed-timeout)")
    _catch_abort(lambda: _die("E905", joining, _JOIN_HINT) if _job is None else _lost_job(_job))
    timer = threading.Timer(timeout + 2, lambda: _die("E905", joining, _JOIN_HINT))
    timer.daemon = True
    timer.start()
    try:
        jax.distributed.initialize(
            settings.coordinator, settings.num_processes, settings.process_id,
            initialization_timeout=timeout,
            heartbeat_timeout_seconds=2 * timeout + 30,  # the watchdog stops the job first, with a message
            shutdown_timeout_seconds=max(4 * timeout, 600))  # process 0 may still be writing plots
    except RuntimeError as e:
        text = str(e)
        if "must be called before" in text:
            raise RunError("E905", "JAX was started before joining the job", "join first thing in the program") from None
        raise RunError("E905", f"{joining}: {_first_line(text)}", _JOIN_HINT) from None
    except (ValueError, TypeError) as e:
        raise RunError("E903", f"the job settings are incomplete: {e}", _HINT) from None
    finally:
        timer.cancel()
    state = jax_distributed.global_state
    _job = _Job(settings, state.client, jax.process_index(), jax.process_count())
    threading.Thread(target=_watch, args=(_job,), name="snndsl-watchdog", daemon=True).start()
    atexit.register(_at_exit)
    return settings


_abort_handler = None  # the C handler, kept alive for the process's life


def _catch_abort(on_abort) -> None:
    """JAX's distributed client aborts the process (SIGABRT, a C++ stack trace) when it loses the
    coordinator, when the coordinator reports a dead peer, or when joining times out.  A C-level
    handler calls `on_abort()` instead, which prints the message and exits with status 2.  (It must
    be C-level: abort() does not return to Python, and JAX's client takes no Python callback.)"""
    global _abort_handler
    import ctypes
    import signal

    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_int)
    try:
        libc = ctypes.CDLL(None)
        libc.signal.restype = ctypes.c_void_p
        libc.signal.argtypes = [ctypes.c_int, handler_type]
        _abort_handler = handler_type(lambda _signum: on_abort())
        libc.signal(signal.SIGABRT, _abort_handler)
    except (OSError, AttributeError, ValueError):  # no C library to ask: JAX's abort stays as it is
        pass


def _lost_job(job: _Job) -> None:
    if job.status == 0:  # after a successful shutdown, an abort is not the job's
        os._exit(134)
    if job.status is not None:  # this process is failing already and has said why
        os._exit(job.status)
    where = job.settings.coordinator or "the job coordinator"
    _stop(job, f"JAX's distributed runtime stopped this process: the coordinator (process 0 at {where}) "
               "or another process is gone")


def _die(code: str, message: str, hint: str) -> None:
    try:
        sys.stdout.flush()
    except Exception:
        pass
    print(f"\nerror[{code}]: {message}\n  = hint: {hint}", file=sys.stderr, flush=True)
    os._exit(2)


def _stop(job: _Job, message: str) -> None:
    """End this process at once with the E906 message (skipping JAX's shutdown, which would wait
    for the peer that is gone)."""
    job.verdict = message
    _die("E906", f"process {job.index} of {job.count}: {message}; stopping this process too",
         "see the stopped process's own output; restart the job with --resume once every host is up")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:300] if lines else "no reason given"


def _key(*parts) -> str:
    return _PREFIX + "/".join(str(p) for p in parts)


def _watch(job: _Job) -> None:
    """Beat this process's counter; stop when a peer's stands still, a peer failed, or the
    coordinator is gone, each for the timeout."""
    timeout = job.settings.timeout
    period = max(0.2, min(2.0, timeout / 10))
    beat = 0
    last_seen = {p: (None, time.monotonic()) for p in range(job.count) if p != job.index}
    reached = time.monotonic()
    failed_at = {}  # peer -> when it reported an error
    while not job.stopping.is_set():
        beat += 1
        now = time.monotonic()
        try:
            job.client.key_value_set(_key("beat", job.index), str(beat), allow_overwrite=True)
            for p in list(last_seen):
                state = _try_get(job.client, _key("state", p))
                if state.startswith("failed"):
                    failed_at.setdefault(p, now)
                    # a moment for this process to reach the same error itself (a job-wide check)
                    if job.status is None and now - failed_at[p] >= min(3.0, timeout / 2):
                        _stop(job, f"process {p} stopped with an error{state[len('failed'):] or ' (see its output)'}")
                    continue
                if state == "done":
                    del last_seen[p]
                    continue
                seen = _try_get(job.client, _key("beat", p))
                value, since = last_seen[p]
                if seen != value:
                    last_seen[p] = (seen, now)
                elif now - since > timeout:
                    _stop(job, f"process {p} has not answered for {now - since:.0f} s "
                               f"(--distributed-timeout {timeout:g}): it died or its host is unreachable")
            reached = now
        except Exception as e:  # the coordinator (process 0) is gone, or the network
            if job.stopping.is_set():
                return
            if now - reached > timeout:
                _stop(job, f"lost the coordinator (process 0 at {job.settings.coordinator or 'the job coordinator'}) "
                           f"for {now - reached:.0f} s: {_first_line(str(e))}")
        job.stopping.wait(period)


def _state_or_blank(job: _Job, p: int) -> str:
    try:
        return _try_get(job.client, _key("state", p))
    except Exception:
        return "gone"


def _try_get(client, key: str) -> str:
    try:
        return client.key_value_try_get(key)
    except Exception as e:  # not set yet: NOT_FOUND; anything else is the connection
        if "NOT_FOUND" in str(e) or "not found" in str(e).lower():
            return ""
        raise


def report_failure(status: int, message: str = "") -> None:
    """Tell the peers this process stops with an error (they stop too, naming it)."""
    job = _job
    if job is None or job.status is not None:
        return
    job.status = status
    try:
        job.client.key_value_set(_key("state", job.index), f"failed: {message}" if message else "failed",
                                 allow_overwrite=True)
    except Exception:
        pass


def wait_for_verdict(seconds: float | None = None) -> None:
    """After an error that may come from a dead peer (a collective that lost its other side):
    give the watchdog the timeout to name the peer (it ends the process) before going on."""
    job = _job
    if job is None:
        return
    deadline = time.monotonic() + (job.settings.timeout + 2 if seconds is None else seconds)
    while time.monotonic() < deadline and job.verdict is None:
        time.sleep(0.2)


def leave(status: int) -> int:
    """The end of this process's part: on success, tell the peers and shut the job down together;
    on failure, tell them why (the process then exits without JAX's shutdown barrier)."""
    job = _job
    if job is None:
        return status
    if status != 0:
        report_failure(status)
        return status
    job.client.key_value_set(_key("state", job.index), "done", allow_overwrite=True)
    import jax

    jax.distributed.shutdown()  # waits at a barrier for every process; the watchdog still runs
    job.stopping.set()
    job.status = 0
    return 0


def _at_exit() -> None:
    """A process that failed leaves without JAX's shutdown barrier (its peers stop on their own)."""
    job = _job
    if job is not None and job.status not in (None, 0):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        if job.index == 0:  # the coordinator: a moment for the others to reach their own errors first
            deadline = time.monotonic() + min(3.0, job.settings.timeout / 2) + 1
            while time.monotonic() < deadline and not all(
                    _state_or_blank(job, p) for p in range(1, job.count)):
                time.sleep(0.1)
        os._exit(job.status)
    if job is not None and job.status is None:  # ended without leave(): an exception, or sys.exit
        report_failure(1, "it ended unexpectedly")
        os._exit(1)


_CROSS_PROCESS = ("gloo", "nccl", "coordination", "connection", "unavailable", "peer")


def run_as_process(body) -> int:
    """Run `body()` (-> exit status) as this process's part of the job: an exception is reported
    to the peers and raised, after a chance for the watchdog to name a dead peer when it looks
    like one (a collective that lost its other side)."""
    if _job is None:
        return body()
    try:
        status = body()
    except KeyboardInterrupt:
        report_failure(130, "it was interrupted")
        raise
    except BaseException as e:
        if any(word in str(e).lower() for word in _CROSS_PROCESS):
            wait_for_verdict()
        report_failure(1, f"{type(e).__name__}: {_first_line(str(e))}")
        raise
    return leave(status)


# ---- agreement between processes

def gather(topic: str, value) -> list:
    """Every process's JSON-able `value` for `topic`, in process order (a barrier: it returns when
    all have given theirs; a dead peer is the watchdog's to report)."""
    job = _job
    if job is None:
        return [value]
    job.agreements += 1
    name = f"{job.agreements}-{topic}"
    job.client.key_value_set(_key("gather", name, job.index), json.dumps(value, sort_keys=True, default=str))
    wait_ms = int(max(3600.0, 30 * job.settings.timeout) * 1000)
    return [json.loads(job.client.blocking_key_value_get(_key("gather", name, p), wait_ms))
            for p in range(job.count)]


def from_writer(topic: str, value):
    """Process 0's `value` on every process (e.g. a run folder named after the time)."""
    return gather(topic, value)[0]


def agree(topic: str, fields: dict) -> None:
    """RunError E904 on every process unless all processes give the same `fields` (the same spec,
    settings, seed, ...): names the first process and field that differ from process 0's."""
    views = gather(topic, fields)
    for p, view in enumerate(views[1:], 1):
        for name in sorted(set(view) | set(views[0])):
            if view.get(name) != views[0].get(name):
                raise RunError("E904", f"process {p} runs another job than process 0: its {name} is "
                                       f"{_short(view.get(name))}, process 0's is {_short(views[0].get(name))}",
                               "start every process with the same spec, --set list, --seed, --out and --resume")


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


# ---- data: which rows are this process's

def local_rows(n: int, index: int | None = None, count: int | None = None) -> slice:
    """The rows of an n-row global batch that process `index` (default: this one) of `count` holds:
    equal contiguous blocks in process order.  RunError E908 when n does not split evenly."""
    index = process_index() if index is None else index
    count = process_count() if count is None else count
    if n % count:
        raise RunError("E908", f"a batch of {n} rows does not split evenly over {count} processes",
                       f"use a batch size that is a multiple of {count}")
    size = n // count
    return slice(index * size, (index + 1) * size)


def process_shard(array, index: int | None = None, count: int | None = None):
    """This process's rows of a global batch (leading axis), see local_rows."""
    return array[local_rows(len(array), index, count)]
