"""EC and ES on a classification dataset.

Each generation draws one minibatch of `batch_size` training samples (from the run's seed and the
generation) and runs every member on it, with the same random streams for all members, so their
fitness differs only by their parameters: the minibatch accuracy (`fitness = accuracy`, the
default) or minus the mean loss (`neg_loss`).  After the update the deterministic network (EC: the
connections with p > eval_threshold; ES: the unperturbed weights) is scored on the validation and
test sets, as the gradient rules are."""

import time

import jax
import jax.numpy as jnp
import numpy as np

from ..settings import fitness_of
from ..tasks.datasets import load_task
from .ec import ECTrainer
from .es import ESTrainer
from .evolution import EvolutionTrainer, centered_ranks
from .gradient import DatasetEvaluation, loss_weights, predict, run_network, sample_losses


def member_fitness(outs, labels, weights, fitness: str, loss: str):
    """Each member's fitness on one minibatch.  outs: (members, B, STEPS, classes), labels (B,);
    accuracy: the fraction of samples classified right; neg_loss: minus the mean time-weighted
    cross-entropy."""
    if fitness == "neg_loss":
        return -jax.vmap(lambda o: jnp.mean(sample_losses(o, labels, weights)))(outs)
    return jnp.mean(predict(outs, loss) == labels, axis=-1)


class _NoNormalizer:
    """Datasets need no running observation normaliser; an empty state keeps the checkpoint's shape."""

    def init(self):
        return {}


class DatasetEvolution(DatasetEvaluation, EvolutionTrainer):
    CURVE = ("fitness", "eval_fitness", "validation_accuracy", "test_accuracy")
    FINITE = ("fitness", "param_mean", "test_loss")

    def setup_task(self):
        tr = self.cfg["train"]
        self.data = load_task(self.model, self.cfg["task"], self.seed)
        self.x_train, self.y_train = self.data["train"]
        self.batch = min(tr["batch_size"], len(self.x_train))
        self.loss_name = tr["loss"]
        self.loss_weights = loss_weights(tr["loss"], self.model.STEPS)
        self.fitness_name = fitness_of(tr, "dataset")
        self.normalizer = _NoNormalizer()

    def predict(self, outs):
        return predict(outs, self.loss_name)

    def minibatch(self, g):
        """The generation's samples: drawn without replacement from the run's seed and the generation."""
        idx = np.random.default_rng([self.seed, g]).choice(len(self.x_train), self.batch, replace=False)
        return jnp.asarray(self.x_train[idx]), jnp.asarray(self.y_train[idx])

    def step(self, g):
        t = time.time()
        xb, yb = self.minibatch(g)
        key = jax.random.fold_in(self.key_gen, g)
        self.state, m = self._generation(self.state, key, self.augmented(xb, key), yb)
        m = {k: float(v) for k, v in jax.device_get(m).items()}
        m["samples_per_s"] = self.cfg["train"]["population"] * self.batch / max(time.time() - t, 1e-9)
        m.update(self.held_out_metrics(g))
        return m

    def population_outputs(self, state, members, xb, key):
        """Every member's outputs on the minibatch, (members, B, STEPS, classes); one random stream
        per sample, the same for every member."""
        keys = jax.random.split(key, xb.shape[0])

        def one(th):
            net = self.member_network(state, th)
            return jax.vmap(lambda img, k: run_network(self.model, net, img, k))(xb, keys)

        return jax.vmap(one)(members)

    def generation(self, state, key, xb, yb):
        k_sample, k_run = jax.random.split(key)
        members, aux = self.sample(state, k_sample)
        outs = self.population_outputs(state, members, xb, k_run)
        fitness = member_fitness(outs, yb, jnp.asarray(self.loss_weights), self.fitness_name, self.loss_name)
        train_fit = fitness[: self.n_ranked]
        state = self.update(state, aux, members, centered_ranks(train_fit))
        metrics = {"fitness": jnp.mean(train_fit), "fitness_max": jnp.max(train_fit),
                   "param_mean": jnp.mean(jnp.concatenate([v.ravel() for v in state["theta"].values()]))}
        if self.n_eval:
            metrics["eval_fitness"] = jnp.mean(fitness[self.n_train:])
        return state, metrics


class ECDatasetTrainer(DatasetEvolution, ECTrainer):
    pass


class ESDatasetTrainer(DatasetEvolution, ESTrainer):
    pass
