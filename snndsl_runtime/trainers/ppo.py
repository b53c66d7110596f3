"""PPO with truncated surrogate-gradient BPTT through the spiking policy, on Brax: the EC paper's
SG-RSNN baseline (ec.md §3.2).

The policy is a Gaussian with the network's output as mean and a learned, state-independent log
std; the critic is an MLP (2 x 256, tanh) on the normalised observation.  GAE and the observation
normaliser come from brax.training.  The network state resets when an episode ends.

On the run's mesh (mesh.py) the environments are sharded: each device steps its share of them,
and each minibatch takes the same number of sequences from every device's share (shuffled there),
so the trajectories never move; the parameters and optimizer state are replicated and the
gradients all-reduced."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import mesh as meshes
from ..activity import activity_metrics
from ..errors import RunError
from ..network import clip_to_bounds, init_parameters, network, raw_bounds, strong
from ..tasks.brax import evaluate_brax, make_env, normalizer_of, rollout
from .gradient import make_optimizer

CRITIC_HIDDEN = (256, 256)


def critic_init(key, n_obs):
    sizes = (n_obs, *CRITIC_HIDDEN, 1)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"critic.w{i}"] = jax.random.normal(jax.random.fold_in(key, i), (n_in, n_out)) * np.sqrt(1.0 / n_in)
        params[f"critic.b{i}"] = jnp.zeros(n_out)
    return params


def critic(theta, obs):
    h, layers = obs, len(CRITIC_HIDDEN) + 1
    for i in range(layers):
        h = h @ theta[f"critic.w{i}"] + theta[f"critic.b{i}"]
        if i < layers - 1:
            h = jnp.tanh(h)
    return h[..., 0]


def _reset_where(start, x_reset, x):
    return jax.tree.map(lambda r, v: jnp.where(start.reshape((-1,) + (1,) * (v.ndim - 1)), r, v), x_reset, x)


def policy_means(model, theta, fixed, x0, obs, starts, x_reset, net_keys, remat=False):
    """Network outputs over an unroll (BPTT through it): obs (T, B, obs); starts[t] marks a new episode;
    net_keys (T, B) are the keys the network used when the data was collected (random encoders)."""
    w, bp, bc = network(model, theta, fixed)

    def step(x, inp):
        o, start, keys = inp
        x = _reset_where(start, x_reset, x)
        return jax.vmap(lambda xx, oo, kk: model.forward_step(w, bp, bc, xx, {model.INPUT: oo}, kk))(x, o, keys)

    if remat:
        step = jax.checkpoint(step)
    return jax.lax.scan(step, x0, (obs, starts, net_keys))


def log_prob(mean, log_std, action):
    return jnp.sum(-0.5 * ((action - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi), -1)


def ppo_loss(ratio, adv, value, returns, log_std, tr):
    """Clipped surrogate objective + value loss - entropy bonus (all means over the batch)."""
    pg = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - tr["clip"], 1 + tr["clip"]) * adv))
    v_loss = 0.5 * jnp.mean((returns - value) ** 2)
    entropy = jnp.sum(log_std + 0.5 * np.log(2 * np.pi * np.e))
    return pg + tr["value_coef"] * v_loss - tr["entropy_coef"] * entropy


def gae(data, values, bootstrap, tr):
    """Brax's GAE: an episode that ended by truncation (time limit) bootstraps, one that terminated does not."""
    from brax.training.agents.ppo.losses import compute_gae

    termination = data["done"] * (1 - data["truncation"])
    return compute_gae(data["truncation"], termination, data["reward"], values, bootstrap,
                       tr["gae_lambda"], tr["gamma"])


