import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    os.environ["SNNDSL_CACHE"] = str(tmp_path_factory.mktemp("snndsl-cache"))


def generated(spec: str | Path, sets=()):
    """Import the module generated for a spec (with --set overrides)."""
    from snndsl.driver.build import import_module, load_spec, module_text

    ir, _ = load_spec(str(spec), list(sets))
    module, _ = import_module(module_text(ir), ir.name)
    return module


def trainer_of(model, cfg=None, seed=0):
    """The runtime's trainer for a generated model (its rule and task kind), with the model's
    settings unless `cfg` is given."""
    from snndsl_runtime.trainers import trainer_class

    return trainer_class(model.RULE, model.TASK_KIND)(model, cfg or model.CONFIG, seed)


def write_spec(tmp_path: Path, text: str, name: str = "spec.snn") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


PYTHON = sys.executable


@pytest.fixture(scope="session", autouse=True)
def _jax_cache(tmp_path_factory):
    os.environ.setdefault("SNNDSL_JAX_CACHE", str(tmp_path_factory.mktemp("jax-cache")))


def cli_in_process(*args, cwd=None):
    """`snndsl ARGS` run by its entry point in this process (no interpreter and JAX start-up per call):
    its exit status and what it wrote, as subprocess.run would give them.  For tests of what a command
    does, not of the process; each command keeps at least one real subprocess test elsewhere."""
    import contextlib
    import io
    import subprocess

    from snndsl import cli

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([str(a) for a in args])
            except SystemExit as e:  # argparse's own errors
                code = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["snndsl", *args], code, out.getvalue(), err.getvalue())
