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
from .evolution import EvolutionTrainer, ranks


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


def rank_sums(samples, rank, ranked):
    """The integer sums the exact natural gradient needs, per mask entry: S_r = sum r theta (as a
    high and a low part, r = 4096 * (r >> 12) + (r & 4095), so no int32 overflows below 2**19 members)
    and S_1 = sum theta over the ranked members.  Integers: any order of summation, any split of
    the members over devices or chunks, gives the same sums."""
    def total(weight, mask):
        return jnp.sum(jnp.where(mask, weight.reshape((-1,) + (1,) * (mask.ndim - 1)), 0), 0, dtype=jnp.int32)

    return {name: jnp.stack([total(rank >> 12, m), total(rank & 4095, m), total(ranked, m)])
            for name, m in samples.items()}


def natural_gradient_from_sums(sums, rho, n):
    """natural_gradient with u the centered ranks of n ranked members, from rank_sums: with
    u = r/(n-1) - 1/2 (mean 0), sum u theta = S_r/(n-1) - S_1/2."""
    out = {}
    for name, (hi, lo, ones) in sums.items():
        s_r = 4096.0 * hi.astype(jnp.float32) + lo.astype(jnp.float32)
        out[name] = (-(s_r / max(n - 1, 1) - 0.5 * ones.astype(jnp.float32)) / n).astype(rho[name].dtype)
    return out


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
        """Spike-carrying masks by train.matmul; the others (input and readout masks, real signals) as
        bool, except under matmul = float32."""
        dtype = matmul_dtype(self.cfg["train"]["matmul"])
        other = jnp.float32 if dtype == jnp.float32 else jnp.bool_
        return {k: dtype if pr["carries_spikes"] else other for k, pr in self.model.PROJECTIONS.items()}

    def member_masks(self, rho, key, i):
        """Member i's masks: an independent Bernoulli sample from fold_in(key, i) for the first n_train
        members, the deterministic network (rho > eval_threshold) for the eval copies."""
        keys = jax.random.split(jax.random.fold_in(key, i), max(len(rho), 1))
        thr = self.cfg["train"]["eval_threshold"]
        return {name: jnp.where(i < self.n_train, jax.random.uniform(k, rho[name].shape) < rho[name], rho[name] > thr)
                for k, name in zip(keys, sorted(rho))}

    def sample(self, state, key, ids):
        """The members `ids` (sharded): their masks for the network (packed or cast, by matmul_dtypes),
        drawn a chunk at a time on each device."""
        dtypes = self.matmul_dtypes()

        def chunk(i):
            masks = jax.vmap(lambda ii: self.member_masks(state["theta"], key, ii))(i)
            return {name: pack_bits(m) if dtypes[name] == jnp.uint32 else m.astype(dtypes[name])
                    for name, m in masks.items()}

        return self.map_members(chunk, ids), None

    def gradient(self, state, key, ids, _, fitness):
        """The natural gradient from the ranked members' fitness: exact integer sums over the masks,
        which each device regenerates for its own members from the keys, a chunk at a time (not kept
        through the rollout: the barrier, after the fitness, keeps XLA from reusing the first ones);
        the sums are added across chunks and devices."""
        key, ids, fitness = jax.lax.optimization_barrier((key, ids, fitness))
        n_ranked = fitness.shape[0]
        pad = self.n - n_ranked
        rank = jnp.concatenate([ranks(fitness), jnp.zeros(pad, jnp.int32)])
        ranked = jnp.concatenate([jnp.ones(n_ranked, jnp.int32), jnp.zeros(pad, jnp.int32)])

        def chunk(i):
            masks = jax.vmap(lambda ii: self.member_masks(state["theta"], key, ii))(i)
            return rank_sums(masks, rank[i], ranked[i])

        return natural_gradient_from_sums(self.map_members(chunk, ids, total=True), state["theta"], n_ranked)

    def update(self, state, grads):
        rho = state["theta"]
        eps = self.cfg["train"]["eps"]
        updates, opt = ec_optimizer(self.cfg["train"]).update(grads, state["opt"], rho)
        rho = jax.tree.map(lambda r: jnp.clip(r, eps, 1.0 - eps), optax.apply_updates(rho, updates))
        return {**state, "theta": rho, "opt": opt}

    def deterministic(self, state):
        """The network the eval copies run: connections with rho > eval_threshold."""
        thr = self.cfg["train"]["eval_threshold"]
        theta = {k: v > thr for k, v in state["theta"].items()}
        return network(self.model, theta, state["fixed"], self.matmul_dtypes())
