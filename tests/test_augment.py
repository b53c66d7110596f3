"""Train-time augmentation (`crop`, `flip`): hand-computed crops and flips of a tiny image in the
(H, W, C) flat layout, temporal samples cropped alike in every frame, reproducible batches, and a
trainer that augments its training batches only."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snndsl_runtime.tasks.augment import augment_batch, augmentation

from .conftest import generated, trainer_of, write_spec

# a 2x2 image with two channels, channel 1 = 10 x channel 0; written (H, W, C)-flat
IMAGE = np.array([[1, 2], [3, 4]], np.float32)
SHAPE = (2, 2, 2)  # (C, H, W)


def _flat(img):
    """(H, W) channel-0 values -> the (H, W, C) flat row with channel 1 = 10 x channel 0."""
    return np.stack([img, 10 * img], -1).reshape(-1)


# every window of the zero-padded (crop = 1) image, by its offset (dy, dx), written out by hand
CROPS = {
    (0, 0): [[0, 0], [0, 1]], (0, 1): [[0, 0], [1, 2]], (0, 2): [[0, 0], [2, 0]],
    (1, 0): [[0, 1], [0, 3]], (1, 1): [[1, 2], [3, 4]], (1, 2): [[2, 0], [4, 0]],
    (2, 0): [[0, 3], [0, 0]], (2, 1): [[3, 4], [0, 0]], (2, 2): [[4, 0], [0, 0]],
}
MIRROR = [[2, 1], [4, 3]]


def _which(row, table):
    """The key of the table entry that row is (flat, two channels), or None."""
    return next((k for k, img in table.items() if np.array_equal(row, _flat(np.array(img, np.float32)))), None)


def test_crop_gives_every_hand_computed_window():
    xb = jnp.asarray(np.tile(_flat(IMAGE), (300, 1)))
    out = np.asarray(augment_batch(xb, jax.random.PRNGKey(0), SHAPE, crop=1))
    seen = [_which(row, CROPS) for row in out]
    assert None not in seen  # each row is one of the nine windows, channels kept together
    assert set(seen) == set(CROPS)  # and every offset 0..2 in both directions is drawn


def test_flip_mirrors_about_half():
    xb = jnp.asarray(np.tile(_flat(IMAGE), (400, 1)))
    out = np.asarray(augment_batch(xb, jax.random.PRNGKey(1), SHAPE, flip=True))
    seen = [_which(row, {"same": IMAGE, "mirror": MIRROR}) for row in out]
    assert None not in seen
    assert 150 < seen.count("mirror") < 250


def test_crop_and_flip_together():
    xb = jnp.asarray(np.tile(_flat(IMAGE), (400, 1)))
    out = np.asarray(augment_batch(xb, jax.random.PRNGKey(2), SHAPE, crop=1, flip=True))
    both = {**CROPS, **{("m",) + k: np.fliplr(np.array(v)) for k, v in CROPS.items()}}
    assert None not in [_which(row, both) for row in out]
    assert np.any([not np.array_equal(r, _flat(IMAGE)) for r in out])


def test_temporal_samples_are_cropped_alike_in_every_frame():
    frames = np.stack([_flat(IMAGE * (t + 1)) for t in range(3)])  # (T, H*W*C), frame t = (t+1) x image
    xb = jnp.asarray(np.tile(frames, (50, 1, 1)))
    out = np.asarray(augment_batch(xb, jax.random.PRNGKey(3), SHAPE, crop=1, flip=True))
    assert out.shape == xb.shape
    for sample in out:
        np.testing.assert_allclose(sample[1], 2 * sample[0])
        np.testing.assert_allclose(sample[2], 3 * sample[0])


def test_same_key_same_batch_and_none_when_off():
    aug = augmentation({"crop": 1, "flip": True}, SHAPE)
    xb = jnp.asarray(np.random.default_rng(0).random((16, 8), np.float32))
    a, b = aug(xb, jax.random.PRNGKey(5)), aug(xb, jax.random.PRNGKey(5))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(aug(xb, jax.random.PRNGKey(6))))
    assert augmentation({"crop": 0, "flip": False}, SHAPE) is None


SPEC = """
from "neurons" import LIF
from "encoders" import current
from "readouts" import instant
time { dt = 1 ms; steps = 2 }
task digits { crop = 2; flip = true }
input pixels = current
population h = LIF(8)
output logits = instant(h)
project pixels -> h.v { weights = dense(init = kaiming); learn w }
project h -> logits { weights = dense(init = lecun); learn w }
train surrogate { epochs = 1; batch_size = 64 }
"""


@pytest.mark.slow
def test_trainer_augments_training_batches_only(tmp_path):
    model = generated(write_spec(tmp_path, SPEC))
    plain_cfg = {**model.CONFIG, "task": {**model.CONFIG["task"], "crop": 0, "flip": False}}
    runs = [trainer_of(model, seed=3), trainer_of(model, seed=3), trainer_of(model, plain_cfg, seed=3)]
    calls = []
    inner = runs[0]._augment
    runs[0]._augment = lambda xb, key: calls.append(xb.shape) or inner(xb, key)
    rows = [t.step(0) for t in runs]
    # training batches, and only they, went through the augmentation: one call per batch
    assert calls == [(64, 64)] * runs[0].batches
    # the same seed: the same augmented batches, the same parameters
    for k in runs[0].state["theta"]:
        np.testing.assert_array_equal(np.asarray(runs[0].state["theta"][k]), np.asarray(runs[1].state["theta"][k]))
    assert rows[0]["train_loss"] == rows[1]["train_loss"] != rows[2]["train_loss"]
    # a resumed run (a fresh trainer given the state after epoch 0) draws epoch 1's batches alike
    resumed = trainer_of(model, seed=3)
    resumed.state = jax.tree.map(jnp.array, runs[1].state)
    resumed.step(1), runs[1].step(1)
    for k in runs[1].state["theta"]:
        np.testing.assert_array_equal(np.asarray(resumed.state["theta"][k]), np.asarray(runs[1].state["theta"][k]))
    # evaluation sees the data as read: the same parameters score the same on both trainers' test sets
    runs[2].state = runs[0].state
    np.testing.assert_array_equal(runs[0].data["test"][0], runs[2].data["test"][0])
    assert runs[0].score_split(*runs[0].data["test"]) == runs[2].score_split(*runs[2].data["test"])
