"""What EC and ES share: centered ranks and the generation loop over a population on Brax
(datasets: evolution_data.py), spread over the run's device mesh (mesh.py).

The population axis is sharded: every device samples its own members from the generation's key
(member i from fold_in(key, i), so a member does not depend on the number of devices), runs them
and contributes their fitness.  Only keys, the fitness (gathered to every device for the ranks)
and the update cross devices, never the sampled masks or weights (seed sharing, Salimans et al.
2017).  The update is computed so that its result is the same on any number of devices: EC's in
integers (exact), ES's on every device from the keys, in a fixed order."""

import time

import jax
import jax.numpy as jnp
import numpy as np

from .. import mesh as meshes
from ..activity import activity_metrics
from ..errors import RunError
from ..network import network_weights, strong
from ..settings import fitness_of
from ..tasks.brax import evaluate_brax, make_env, normalizer_of, reset_pool, rollout


MEMBER_CHUNK = 128  # members whose masks or weights a device draws at a time (bounds the draws' memory)


def chunk_size(local: int) -> int:
    """The largest divisor of a device's member count up to MEMBER_CHUNK (all of them if that is tiny)."""
    c = next(c for c in range(min(MEMBER_CHUNK, local), 0, -1) if local % c == 0)
    return local if c < 8 < local <= 4 * MEMBER_CHUNK else c


def ranks(x):
    """Each value's rank 0..n-1 (int32; ties broken by position)."""
    return jnp.argsort(jnp.argsort(x)).astype(jnp.int32)


def centered_ranks(x):
    """Ranks 0..n-1 mapped to [-0.5, 0.5] (Salimans et al. 2017)."""
    n = x.shape[0]
    return ranks(x).astype(jnp.float32) / max(n - 1, 1) - 0.5


