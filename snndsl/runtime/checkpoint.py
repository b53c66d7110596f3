"""Atomic checkpoints of a pytree: flattened leaves in an .npz, written to a temporary file and renamed."""

import json
import os
import zipfile

import numpy as np
import jax

from .errors import RunError  # inline: drop


def save_checkpoint(path, state, meta: dict) -> None:
    """Write state (any pytree of arrays) and meta (JSON-able) to path, atomically."""
    leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"leaf_{i:05d}": np.asarray(jax.device_get(x)) for i, x in enumerate(leaves)}
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path, with_leaves: bool):
    if not os.path.exists(path):
        raise RunError("E821", f"no checkpoint at {path}", "run without --resume to start a new run")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            names = sorted(k for k in data.files if k.startswith("leaf_")) if with_leaves else []
            return meta, [data[k] for k in names]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise RunError("E822", f"checkpoint {path} is unreadable: not a checkpoint written by a run ({type(e).__name__})",
                       "delete it (or the run folder) to start over") from None


def checkpoint_meta(path) -> dict:
    """The metadata of a checkpoint (step, seed, settings); RunError E821/E822 if missing or corrupt."""
    return _read(path, False)[0]


def load_checkpoint(path, template):
    """Read a checkpoint written by save_checkpoint into the structure of `template`.

    Raises RunError E821 (missing) or E822 (corrupt or from another network)."""
    meta, leaves = _read(path, True)
    ref, treedef = jax.tree_util.tree_flatten(template)
    if len(ref) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(ref, leaves)):
        raise RunError("E822", f"checkpoint {path} does not match this network (different shapes or settings)",
                       "resume with the same spec and settings, or start a new run in another --out folder")
    leaves = [np.asarray(b, dtype=np.asarray(a).dtype) for a, b in zip(ref, leaves)]
    return jax.tree_util.tree_unflatten(treedef, leaves), meta
