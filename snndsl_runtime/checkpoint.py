"""Atomic checkpoints: the training state's arrays in an .npz, each named by its path in the state
(`theta/w0`, `opt/0/mu/w0`), the learned quantities again under readable names (`network/...`), and
the metadata as JSON checked against a schema on read."""

import json
import os
import zipfile

import jax
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RunError
from .io import atomic_write

STATE, READABLE = "state/", "network/"


class CheckpointMeta(BaseModel):
    """What a checkpoint says about its run.  Data from a file, so every field is checked."""

    model_config = ConfigDict(extra="allow")

    step: int = Field(ge=0)
    seed: int = 0
    spec: str = ""
    rule: str = ""
    spec_sets: list[str] = []
    config: dict = {}
    wall_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    network_hash: str = ""
    network: dict[str, str] = {}
    runtime_version: str = ""


def _path_name(path) -> str:
    parts = []
    for p in path:
        parts.append(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))))
    return "/".join(parts)


def save_checkpoint(path, state, meta: dict, readable: dict | None = None) -> None:
    """Write state (a pytree of arrays), readable extras and meta (JSON-able) to path, atomically."""
    arrays = {STATE + _path_name(p): np.asarray(jax.device_get(x))
              for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}
    arrays.update({READABLE + k: np.asarray(jax.device_get(v)) for k, v in (readable or {}).items()})
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _corrupt(path, why):
    return RunError("E822", f"checkpoint {path} is unreadable: {why}", "delete it (or the run folder) to start over")


def _read(path, names_of=None):
    if not os.path.exists(path):
        raise RunError("E821", f"no checkpoint at {path}", "run without --resume to start a new run")
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in names_of(data.files)} if names_of else {}
    except PermissionError as e:
        raise RunError("E821", f"cannot read the checkpoint {path}: {e.strerror}", "check the file's permissions") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise _corrupt(path, f"not a checkpoint written by a run ({type(e).__name__})") from None
    try:
        meta = CheckpointMeta.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "metadata"
        raise _corrupt(path, f"its metadata field `{where}` is invalid ({err['msg']})") from None
    return meta.model_dump(), arrays


def checkpoint_meta(path) -> dict:
    """The metadata of a checkpoint (step, seed, settings); RunError E821/E822 if missing or corrupt."""
    return _read(path)[0]


def load_checkpoint(path, template):
    """Read a checkpoint written by save_checkpoint into the structure of `template`.

    Raises RunError E821 (missing) or E822 (corrupt or from another network)."""
    meta, arrays = _read(path, lambda files: [f for f in files if f.startswith(STATE)])
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [STATE + _path_name(p) for p, _ in paths]
    if set(names) != set(arrays) or any(np.shape(x) != np.shape(arrays[n]) for n, (_, x) in zip(names, paths)):
        raise RunError("E822", f"checkpoint {path} does not match this network (different shapes or settings)",
                       "resume with the same spec and settings, or start a new run in another --out folder")
    leaves = [np.asarray(arrays[n], dtype=np.asarray(x).dtype) for n, (_, x) in zip(names, paths)]
    return jax.tree_util.tree_unflatten(treedef, leaves), meta


def checkpoint_arrays(path, prefix=STATE) -> tuple[dict, dict]:
    """(metadata, {name without the prefix: array}) of the arrays under `prefix`, without a trainer's
    template (what `snndsl inspect` reads); RunError E821/E822 if missing or corrupt."""
    meta, arrays = _read(path, lambda files: [f for f in files if f.startswith(prefix)])
    return meta, {k[len(prefix):]: v for k, v in arrays.items()}
