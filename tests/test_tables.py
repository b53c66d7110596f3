"""The IR's task tables agree with the libraries and the runtime that run the tasks."""

from __future__ import annotations

import pytest

from snndsl.ir.tables import BRAX_BACKENDS, BRAX_ENVS, DATASET_SIZES, TASK_KINDS


def test_brax_envs_are_braxs_registry():
    from brax import envs

    assert sorted(BRAX_ENVS) == sorted(envs._envs), "BRAX_ENVS must list exactly Brax's registered environments"


def test_brax_backends_are_braxs():
    import inspect

    from brax.envs.base import PipelineEnv

    # PipelineEnv.__init__ picks the physics pipeline from a table keyed by backend name
    src = inspect.getsource(PipelineEnv.__init__)
    for b in BRAX_BACKENDS:
        assert f"'{b}'" in src or f'"{b}"' in src, f"brax's PipelineEnv knows no backend {b!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fast", "hopper", "inverted_pendulum", "reacher"])
def test_brax_env_sizes(name):
    import jax
    from brax import envs

    env = envs.get_environment(name)
    # env.observation_size runs reset op by op (40 s for hopper); its shape from a trace is the same number
    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs
    assert (obs.shape[-1], env.action_size) == BRAX_ENVS[name]


def test_dataset_sizes_match_the_runtime():
    from snndsl_runtime.tasks.datasets import DATASETS

    assert DATASET_SIZES == DATASETS
    from snndsl.ir.tables import DATASET_SHAPES
    from snndsl_runtime.tasks.datasets import SHAPES

    # every built-in dataset has an image shape, the same in both tables, that its size is made of
    assert DATASET_SHAPES == SHAPES and set(SHAPES) == set(DATASETS)
    assert all(c * h * w == DATASETS[name][0] for name, (c, h, w) in SHAPES.items())
    assert TASK_KINDS == ("brax", *DATASETS, "arrays")