class EvolutionTrainer:
    """The loop state and one jitted generation.  Subclasses sample members and estimate the gradient."""

    UNIT = "generation"
    CURVE = ("fitness", "eval_fitness")
    FINITE = ("fitness", "eval_fitness", "param_mean")

    def __init__(self, model, cfg, seed):
        self.model, self.cfg, self.seed = model, cfg, seed
        self.report = lambda row: None
        tr = cfg["train"]
        self.total = tr["generations"]
        self.every = tr["checkpoint_every"]
        self.n_eval = tr["eval_copies"]
        self.n_train = tr["population"] - self.n_eval
        self.n_ranked = self.n_train  # the sampled members whose fitness enters the update
        if self.n_train < 2:
            raise RunError("E401", f"train.eval_copies ({self.n_eval}) must leave at least 2 of train.population "
                                   f"({tr['population']}) to sample", "lower train.eval_copies too")
        self.mesh = meshes.mesh_of(cfg)
        meshes.check_divisible(tr["population"], self.mesh, "train.population", "members")
        self.n = tr["population"]
        key = jax.random.PRNGKey(seed)
        self.key_gen, self.key_pool, key_init = jax.random.split(key, 3)
        self.setup_task()
        self.state = meshes.replicate(strong(self.init_state(key_init)), self.mesh)
        self.setup_evaluation(self.state["theta"])
        same = meshes.replicated(self.mesh)
        self._generation = jax.jit(self.generation, donate_argnums=0, out_shardings=(same, same))

    def setup_task(self):
        """Brax: the environment, the observation normaliser, each member's reset state."""
        self.env = self.episode_env = make_env(self.model, self.cfg["task"])
        self.normalizer = normalizer_of(self.model, self.cfg)
        self.pool = self.reset_pool(self.key_pool)
        self.env_steps = 0
        self.warned_std = False

    def reset_pool(self, key):
        """Each member's reset state, sharded with the members."""
        return reset_pool(self.env, key, self.n, meshes.sharded(self.mesh))

    def setup_evaluation(self, theta):
        pass

    # ---- checkpointed state
    def snapshot(self):
        return self.state

    def restore(self, state, meta):
        self.state = meshes.replicate(strong(state), self.mesh)
        self.env_steps = meta.get("env_steps", 0)

    def meta(self):
        return {"env_steps": self.env_steps}

    # ---- one generation
    def step(self, g):
        if self.cfg["train"]["reset_pool"] == "rekey":
            self.pool = self.reset_pool(jax.random.fold_in(self.key_pool, g))
        t = time.time()
        self.state, m = self._generation(self.state, self.generation_key(g), self.pool)
        m = meshes.to_host(m)
        counts = m.pop("spike_counts")
        m = {k: float(v) for k, v in m.items()}
        if self.n_eval:
            m.update(activity_metrics(self.model, counts, self.n_eval, int(m["steps"])))
        steps = int(m.pop("steps")) * self.cfg["train"]["population"]
        self.env_steps += steps
        m["env_steps"] = self.env_steps
        m["steps_per_s"] = steps / max(time.time() - t, 1e-9)
        if not self.warned_std:
            warning = self.normalizer.near_zero(self.state["normalizer"])
            if warning:
                self.report({"notice": warning})
                self.warned_std = True
        return m

    def generation_key(self, g):
        """The generation's key, as a host value (the same on every process)."""
        return np.asarray(jax.random.fold_in(self.key_gen, g))

    def member_ids(self):
        """Every member's index 0..population-1, sharded: each device makes and runs its own."""
        return meshes.constrain(jnp.arange(self.n, dtype=jnp.int32), meshes.sharded(self.mesh))

    def map_members(self, f, ids, total=False):
        """f(chunk of member ids) -> arrays with a leading member axis, for all `ids` (sharded): each
        device runs its own members, a chunk at a time (lax.map), so only a chunk's draws are live.
        total: f returns sums over its chunk instead, and these are added up (chunks, then devices)."""
        devices = meshes.size(self.mesh)
        local = self.n // devices
        c = chunk_size(local)

        def on_device(mine):
            out = jax.lax.map(f, mine.reshape(local // c, c))
            if total:
                return jax.tree.map(lambda v: jnp.sum(v, 0, dtype=v.dtype), out)
            return jax.tree.map(lambda v: v.reshape((local,) + v.shape[2:]), out)

        out = jax.vmap(on_device)(meshes.constrain(ids.reshape(devices, local), meshes.sharded(self.mesh)))
        if total:
            return jax.tree.map(lambda v: jnp.sum(v, 0, dtype=v.dtype), out)
        return jax.tree.map(lambda v: v.reshape((self.n,) + v.shape[2:]), out)

    def generation(self, state, key, pool):
        k_sample, k_roll = jax.random.split(key)
        ids = self.member_ids()
        members, aux = self.sample(state, k_sample, ids)
        observe = lambda obs: self.normalizer(obs, state["normalizer"])  # noqa: E731
        # every member counts its spikes (the same work on every device); the eval copies' counts
        # (the deterministic network) give the activity metrics
        fitness, steps, last_obs, counts = rollout(self.model, self.env, lambda th: self.member_network(state, th),
                                                   members, observe, pool, k_roll, self.cfg["task"],
                                                   fitness_of(self.cfg["train"], "brax"), record=self.n)
        fitness, last_obs = meshes.constrain((fitness, last_obs), meshes.replicated(self.mesh))
        state, metrics = self.ranked_update(state, k_sample, ids, aux, fitness)
        state["normalizer"] = self.normalizer.update(state["normalizer"], last_obs)
        metrics.update(steps=steps, spike_counts=jnp.sum(jnp.where((ids >= self.n_train)[:, None], counts, 0.0), 0))
        return strong(state), metrics

    def ranked_update(self, state, key, ids, aux, fitness):
        """The update from the population's fitness (replicated, in member order), and its metrics."""
        train_fit = fitness[: self.n_ranked]
        state = self.update(state, self.gradient(state, key, ids, aux, train_fit))
        metrics = {"fitness": jnp.mean(train_fit), "fitness_max": jnp.max(train_fit),
                   "param_mean": jnp.mean(jnp.concatenate([v.ravel() for v in state["theta"].values()]))}
        if self.n_eval:
            metrics["eval_fitness"] = jnp.mean(fitness[self.n_train:])
        return state, metrics

    def member_network(self, state, th):
        """One member's network (w, bp, bc) from its sampled parameters."""
        w = network_weights(self.model, th, state["fixed"], self.matmul_dtypes())
        bp, bc = self.model.block_params(th, state["fixed"])
        return w, bp, bc

    def matmul_dtypes(self):
        return {}

    def evaluate_run(self, net, out_dir, seed=0, episodes=1):
        return evaluate_brax(self, net, out_dir, seed, episodes)
