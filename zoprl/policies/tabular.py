"""Tabular and linear softmax policies.

Tabular softmax: pi(a | s) = softmax(theta[s])_a with theta in R^{S x A} (time-homogeneous) or
pi_h(a | s) = softmax(theta[h, s])_a with theta in R^{H x S x A} (time-dependent). Initial
parameters are zeros (the uniform policy), as in the GridWorld experiments of arXiv 2409.17401.

Linear softmax: pi(a | s) = softmax(phi(s)^T W)_a, W in R^{F x A}, with a feature map phi given
as a table [S, F] (finite environments, observation = state index) or as a function of the
observation.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.policies.base import Policy, categorical_policy
from zoprl.validation import check_int


def tabular_softmax(num_states: int, num_actions: int, horizon: int | None = None) -> Policy:
    """Softmax over a logit table; time-dependent when ``horizon`` is given."""
    s = check_int("num_states", num_states)
    a = check_int("num_actions", num_actions)
    if horizon is not None:
        h = check_int("horizon", horizon)
        return categorical_policy(
            lambda key: jnp.zeros((h, s, a)),
            lambda p, obs, t: p[t, obs],
            a,
            s,
            h,
            name="tabular_softmax_time_dependent",
        )
    return categorical_policy(
        lambda key: jnp.zeros((s, a)), lambda p, obs, t: p[obs], a, s, None, name="tabular_softmax"
    )


def linear_softmax(
    num_features: int,
    num_actions: int,
    features: Callable | np.ndarray | jax.Array | None = None,
    init_scale: float = 0.0,
) -> Policy:
    """Softmax of phi(obs)^T W. ``features`` is a table [S, F] indexed by the observation, a
    function obs -> [F], or None (the observation is the feature vector)."""
    f = check_int("num_features", num_features)
    a = check_int("num_actions", num_actions)
    num_states = None
    if features is None:
        phi = lambda obs: jnp.asarray(obs, jnp.float32).reshape(f)
    elif callable(features):
        phi = features
    else:
        table = jnp.asarray(features, jnp.float32)
        if table.ndim != 2 or table.shape[1] != f:
            raise ValueError(f"feature table must have shape [S, {f}], got {tuple(table.shape)}")
        num_states = table.shape[0]
        phi = lambda obs: table[obs]

    def init(key):
        return init_scale * jax.random.normal(key, (f, a))

    return categorical_policy(
        init, lambda w, obs, t: phi(obs) @ w, a, num_states, None, name="linear_softmax"
    )
