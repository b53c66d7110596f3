"""Brax environments: making and checking one, the observation normaliser, the population rollout
with the EC reference's fitness semantics, and one recorded episode for evaluation."""

import contextlib
import io
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..activity import activity_metrics, counting_step, spike_count_zeros
from ..errors import RunError
from ..metrics import spike_raster


def make_env(model, task):
    """The Brax environment, truncated at episode_length by EpisodeWrapper (with action_repeat)."""
    with contextlib.redirect_stdout(io.StringIO()):  # brax prints "Failed to import warp" on import
        from brax import envs
        from brax.envs.wrappers.training import EpisodeWrapper
    warnings.filterwarnings("ignore", message=".*not actively being maintained.*")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # mujoco's model-compiler notes
            env = envs.get_environment(task["env"], backend=task["backend"])
    except KeyError:
        known = sorted(getattr(envs, "_envs", {}))
        raise RunError("E701", f"unknown Brax environment `{task['env']}`",
                       "environments: " + ", ".join(known), node="task") from None
    except Exception as e:  # unsupported backend for this environment, missing mujoco, ...
        raise RunError("E702", f"cannot make `{task['env']}` with backend `{task['backend']}`: {e}",
                       "try backend generalized, positional, spring or mjx", node="task") from None
    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs.shape[-1]  # traced, not compiled
    if obs != model.IN_SIZE:
        raise RunError("E703", f"`{task['env']}` observes {obs} values but the network's input takes {model.IN_SIZE}",
                       "drop the input's `size` setting so it follows the task", node="input")
    if env.action_size != model.OUT_SIZE:
        raise RunError("E703", f"`{task['env']}` takes {env.action_size} actions but the network's output has "
                               f"{model.OUT_SIZE}", "drop the output's `size` setting so it follows the task",
                       node="output")
    return EpisodeWrapper(env, task["episode_length"], task["action_repeat"])


class Normalizer:
    """Brax's running mean and std of the observations (the EC reference's normaliser), or none.
    std_min floors each observation's std (Brax's default 1e-6); clip bounds the normalised values."""

    NEAR_ZERO_STD = 1e-3  # below this an observation is amplified more than 1000x: worth a warning

    def __init__(self, size, enabled, std_min=1e-6, clip=None):
        self.size, self.enabled, self.std_min, self.clip = size, enabled, std_min, clip

    def init(self):
        from brax.training.acme import running_statistics, specs

        return running_statistics.init_state(specs.Array((self.size,), jnp.float32))

    def __call__(self, obs, state):
        if not self.enabled:
            return obs
        from brax.training.acme import running_statistics

        return running_statistics.normalize(obs, state, max_abs_value=self.clip)

    def update(self, state, obs):
        if not self.enabled:
            return state
        from brax.training.acme import running_statistics

        return running_statistics.update(state, obs, std_min_value=self.std_min)

    def near_zero(self, state):
        """A warning naming the observations whose std is near zero (None if there are none)."""
        if not self.enabled:
            return None
        std = np.asarray(jax.device_get(state.std))
        low = np.flatnonzero(std < self.NEAR_ZERO_STD)
        if not len(low):
            return None
        shown = ", ".join(f"{i} (std {std[i]:.2g})" for i in low[:5]) + (" ..." if len(low) > 5 else "")
        return (f"the observation normaliser sees near-constant observations {shown}: they are amplified up to "
                f"{1 / max(std[low].min(), 1e-30):.3g}x; consider --set train.obs_std_min=0.01 or train.obs_clip=10")


def normalizer_of(model, cfg):
    tr = cfg["train"]
    return Normalizer(model.IN_SIZE, model.NORMALIZE, tr.get("obs_std_min", 1e-6), tr.get("obs_clip"))


def reset_pool(env, key, n, sharding=None):
    """n reset states, one per population member (re-used whenever that member's episode ends),
    laid out by `sharding` (the members' sharding on the run's mesh; key: a host value)."""
    return jax.jit(lambda k: jax.vmap(env.reset)(jax.random.split(k, n)), out_shardings=sharding)(np.asarray(key))


