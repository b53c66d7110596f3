"""One step of a model's ODEs, for the methods the generated model names (docs/language.md,
"Integration methods").  Every method starts all right-hand sides from the same state, so the
order in which a model declares its equations does not matter."""

import jax
import jax.numpy as jnp


def linear_propagator(a_rows, dt):
    """P = expm(A dt) and Q = the integral of expm(A s) over [0, dt], so that x(t + dt) = P x + Q b
    for dx/dt = A x + b with b held over the step.  Both come from one matrix exponential of
    [[A, I], [0, 0]] dt (Van Loan).  Entries may be per-neuron vectors: then P and Q are (n, k, k)."""
    k = len(a_rows)
    entries = [jnp.asarray(v, dtype=jnp.result_type(float)) for row in a_rows for v in row]
    shape = jnp.broadcast_shapes(*(e.shape for e in entries))
    a = jnp.stack([jnp.broadcast_to(e, shape) for e in entries], axis=-1).reshape(shape + (k, k))
    top = jnp.concatenate([a * dt, jnp.broadcast_to(jnp.eye(k) * dt, shape + (k, k))], axis=-1)
    m = jnp.concatenate([top, jnp.zeros(shape + (k, 2 * k))], axis=-2)
    e = jax.scipy.linalg.expm(m) if not shape else jax.vmap(jax.scipy.linalg.expm)(m.reshape(-1, 2 * k, 2 * k))
    e = e.reshape(shape + (2 * k, 2 * k))
    return {"P": e[..., :k, :k], "Q": e[..., :k, k:]}


def linear_step(p, q, xs, bs):
    """x <- P x + Q b for the states xs and drives bs (lists of per-neuron arrays)."""
    n = jnp.broadcast_shapes(*(jnp.shape(v) for v in [*xs, *bs]))
    x = jnp.stack([jnp.broadcast_to(v, n) for v in xs], axis=0)
    b = jnp.stack([jnp.broadcast_to(v, n) for v in bs], axis=0)
    if p.ndim == 2:
        new = p @ x.reshape(len(xs), -1) + q @ b.reshape(len(bs), -1)
    else:  # one propagator per neuron
        new = (jnp.einsum("nij,jn->in", p, x.reshape(len(xs), -1)) +
               jnp.einsum("nij,jn->in", q, b.reshape(len(bs), -1)))
    return [new[i].reshape(n) for i in range(len(xs))]


def exponential_euler(k, f, x, dt):
    """dx/dt = k x + f with k and f frozen at the start of the step: x e^(k dt) + (e^(k dt) - 1)/k f."""
    small = k == 0
    k_safe = jnp.where(small, 1.0, k)
    return jnp.exp(k * dt) * x + jnp.where(small, dt, jnp.expm1(k_safe * dt) / k_safe) * f


def _add(x, d, h):
    return {**x, **{k: x[k] + h * v for k, v in d.items()}}


def rk2(rhs, x, drive, p, dt):
    """The midpoint method: the slope at half a step."""
    k1 = rhs(x, drive, p)
    k2 = rhs(_add(x, k1, dt / 2), drive, p)
    return {k: x[k] + dt * k2[k] for k in k1}


def rk4(rhs, x, drive, p, dt):
    """The classical fourth-order Runge-Kutta method."""
    k1 = rhs(x, drive, p)
    k2 = rhs(_add(x, k1, dt / 2), drive, p)
    k3 = rhs(_add(x, k2, dt / 2), drive, p)
    k4 = rhs(_add(x, k3, dt), drive, p)
    return {k: x[k] + dt / 6 * (k1[k] + 2 * k2[k] + 2 * k3[k] + k4[k]) for k in k1}
