"""MLP policies (flax.linen): categorical for discrete actions, Gaussian for continuous ones.

Categorical: pi(a | o) = softmax(f_theta(o))_a. Gaussian: a ~ N(m_theta(o), diag(exp(2 log_std)))
with a state-independent learned ``log_std``. Observations are flattened to float vectors; for
finite environments pass ``features`` (a table [S, F] or a function) to map the state index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.networks import MLP
from zoprl.policies.base import Policy, categorical_policy
from zoprl.validation import check_int


def _feature_map(obs_dim, features):
    if features is None:
        return lambda obs: jnp.asarray(obs, jnp.float32).reshape(obs_dim), None
    if callable(features):
        return features, None
    table = jnp.asarray(features, jnp.float32)
    if table.ndim != 2 or table.shape[1] != obs_dim:
        raise ValueError(f"feature table must have shape [S, {obs_dim}], got {tuple(table.shape)}")
    return (lambda obs: table[obs]), table.shape[0]


def mlp_categorical(
    obs_dim: int,
    num_actions: int,
    hidden: Sequence[int] = (64, 64),
    features: Callable | np.ndarray | None = None,
) -> Policy:
    """Categorical MLP policy; the output layer starts at zero, so the initial policy is uniform."""
    d = check_int("obs_dim", obs_dim)
    a = check_int("num_actions", num_actions)
    phi, num_states = _feature_map(d, features)
    net = MLP(tuple(hidden), a)
    init = lambda key: net.init(key, jnp.zeros((d,)))
    return categorical_policy(
        init, lambda p, obs, t: net.apply(p, phi(obs)), a, num_states, None, name="mlp_categorical"
    )


def mlp_gaussian(
    obs_dim: int, action_dim: int, hidden: Sequence[int] = (64, 64), init_log_std: float = -0.5
) -> Policy:
    """Diagonal Gaussian MLP policy for continuous actions (no squashing)."""
    d = check_int("obs_dim", obs_dim)
    k = check_int("action_dim", action_dim)
    net = MLP(tuple(hidden), k)

    def init(key):
        return {"mean": net.init(key, jnp.zeros((d,))), "log_std": jnp.full((k,), init_log_std)}

    def log_prob(params, obs, h, action):
        mean = net.apply(params["mean"], jnp.asarray(obs, jnp.float32).reshape(d))
        z = (jnp.reshape(action, (k,)) - mean) * jnp.exp(-params["log_std"])
        return jnp.sum(-0.5 * z**2 - params["log_std"] - 0.5 * jnp.log(2 * jnp.pi))

    def sample(key, params, obs, h):
        mean = net.apply(params["mean"], jnp.asarray(obs, jnp.float32).reshape(d))
        action = mean + jnp.exp(params["log_std"]) * jax.random.normal(key, (k,))
        return action, log_prob(params, obs, h, action)

    return Policy(init, sample, log_prob, None, None, None, None, name="mlp_gaussian")
