"""Train-time augmentation of image and event-frame datasets (`task cifar10 { crop = 4; flip = true }`).

A training batch is augmented on the device, inside the run, with a key derived from the batch's
own key: the same seed gives the same batches, and `--resume` continues them exactly.  Evaluation
(validation, test) never goes through here.

A sample is a flat row in channels-last order, `(h * W + w) * C + c` (static: `(H*W*C,)`; event
frames: `(T, H*W*C)`, every frame of a sample cropped and flipped alike).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

# fold_in constant that separates the augmentation's key from the batch key's other uses
AUGMENT_STREAM = 0x41554721


def augment_batch(xb, key, shape, crop: int = 0, flip: bool = False):
    """xb (B, ..., H*W*C) -> the same shape: each sample zero-padded by `crop` pixels on every side
    and cut back to H x W at a random offset (0..2*crop in each direction), then, with flip, mirrored
    left-right with probability 1/2."""
    c, h, w = shape
    b = xb.shape[0]
    imgs = xb.reshape(b, -1, h, w, c)  # (B, frames, H, W, C): a static sample is one frame
    k_crop, k_flip = jax.random.split(key)
    if crop:
        padded = jnp.pad(imgs, ((0, 0), (0, 0), (crop, crop), (crop, crop), (0, 0)))
        offsets = jax.random.randint(k_crop, (b, 2), 0, 2 * crop + 1)
        imgs = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (0, o[0], o[1], 0), im[:, :h, :w].shape))(
            padded, offsets)
    if flip:
        mirrored = jax.random.bernoulli(k_flip, 0.5, (b,))
        imgs = jnp.where(mirrored[:, None, None, None, None], imgs[:, :, :, ::-1], imgs)
    return imgs.reshape(xb.shape)


def augmentation(task: dict, shape):
    """The task's augmentation as a jitted (xb, key) -> xb, or None when it asks for none."""
    crop, flip = int(task.get("crop") or 0), bool(task.get("flip"))
    if not (crop or flip):
        return None
    aug = jax.jit(functools.partial(augment_batch, shape=tuple(shape), crop=crop, flip=flip))
    return lambda xb, key: aug(xb, jax.random.fold_in(key, AUGMENT_STREAM))
