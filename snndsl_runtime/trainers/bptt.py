"""Surrogate-gradient backpropagation through time over lax.scan: the spike is a Heaviside step
forward and the surrogate derivative backward; thresholds and leaks learn like weights (PLIF-style
leaks: decay = sigmoid(-raw)).  `remat` recomputes each step in the backward pass (jax.checkpoint).
Batch norm (`norm = batch`) takes each step's batch statistics, and the gradient flows through them
(the samples are one vmap axis with a name, see layers.batch_norm)."""

import jax
import jax.numpy as jnp

from .gradient import GradientTrainer, sample_losses, train_batch


def sequence_loss(model, weights, theta, fixed, xb, yb, key, remat=False):
    """Mean over the batch of the time-weighted cross-entropy; also returns (the outputs (B, T, C),
    batch norm's per-step statistics {key: (mean, var)})."""
    keys = jax.random.split(key, xb.shape[0])
    outs, stats = train_batch(model, theta, fixed, xb, keys, remat)
    return jnp.mean(sample_losses(outs, yb, weights)), (outs, stats)


class BPTTTrainer(GradientTrainer):
    def batch_gradients(self, theta, fixed, xb, yb, key):
        loss = lambda th: sequence_loss(self.model, jnp.asarray(self.loss_weights), th, fixed, xb, yb, key,  # noqa: E731
                                        self.cfg["train"]["remat"])
        (value, (outs, stats)), grads = jax.value_and_grad(loss, has_aux=True)(theta)
        return grads, value, outs, stats
