"""The parameters of the best epoch or generation on the validation split, kept beside the last
ones in the checkpoint (`snndsl eval DIR --best` evaluates them).  Chosen on validation only,
never on test: the highest validation accuracy, ties to the lower validation loss, then the earlier."""


def validation_rank(accuracy, loss):
    """Larger is better; the earlier of two equal ranks is kept."""
    return (accuracy, -loss)


def best_row(rows):
    """The metrics row of the best step on validation (None when the rows hold no validation)."""
    rows = [r for r in rows if isinstance(r.get("validation_accuracy"), (int, float))]
    best = None
    for r in rows:
        if best is None or validation_rank(r["validation_accuracy"], r["validation_loss"]) > \
                validation_rank(best["validation_accuracy"], best["validation_loss"]):
            best = r
    return best


class BestOnValidation:
    def __init__(self, theta):
        self.theta = _copy(theta)  # its own buffers: the training state is donated to each step
        self.step, self.accuracy, self.loss = 0, None, None

    def offer(self, step, theta, accuracy, loss):
        """Keep theta if this step beats the best so far on validation."""
        if self.accuracy is None or validation_rank(accuracy, loss) > validation_rank(self.accuracy, self.loss):
            self.theta = _copy(theta)
            self.step, self.accuracy, self.loss = step, float(accuracy), float(loss)

    def restore(self, theta, meta):
        self.theta = theta
        self.step = meta.get("best_step", 0)
        self.accuracy, self.loss = meta.get("best_validation_accuracy"), meta.get("best_validation_loss")

    def meta(self):
        return {"best_step": self.step, "best_validation_accuracy": self.accuracy,
                "best_validation_loss": self.loss}


def _copy(theta):
    import jax
    import jax.numpy as jnp

    return jax.tree.map(jnp.copy, theta)
