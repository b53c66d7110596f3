"""OpenAI-style evolution strategies on real parameters (the EC paper's DenseSNN baseline).

Antithetic pairs theta +- sigma*eps, centered ranks over the sampled members, pair weight
u+ - u-, gradient mean(w * sigma * eps) (not divided by sigma: Adam makes the scale irrelevant),
AdamW.  `eval_copies` members run the unperturbed parameters."""

import jax
import jax.numpy as jnp
import optax

from ..network import clip_to_bounds, init_parameters, network, raw_bounds
from .evolution import EvolutionTrainer


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

    def sample(self, state, key):
        """Members: theta + sigma*eps, theta - sigma*eps (pairs), then unperturbed copies.  A leftover
        odd member (if population - eval_copies is odd) runs unperturbed and is neither ranked nor counted."""
        theta, sigma, n = state["theta"], self.cfg["train"]["sigma"], self.n_train // 2
        keys = jax.random.split(key, max(len(theta), 1))
        noise = {name: jax.random.normal(k, (n,) + theta[name].shape) for k, name in zip(keys, sorted(theta))}
        rest = self.n_train - 2 * n + self.n_eval
        members = {name: jnp.concatenate([theta[name] + sigma * noise[name], theta[name] - sigma * noise[name],
                                          jnp.broadcast_to(theta[name], (rest,) + theta[name].shape)])
                   for name in theta}
        return members, noise

    def update(self, state, noise, members, u):
        grads = antithetic_gradient(noise, u, self.cfg["train"]["sigma"])
        updates, opt = es_optimizer(self.cfg["train"]).update(grads, state["opt"], state["theta"])
        theta = clip_to_bounds(optax.apply_updates(state["theta"], updates), raw_bounds(self.model))
        return {**state, "theta": theta, "opt": opt}

    def deterministic(self, state):
        return network(self.model, state["theta"], state["fixed"])
