"""OpenAI-style evolution strategies on real parameters (the EC paper's DenseSNN baseline).

Antithetic pairs theta +- sigma*eps, centered ranks over the sampled members, pair weight
u+ - u-, gradient mean(w * sigma * eps) (not divided by sigma: Adam makes the scale irrelevant),
AdamW.  `eval_copies` members run the unperturbed parameters."""

import jax
import jax.numpy as jnp
import optax

from .. import mesh as meshes
from ..network import clip_to_bounds, init_parameters, network, raw_bounds
from .evolution import EvolutionTrainer, centered_ranks

CHUNK = 64  # members whose noise the update regenerates at a time (bounds its memory)


def es_optimizer(tr):
    return optax.adamw(tr["lr"], weight_decay=tr["weight_decay"])


def antithetic_gradient(noise, u, sigma):
    """The (negated) ES gradient from antithetic pairs: u holds the ranks of the + members, then the - members."""
    n = next(iter(noise.values())).shape[0]
    weight = u[:n] - u[n: 2 * n]
    return {name: -jnp.tensordot(weight, sigma * eps, axes=1) / n for name, eps in noise.items()}


class ESTrainer(EvolutionTrainer):
    def __init__(self, model, cfg, seed):
        super().__init__(model, cfg, seed)
        self.n_pairs = self.n_train // 2
        self.n_ranked = 2 * self.n_pairs  # an odd leftover member is not ranked

    def init_state(self, key):
        theta, fixed = init_parameters(self.model, key)
        return {"theta": theta, "fixed": fixed, "opt": es_optimizer(self.cfg["train"]).init(theta),
                "normalizer": self.normalizer.init()}

    def pair_noise(self, theta, key, j):
        """Pair j's perturbation eps (standard normal, from fold_in(key, j))."""
        keys = jax.random.split(jax.random.fold_in(key, j), max(len(theta), 1))
        return {name: jax.random.normal(k, theta[name].shape, theta[name].dtype) for k, name in zip(keys, sorted(theta))}

    def sample(self, state, key, ids):
        """Members `ids` (sharded): theta + sigma*eps_j for i = j < n_pairs, theta - sigma*eps_j for
        i = n_pairs + j, then unperturbed copies.  A leftover odd member (if population - eval_copies
        is odd) runs unperturbed and is neither ranked nor counted."""
        theta, sigma, n = state["theta"], self.cfg["train"]["sigma"], self.n_pairs

        def one(i):
            sign = jnp.where(i < n, 1.0, jnp.where(i < 2 * n, -1.0, 0.0))
            eps = self.pair_noise(theta, key, i % max(n, 1))
            return {name: theta[name] + (sign * sigma) * eps[name] for name in theta}

        return jax.vmap(one)(ids), None

    def gradient(self, state, key, ids, _, fitness):
        """The antithetic gradient, on every device from the keys (no weights cross devices), the
        pairs' noise regenerated CHUNK pairs at a time and summed in pair order: the same result on
        any number of devices."""
        theta, sigma, n = state["theta"], self.cfg["train"]["sigma"], self.n_pairs
        u = centered_ranks(fitness)
        chunk = min(CHUNK, n)
        steps = -(-n // chunk)
        weight = jnp.pad(u[:n] - u[n: 2 * n], (0, steps * chunk - n)).reshape(steps, chunk)
        pairs = jnp.arange(steps * chunk, dtype=jnp.int32).reshape(steps, chunk)

        def add(total, part):
            w, j = part
            eps = jax.vmap(lambda jj: self.pair_noise(theta, key, jj))(j)
            return {k: total[k] + jnp.tensordot(w, sigma * eps[k], axes=1) for k in total}, None

        zero = {k: jnp.zeros_like(v) for k, v in theta.items()}
        total, _ = jax.lax.scan(add, zero, (weight, pairs))
        return meshes.constrain({k: -v / n for k, v in total.items()}, meshes.replicated(self.mesh))

    def update(self, state, grads):
        updates, opt = es_optimizer(self.cfg["train"]).update(grads, state["opt"], state["theta"])
        theta = clip_to_bounds(optax.apply_updates(state["theta"], updates), raw_bounds(self.model))
        return {**state, "theta": theta, "opt": opt}

    def deterministic(self, state):
        return network(self.model, state["theta"], state["fixed"])
