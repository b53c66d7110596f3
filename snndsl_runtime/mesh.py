"""One device mesh for every rule (`train.devices = all | N`): a 1-D `jax.sharding.Mesh` over the
global devices, with one axis, `batch`, along which the trainers split their parallel work (EC/ES:
the population's members; STOP and surrogate: the samples of a batch; PPO: the environments).

Everything else (parameters, optimizer state, keys, metrics) is replicated.  The jitted steps take
and return arrays placed here, so XLA partitions them (`jit` with sharded inputs and outputs, no
pmap); results are read on the host only from replicated outputs.  The helpers are written for
several processes too (multi-controller JAX): the mesh is built from `jax.devices()` (global),
host values enter with `jax.make_array_from_callback` from the same global value on every process,
and `to_host` gathers a sharded array with `process_allgather` when it is not all addressable here.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .errors import RunError

AXIS = "batch"


def available_devices() -> list:
    """Every device of the job, in a fixed order (all processes agree on it)."""
    return sorted(jax.devices(), key=lambda d: (d.process_index, d.id))


def mesh_devices(setting="all") -> list:
    """The devices `train.devices` selects: all of them, or the first N.  RunError E891 when N is
    more than there are."""
    devices = available_devices()
    if setting in (None, "all"):
        return devices
    n = int(setting)
    if n < 1 or n > len(devices):
        raise RunError("E891", f"train.devices = {n}, but this job has {len(devices)} {describe_devices(devices)} "
                               f"device{'s' if len(devices) != 1 else ''}",
                       f"set train.devices to all or to a number from 1 to {len(devices)}", node="train")
    return devices[:n]


def describe_devices(devices) -> str:
    kinds = sorted({d.platform for d in devices})
    return "/".join(kinds)


def device_mesh(setting="all") -> Mesh:
    """The run's mesh: the selected devices along one axis, AXIS."""
    return Mesh(np.array(mesh_devices(setting), dtype=object), (AXIS,))


def mesh_of(cfg: dict) -> Mesh:
    """The mesh of a run's settings (`train.devices`, `all` when absent: runs made before it existed)."""
    return device_mesh(cfg["train"].get("devices", "all"))


def size(mesh: Mesh) -> int:
    return int(mesh.devices.size)


def describe(mesh: Mesh) -> str:
    """What the run is spread over, for the display and the summary: `4 x cpu`, `1 x gpu`."""
    devices = list(mesh.devices.flat)
    return f"{len(devices)} x {describe_devices(devices)}"


def replicated(mesh: Mesh) -> NamedSharding:
    """The same whole value on every device."""
    return NamedSharding(mesh, PartitionSpec())


def sharded(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Split along `axis` (the members, samples or environments) over the mesh."""
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), AXIS))


def check_divisible(count: int, mesh: Mesh, setting: str, what: str) -> None:
    """RunError E892 unless `count` (the `setting`, e.g. train.population) splits evenly over the mesh's
    devices: every device must hold the same number of `what`."""
    n = size(mesh)
    if count % n:
        lower, upper = count - count % n, count + n - count % n
        options = " or ".join(str(v) for v in (lower, upper) if v > 0)
        raise RunError("E892", f"{setting} = {count} does not split over {describe(mesh)} devices: each device "
                               f"must hold the same number of {what}",
                       f"set {setting} to a multiple of {n} ({options}), or train.devices to a number that "
                       f"divides {count}", node="train")


def put(tree, sharding):
    """Host values (numpy or JAX arrays, the same global value on every process) as global arrays
    placed by `sharding` (one sharding, or a tree of them matching `tree`).  Each process builds
    only the shards its devices hold."""
    def one(x, s):
        x = np.asarray(jax.device_get(x)) if not isinstance(x, jax.Array) or x.is_fully_addressable else x
        if isinstance(x, jax.Array):  # already global (not addressable here): re-place it by jit
            return jax.jit(lambda v: v, out_shardings=s)(x)
        return jax.make_array_from_callback(x.shape, s, lambda index: x[index])

    is_sharding = lambda s: isinstance(s, jax.sharding.Sharding)  # noqa: E731
    # sharding is a prefix of tree: one sharding for each of its subtrees
    return jax.tree.map(lambda s, sub: jax.tree.map(lambda x: one(x, s), sub), sharding, tree, is_leaf=is_sharding)


def replicate(tree, mesh: Mesh):
    return put(tree, replicated(mesh))


def shard(tree, mesh: Mesh, axis: int = 0):
    return put(tree, sharded(mesh, axis))


def constrain(tree, sharding):
    """Inside a jitted function: lay these values out by `sharding` (replicated: gathered to every
    device, e.g. the population's fitness before ranking)."""
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def to_host(tree):
    """numpy copies of arrays: replicated or addressable ones directly, sharded ones spanning several
    processes gathered (a collective: every process must call it at the same point)."""
    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(jax.device_get(x))
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)