class PPOTrainer:
    UNIT = "iteration"  # one PPO iteration: collect num_envs x unroll_length steps, then update
    CURVE = ("fitness", "eval_fitness")
    FINITE = ("loss", "eval_fitness")

    def __init__(self, model, cfg, seed):
        self.model, self.cfg, self.seed = model, cfg, seed
        self.report = lambda row: None
        tr = cfg["train"]
        self.total, self.every = tr["iterations"], tr["checkpoint_every"]
        self.n, self.t = tr["num_envs"], tr["unroll_length"]
        if self.n % tr["minibatches"]:
            raise RunError("E401", f"train.num_envs ({self.n}) must be a multiple of train.minibatches "
                                   f"({tr['minibatches']})")
        self.mesh = meshes.mesh_of(cfg)
        meshes.check_divisible(self.n, self.mesh, "train.num_envs", "environments")
        meshes.check_divisible(self.n // tr["minibatches"], self.mesh, "train.num_envs / train.minibatches",
                               "sequences of each minibatch")
        self.episode_env = make_env(model, cfg["task"])
        from brax.envs.wrappers.training import AutoResetWrapper, VmapWrapper

        self.env = AutoResetWrapper(VmapWrapper(self.episode_env))
        self.normalizer = normalizer_of(model, cfg)
        k_param, k_critic, k_env, k_net, self.key = jax.random.split(jax.random.PRNGKey(seed), 5)
        theta, fixed = init_parameters(model, k_param)
        theta.update(critic_init(k_critic, model.IN_SIZE))
        theta["log_std"] = jnp.full(model.OUT_SIZE, -0.5)
        updates = self.total * tr["update_epochs"] * tr["minibatches"]
        self.optimizer = make_optimizer(tr["optimizer"], updates)
        bp, _ = model.block_params(theta, fixed)
        share, same = meshes.sharded(self.mesh), meshes.replicated(self.mesh)
        self.x_reset = meshes.put(jax.vmap(model.init_state, (0, None))(jax.random.split(k_net, self.n), bp), share)
        # the environments, their network states and returns: sharded; the rest replicated
        self.layout = {"theta": same, "fixed": same, "opt": same, "normalizer": same, "env": share, "x": share,
                       "ep_return": share}
        env = jax.jit(lambda k: self.env.reset(jax.random.split(k, self.n)), out_shardings=share)(np.asarray(k_env))
        self.state = meshes.put(strong({"theta": theta, "fixed": fixed, "opt": self.optimizer.init(theta),
                                        "normalizer": self.normalizer.init(), "env": env,
                                        "x": self.x_reset, "ep_return": jnp.zeros(self.n)}), self.layout)
        self.env_steps = 0
        self.bounds = raw_bounds(model)
        self._iteration = jax.jit(self.iteration, donate_argnums=0, out_shardings=(self.layout, same))
        self._evaluate = jax.jit(self.evaluate, out_shardings=same)

    def snapshot(self):
        return meshes.to_host(self.state)

    def deterministic(self, state):
        """The policy's mean action: the spiking network itself."""
        return network(self.model, state["theta"], state["fixed"])

    def restore(self, state, meta):
        self.state = meshes.put(strong(state), self.layout)
        self.env_steps = meta.get("env_steps", 0)

    def meta(self):
        return {"env_steps": self.env_steps}

    def collect(self, state, key):
        """unroll_length steps of every environment with the current policy (no gradients)."""
        model, theta = self.model, state["theta"]
        w, bp, bc = network(model, theta, state["fixed"])
        std = jnp.exp(theta["log_std"])

        def step(c, k):
            env_state, x, ep_return, start = c
            obs = self.normalizer(env_state.obs, state["normalizer"])
            k_net, k_act = jax.random.split(k)
            net_keys = jax.random.split(k_net, self.n)
            x, mean = jax.vmap(lambda xx, oo, kk: model.forward_step(w, bp, bc, xx, {model.INPUT: oo}, kk))(
                x, obs, net_keys)
            action = mean + std * jax.random.normal(k_act, mean.shape)
            new = self.env.step(env_state, jnp.clip(action, -1.0, 1.0))
            done = new.done > 0
            ret = ep_return + new.reward
            x = _reset_where(done, self.x_reset, x)
            out = {"obs": obs, "net_key": net_keys, "raw_obs": env_state.obs, "action": action,
                   "logp": log_prob(mean, theta["log_std"], action),
                   "reward": new.reward, "done": new.done, "truncation": new.info["truncation"], "start": start,
                   "finished": jnp.where(done, ret, 0.0), "n_finished": done.astype(jnp.float32)}
            return (new, x, jnp.where(done, 0.0, ret), done), out

        start0 = jnp.zeros(self.n, bool)
        (env_state, x, ep_return, _), data = jax.lax.scan(
            step, (state["env"], state["x"], state["ep_return"], start0), jax.random.split(key, self.t))
        last_obs = self.normalizer(env_state.obs, state["normalizer"])
        return env_state, x, ep_return, data, last_obs

    def loss(self, theta, fixed, x0, x_reset, data):
        tr = self.cfg["train"]
        _, means = policy_means(self.model, theta, fixed, x0, data["obs"], data["start"], x_reset, data["net_key"],
                                tr["remat"])
        ratio = jnp.exp(log_prob(means, theta["log_std"], data["action"]) - data["logp"])
        return ppo_loss(ratio, data["advantage"], critic(theta, data["obs"]), data["returns"], theta["log_std"], tr)

    def iteration(self, state, key):
        tr = self.cfg["train"]
        k_collect, k_update = jax.random.split(key)
        x0 = state["x"]
        env_state, x, ep_return, data, last_obs = self.collect(state, k_collect)
        theta = state["theta"]
        returns, adv = gae(data, critic(theta, data["obs"]), critic(theta, last_obs), tr)
        data = {**data, "returns": returns, "advantage": (adv - adv.mean()) / (adv.std() + 1e-8)}
        devices = meshes.size(self.mesh)
        local, per = self.n // devices, self.n // tr["minibatches"] // devices

        def pick(v, idx, axis):
            """The sequences idx[d] of device d's share (axis: the environments' axis of v)."""
            v = v.reshape(v.shape[:axis] + (devices, local) + v.shape[axis + 1:])
            got = jax.vmap(lambda vd, i: jnp.take(vd, i, axis=axis), in_axes=(axis, 0), out_axes=axis)(v, idx)
            return got.reshape(v.shape[:axis] + (devices * idx.shape[1],) + v.shape[axis + 2:])

        def update(carry, k):
            theta, opt = carry
            perm = jax.vmap(lambda kk: jax.random.permutation(kk, local))(jax.random.split(k, devices))
            total = 0.0
            for i in range(tr["minibatches"]):  # unrolled: each minibatch is a set of whole sequences
                idx = perm[:, i * per:(i + 1) * per]
                sub = {kk: pick(v, idx, 1) for kk, v in data.items()}
                x_sub, reset_sub = jax.tree.map(lambda v: pick(v, idx, 0), (x0, self.x_reset))
                loss, grads = jax.value_and_grad(self.loss)(theta, state["fixed"], x_sub, reset_sub, sub)
                upd, opt = self.optimizer.update(grads, opt, theta)
                theta = clip_to_bounds(optax.apply_updates(theta, upd), self.bounds)
                total = total + loss
            return (theta, opt), total / tr["minibatches"]

        (theta, opt), losses = jax.lax.scan(update, (theta, state["opt"]), jax.random.split(k_update, tr["update_epochs"]))
        normalizer = self.normalizer.update(state["normalizer"], data["raw_obs"].reshape(-1, self.model.IN_SIZE))
        new = strong({**state, "theta": theta, "opt": opt, "normalizer": normalizer, "env": env_state, "x": x,
                      "ep_return": ep_return})
        count = data["n_finished"].sum()
        metrics = {"loss": losses[-1], "episodes": count,
                   "fitness": jnp.where(count > 0, data["finished"].sum() / jnp.maximum(count, 1.0), jnp.nan),
                   "log_std": jnp.mean(theta["log_std"])}
        return new, metrics

    def evaluate(self, state, key):
        """Mean return of eval_episodes deterministic episodes (the network's mean action), their
        spike counts per neuron (summed) and the steps they ran."""
        net = self.deterministic(state)
        n = self.cfg["train"]["eval_episodes"]
        k_pool, k_run = jax.random.split(key)
        pool = jax.vmap(self.episode_env.reset)(jax.random.split(k_pool, n))
        observe = lambda obs: self.normalizer(obs, state["normalizer"])  # noqa: E731
        fit, steps, _, counts = rollout(self.model, self.episode_env, lambda _: net, jnp.zeros(n), observe, pool,
                                        k_run, self.cfg["task"], "first", record=n)
        return jnp.mean(fit), jnp.sum(counts, 0), steps

    def step(self, g):
        t = time.time()
        key = jax.random.fold_in(self.key, g)
        self.state, m = self._iteration(self.state, np.asarray(key))
        m = {k: float(v) for k, v in meshes.to_host(m).items()}
        steps = self.n * self.t
        self.env_steps += steps
        m["steps_per_s"] = steps / max(time.time() - t, 1e-9)
        fit, counts, eval_steps = meshes.to_host(self._evaluate(self.state, np.asarray(jax.random.fold_in(key, 1))))
        m["eval_fitness"] = float(fit)
        m.update(activity_metrics(self.model, counts, self.cfg["train"]["eval_episodes"], int(eval_steps)))
        m["env_steps"] = self.env_steps
        if m["fitness"] != m["fitness"]:  # no episode ended in this iteration's unrolls
            m["fitness"] = None
        return m

    def evaluate_run(self, net, out_dir, seed=0, episodes=1):
        return evaluate_brax(self, net, out_dir, seed, episodes)
