"""Files: the one atomic write (a temporary file beside the target, fsynced, then renamed over it),
and the copy of this runtime that goes beside a model."""

import os
import shutil
import socket
from pathlib import Path

from .errors import RunError


def atomic_write(path, write, mode="wb"):
    """Call write(f) on a temporary file and move it to `path` only when complete.

    A failed write (full disk, file-size limit) removes the temporary file, leaves the previous
    `path` untouched and raises RunError E841."""
    tmp = f"{path}.{socket.gethostname()}-{os.getpid()}.tmp"  # processes of a job may write the same file
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise RunError("E841", f"cannot write {path}: {e.strerror or e}",
                       "free some disk space or choose another --out folder; the previous file is intact") from None


RUNTIME_DIR = Path(__file__).resolve().parent


def copy_runtime(folder) -> Path:
    """Put a copy of this runtime in `folder` (beside a model), replacing an older copy."""
    target = Path(folder) / "snndsl_runtime"
    if target.exists() and target.resolve() == RUNTIME_DIR:
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(RUNTIME_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target
