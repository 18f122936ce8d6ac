"""The policy interface: a NamedTuple of pure functions (optax style) plus static metadata.

A policy pi_theta(a | s, h) is given by

    init(key) -> params                          (any pytree; d = number of scalars)
    sample(key, params, obs, h) -> (action, log pi(action | obs, h))
    log_prob(params, obs, h, action) -> log pi(action | obs, h)
    logits(params, obs, h) -> [A]                (categorical policies; None for Gaussian ones)

for a single observation; callers batch with vmap. ``h`` is the 0-based time step (ignored by
time-homogeneous policies). Exact evaluation needs ``logits``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


class Policy(NamedTuple):
    init: Callable
    sample: Callable
    log_prob: Callable
    logits: Callable | None
    num_actions: int | None  # None for continuous actions
    num_states: int | None = None  # tabular policies only
    horizon: int | None = None  # time-dependent policies only
    name: str = "policy"


def categorical_policy(init, logits, num_actions, num_states=None, horizon=None, name="policy"):
    """Build a Policy from ``logits(params, obs, h) -> [A]``. Sampling is by inverse CDF with a
    single uniform u: a = #{b < A - 1 : F(b) <= u}, F the cumulative action probabilities."""

    def sample(key, params, obs, h):
        return sample_from_uniform(logits(params, obs, h), jax.random.uniform(key))

    def log_prob(params, obs, h, action):
        return jax.nn.log_softmax(logits(params, obs, h))[action]

    return Policy(init, sample, log_prob, logits, num_actions, num_states, horizon, name)


def sample_from_uniform(logits, u):
    """(a, log pi(a)) with a ~ softmax(logits) drawn from a given uniform u in [0, 1) by inverse
    CDF: a = #{b < A - 1 : F(b) <= u}, F the cumulative action probabilities. ``logits`` [..., A]
    and ``u`` [...] broadcast, so a whole batch samples in one call."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    cdf = jnp.cumsum(jnp.exp(log_probs), axis=-1)[..., :-1]
    action = jnp.sum(cdf <= jnp.asarray(u)[..., None], axis=-1).astype(jnp.int32)
    return action, jnp.take_along_axis(log_probs, action[..., None], axis=-1)[..., 0]


def _per_step_table(policy: Policy, params, observations, horizon: int, transform) -> jax.Array:
    """transform(policy.logits(params, s, h)) for every step h and every state's observation,
    [H, S, A] (the transform inside the per-state map, as the exact evaluators have compiled it:
    moving the softmax out of it changes float32 results in the last bits)."""
    if policy.logits is None:
        raise ValueError(
            f"policy {policy.name!r} has no logits: exact evaluation needs a categorical policy"
        )
    per_state = jax.vmap(lambda o, h: transform(policy.logits(params, o, h)), (0, None))
    return jax.vmap(lambda h: per_state(observations, h))(jnp.arange(horizon))


def action_logits(policy: Policy, params, observations, horizon: int) -> jax.Array:
    """theta_h(s, a) = policy.logits(params, s, h) for every step h and every state's
    observation: [H, S, A]."""
    return _per_step_table(policy, params, observations, horizon, lambda logits: logits)


def action_probabilities(policy: Policy, params, observations, horizon: int) -> jax.Array:
    """pi_h(a | s) for every step h and every state's observation: [H, S, A]."""
    return _per_step_table(policy, params, observations, horizon, jax.nn.softmax)


def flatten_params(params: Any):
    """View a parameter pytree as a flat vector: returns (vector [d], unflatten)."""
    return ravel_pytree(params)


def num_params(params: Any) -> int:
    """d, the number of scalars in a parameter pytree."""
    return int(sum(jnp.size(x) for x in jax.tree.leaves(params)))


def check_compatible(policy: Policy, env) -> None:
    """Raise ValueError (before compilation) when a policy and an environment do not fit."""
    env_actions = getattr(env, "num_actions", None)
    if (
        policy.num_actions is not None
        and env_actions is not None
        and policy.num_actions != env_actions
    ):
        raise ValueError(
            f"policy {policy.name!r} has {policy.num_actions} actions but environment "
            f"{env.name!r} has {env_actions}"
        )
    if policy.num_states is not None and getattr(env, "num_states", None) != policy.num_states:
        raise ValueError(
            f"policy {policy.name!r} is for {policy.num_states} states but environment "
            f"{env.name!r} has {getattr(env, 'num_states', 'a non-finite state space')}"
        )
    if policy.horizon is not None and policy.horizon != env.horizon:
        raise ValueError(
            f"time-dependent policy {policy.name!r} has horizon {policy.horizon} but "
            f"environment {env.name!r} has horizon {env.horizon}"
        )


def policy_dimension(policy: Policy) -> int:
    """d for a policy, from the shapes of ``policy.init`` (nothing is computed)."""
    shapes = jax.eval_shape(policy.init, jax.random.key(0))
    return int(sum(math.prod(x.shape) for x in jax.tree.leaves(shapes)))


def per_step_log_probs(policy: Policy, params, traj) -> jax.Array:
    """log pi_params(a_h | s_h, h) for every step of one trajectory (a ``zoprl.trajectory``
    Trajectory with leaves [H, ...]), [H]."""
    steps = jnp.arange(traj.horizon)
    return jax.vmap(policy.log_prob, (None, 0, 0, 0))(params, traj.obs, steps, traj.action)
