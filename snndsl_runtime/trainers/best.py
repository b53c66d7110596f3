"""The parameters of the best epoch or generation on the validation split, kept beside the last
ones in the checkpoint (`snndsl eval DIR --best` evaluates them).  Chosen on validation only,
never on test: the highest validation accuracy, ties to the lower validation loss, then the earlier."""

import jax
import jax.numpy as jnp


class BestOnValidation:
    def __init__(self, theta):
        self.theta = jax.tree.map(jnp.copy, theta)  # its own buffers: the training state is donated
        self.step, self.accuracy, self.loss = 0, None, None

    def offer(self, step, theta, accuracy, loss):
        """Keep theta if this step beats the best so far on validation."""
        if self.accuracy is None or (accuracy, -loss) > (self.accuracy, -self.loss):
            self.theta = jax.tree.map(jnp.copy, theta)
            self.step, self.accuracy, self.loss = step, float(accuracy), float(loss)

    def restore(self, theta, meta):
        self.theta = theta
        self.step = meta.get("best_step", 0)
        self.accuracy, self.loss = meta.get("best_validation_accuracy"), meta.get("best_validation_loss")

    def meta(self):
        return {"best_step": self.step, "best_validation_accuracy": self.accuracy,
                "best_validation_loss": self.loss}
