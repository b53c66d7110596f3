"""Evolving Connectivity (Wang et al., NeurIPS 2023): natural evolution strategies over the
Bernoulli probabilities rho of every learnable connection.

Each generation samples an independent mask per member, theta ~ Bernoulli(rho); `eval_copies`
members run the deterministic network rho > eval_threshold and stay out of the gradient.  The
natural gradient is mean(u * (theta - rho)) over members, u their centered fitness ranks; Adam
(lr as the step size, optional weight decay toward 0), then rho is clipped to [eps, 1 - eps]."""

import jax
import jax.numpy as jnp
import optax

from ..network import init_parameters, network, pack_bits
from .evolution import EvolutionTrainer


def ec_optimizer(tr):
    return optax.chain(
        optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
        optax.add_decayed_weights(tr["weight_decay"]),
        optax.scale(-tr["lr"]),
    )


def matmul_dtype(setting):
    """How spike-carrying masks are stored for the network: bit-packed uint32 words, int8 or float32."""
    if setting == "auto":
        setting = "bitpack"
    return {"bitpack": jnp.uint32, "int8": jnp.int8, "float32": jnp.float32}[setting]


def natural_gradient(samples, rho, u):
    """The (negated, for optax) natural gradient of E[fitness] w.r.t. Bernoulli probabilities rho:
    mean over members of u * (theta - rho), theta the sampled masks (leading member axis)."""
    n = u.shape[0]
    return {name: -(jnp.tensordot(u, samples[name].astype(jnp.float32), axes=1) / n - jnp.mean(u) * rho[name])
            for name in rho}


class ECTrainer(EvolutionTrainer):
    def init_state(self, key):
        theta, fixed = init_parameters(self.model, key)  # theta: the probabilities rho
        return {"theta": theta, "fixed": fixed, "opt": ec_optimizer(self.cfg["train"]).init(theta),
                "normalizer": self.normalizer.init()}

    def matmul_dtypes(self):
        dtype = matmul_dtype(self.cfg["train"]["matmul"])
        return {k: dtype if pr["carries_spikes"] else jnp.float32 for k, pr in self.model.PROJECTIONS.items()}

    def sample(self, state, key):
        """Members' masks: n_train independent Bernoulli samples, then the deterministic network."""
        rho = state["theta"]
        keys = jax.random.split(key, max(len(rho), 1))
        thr = self.cfg["train"]["eval_threshold"]
        dtypes = self.matmul_dtypes()
        members, samples = {}, {}
        for k, name in zip(keys, sorted(rho)):
            samples[name] = jax.random.uniform(k, (self.n_train,) + rho[name].shape) < rho[name]
            det = jnp.broadcast_to(rho[name] > thr, (self.n_eval,) + rho[name].shape)
            mask = jnp.concatenate([samples[name], det])
            members[name] = pack_bits(mask) if dtypes[name] == jnp.uint32 else mask.astype(dtypes[name])
        return members, samples

    def update(self, state, samples, members, u):
        rho = state["theta"]
        grads = natural_gradient(samples, rho, u)
        eps = self.cfg["train"]["eps"]
        updates, opt = ec_optimizer(self.cfg["train"]).update(grads, state["opt"], rho)
        rho = jax.tree.map(lambda r: jnp.clip(r, eps, 1.0 - eps), optax.apply_updates(rho, updates))
        return {**state, "theta": rho, "opt": opt}

    def deterministic(self, state):
        """The network the eval copies run: connections with rho > eval_threshold."""
        thr = self.cfg["train"]["eval_threshold"]
        theta = {k: v > thr for k, v in state["theta"].items()}
        return network(self.model, theta, state["fixed"], self.matmul_dtypes())