def _where(mask, a, b):
    return jax.tree.map(lambda x, y: jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def _same_types(ref, new):
    """Brax's step returns some weakly typed leaves that reset does not; a while_loop needs equal types."""
    return jax.tree.map(lambda r, n: jax.lax.convert_element_type(n, r.dtype), ref, new)


def rollout(model, env, member_network, theta, observe, pool, key, task, fitness="completed", record=0):
    """Run every member's network in its own environment until each has finished an episode.

    theta: per-member parameters (leading population axis); member_network(theta_m) -> (w, bp, bc);
    observe(obs) -> the network's input (normalised).
    Fitness (the EC reference's semantics): the mean return of the episodes a member completes before
    every member has finished one (`completed`), or the first episode's return (`first`).  A finished
    environment restarts from that member's state in `pool`; the network state is not reset.
    Returns fitness, the number of steps taken, the last observations (for the normaliser), and the
    spike counts per spiking neuron of the last `record` members (shape (record, neurons); those
    members run forward_step with record=True, the others as before).
    """
    n = pool.obs.shape[0]
    max_steps = -(-task["episode_length"] // task["action_repeat"])
    k_init, k_run = jax.random.split(key)

    def member_init(th, k):
        _, bp, _ = member_network(th)
        return model.init_state(k, bp)

    def policy(th, x, obs, k):
        w, bp, bc = member_network(th)
        return model.forward_step(w, bp, bc, x, {model.INPUT: obs}, k)

    def counting_policy(th, x, obs, k):
        w, bp, bc = member_network(th)
        return counting_step(model, w, bp, bc, x, {model.INPUT: obs}, k)

    split = n - record
    head = lambda tree: jax.tree.map(lambda v: v[:split], tree)  # noqa: E731
    tail = lambda tree: jax.tree.map(lambda v: v[split:], tree)  # noqa: E731

    def act(x, obs, keys, counts):
        """Every member's step; the recorded ones also count their spikes."""
        if not record:
            x, action = jax.vmap(policy)(theta, x, obs, keys)
            return x, action, counts
        x_b, action_b, k = jax.vmap(counting_policy)(tail(theta), tail(x), obs[split:], keys[split:])
        if split:
            x_a, action_a = jax.vmap(policy)(head(theta), head(x), obs[:split], keys[:split])
            x_b = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), x_a, x_b)
            action_b = jnp.concatenate([action_a, action_b])
        return x_b, action_b, counts + k

    def cond(c):
        return (c["t"] < max_steps) & ~jnp.all(c["finished"])

    def body(c):
        keys = jax.random.split(jax.random.fold_in(k_run, c["t"]), n)
        x, action, counts = act(c["x"], observe(c["env"].obs), keys, c["counts"])
        env_state = _same_types(pool, jax.vmap(env.step)(c["env"], action))
        ret = c["ret"] + env_state.reward
        done = env_state.done > 0
        return {
            "env": _where(done, pool, env_state),
            "x": x,
            "ret": jnp.where(done, 0.0, ret),
            "sum": c["sum"] + jnp.where(done, ret, 0.0),
            "count": c["count"] + done.astype(jnp.int32),
            "first": jnp.where(done & ~c["finished"], ret, c["first"]),
            "finished": c["finished"] | done,
            "t": c["t"] + 1,
            "counts": counts,
        }

    carry = {
        "env": pool, "x": jax.vmap(member_init)(theta, jax.random.split(k_init, n)),
        "ret": jnp.zeros(n), "sum": jnp.zeros(n), "count": jnp.zeros(n, jnp.int32), "first": jnp.zeros(n),
        "finished": jnp.zeros(n, bool), "t": jnp.int32(0),
        "counts": jnp.zeros((record,) + spike_count_zeros(model).shape),
    }
    c = jax.lax.while_loop(cond, body, carry)
    fit = c["first"] if fitness == "first" else c["sum"] / jnp.maximum(c["count"], 1)
    return fit, c["t"], c["env"].obs, c["counts"]


def record_episode(model, env, net, observe, key, task):
    """One episode of one network: its return, physics states and spikes per network step (for eval)."""
    w, bp, bc = net
    max_steps = -(-task["episode_length"] // task["action_repeat"])
    k_env, k_init, k_run = jax.random.split(key, 3)
    env_state = jax.jit(env.reset)(k_env)
    x = model.init_state(k_init, bp)

    @jax.jit
    def step(x, env_state, k):
        x, action, spikes = model.forward_step(w, bp, bc, x, {model.INPUT: observe(env_state.obs)}, k, record=True)
        return x, env.step(env_state, action), spikes

    states, spikes, total = [env_state.pipeline_state], [], 0.0
    for t in range(max_steps):
        x, env_state, s = step(x, env_state, jax.random.fold_in(k_run, t))
        spikes.append(np.asarray(s))
        total += float(env_state.reward)
        states.append(env_state.pipeline_state)
        if float(env_state.done) > 0:
            break
    return total, states, np.concatenate(spikes)


def evaluate_brax(trainer, net, out_dir, seed=0, episodes=1):
    """Roll out the deterministic network: one recorded episode (its return, raster.png and an offline
    viewer, rollout.gif and rollout.html) and, with episodes > 1, the mean and sd of the return over
    that many episodes run side by side, with their activity (rate/<population>, silent/<population>)."""
    if episodes < 1:
        raise RunError("E871", f"--episodes {episodes}: evaluation needs at least one episode", "give --episodes 1 or more")
    from ..viewer import body_positions, write_rollout

    model, env = trainer.model, trainer.episode_env
    observe = lambda obs: trainer.normalizer(obs, trainer.state["normalizer"])  # noqa: E731
    total, states, spikes = record_episode(model, env, net, observe, jax.random.PRNGKey(seed), trainer.cfg["task"])
    out = {"return": total, "steps": len(states) - 1}
    if episodes > 1:
        k_pool, k_run = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1))
        pool = jax.vmap(env.reset)(jax.random.split(k_pool, episodes))
        run = jax.jit(lambda pool, key: rollout(model, env, lambda _: net, jnp.zeros(episodes), observe, pool, key,
                                                trainer.cfg["task"], "first", record=episodes))
        returns, steps, _, counts = jax.device_get(run(pool, k_run))
        returns = np.asarray(returns, np.float64)
        out.update({"episodes": episodes, "return_mean": float(returns.mean()), "return_sd": float(returns.std()),
                    "returns": [float(r) for r in returns],
                    **activity_metrics(model, np.sum(counts, 0), episodes, int(steps))})
    try:
        positions = body_positions(states)
        parents = getattr(env.sys, "link_parents", None) or [-1] * positions.shape[1]
        # frames are env steps: action_repeat physics steps of env.dt each (simulated time, not network time)
        step_ms = 1000.0 * float(env.dt) * trainer.cfg["task"].get("action_repeat", 1)
        out.update(write_rollout(out_dir, positions, parents,
                                 f"{model.SPEC_NAME}: return {total:.1f}", step_ms))
    except Exception as e:  # a backend whose states have no body positions: the viewer is optional
        out["html_error"] = f"{type(e).__name__}: {e}"
    raster = spike_raster(os.path.join(out_dir, "raster.png"), spikes[: min(len(spikes), 100 * model.SUBSTEPS)],
                          f"{model.SPEC_NAME}: deterministic network, first steps of the episode", model.DT)
    if raster:
        out["raster"] = raster
    return out
