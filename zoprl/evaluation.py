"""Exact evaluation of finite-horizon finite MDPs (docs/methods.md section 1).

For a policy pi_h(a | s) (time-dependent in general) and tables P, R, rho:

    V_{H+1} = 0,  Q_h(s, a) = r(s, a) + sum_s' P(s' | s, a) V_{h+1}(s'),
    V_h(s) = sum_a pi_h(a | s) Q_h(s, a),  J(pi) = sum_s rho(s) V_1(s),

with r(s, a) = sum_s' P(s' | s, a) R(s, a, s'). grad_theta J comes from differentiating this
recursion with jax.grad (exact up to float32 rounding), and J* = max_pi J(pi) from the same
recursion with max_a in place of the expectation (finite-horizon value iteration), attained by
the greedy time-dependent deterministic policy. Everything is a pure function of arrays, so it
vmaps over policy parameters and over MDP instances (env params).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from zoprl.envs.finite import TabularModel
from zoprl.policies.base import Policy, action_probabilities, check_compatible


def policy_value(model: TabularModel, pi: jax.Array) -> jax.Array:
    """J(pi) by backward induction; ``pi`` is [H, S, A] (rows sum to 1)."""
    chex.assert_rank(pi, 3)
    chex.assert_shape(model.transition, (pi.shape[1], pi.shape[2], pi.shape[1]))
    r = model.expected_reward()

    def backward(v_next, pi_h):
        q = r + jnp.einsum("sat,t->sa", model.transition, v_next)
        v = jnp.sum(pi_h * q, axis=-1)
        return v, None

    v1, _ = jax.lax.scan(backward, jnp.zeros(r.shape[0], r.dtype), pi, reverse=True)
    return jnp.dot(model.start, v1)


def optimal_q_values(model: TabularModel, horizon: int) -> jax.Array:
    """Q*_h(s, a) for h = 1..H, [H, S, A], by finite-horizon value iteration."""
    chex.assert_rank([model.transition, model.start], [3, 1])
    r = model.expected_reward()

    def backward(v_next, _):
        q = r + jnp.einsum("sat,t->sa", model.transition, v_next)
        return jnp.max(q, axis=-1), q

    _, q = jax.lax.scan(
        backward, jnp.zeros(r.shape[0], r.dtype), None, length=horizon, reverse=True
    )
    return q


def optimal_value(model: TabularModel, horizon: int) -> jax.Array:
    """J* = sum_s rho(s) max_a Q*_1(s, a)."""
    return jnp.dot(model.start, jnp.max(optimal_q_values(model, horizon)[0], axis=-1))


def uniform_policy_value(model: TabularModel, horizon: int) -> jax.Array:
    """J_0, the value of the uniform policy pi(a | s) = 1 / A (the reference of ``gap_closed``)."""
    num_states, num_actions = model.reward.shape[:2]
    uniform = jnp.full((horizon, num_states, num_actions), 1.0 / num_actions, model.reward.dtype)
    return policy_value(model, uniform)


def greedy_policy(model: TabularModel, horizon: int) -> jax.Array:
    """An optimal deterministic time-dependent policy as one-hot probabilities [H, S, A]."""
    q = optimal_q_values(model, horizon)
    return jax.nn.one_hot(jnp.argmax(q, axis=-1), q.shape[-1])


class ExactEvaluator(NamedTuple):
    """value(params, env_params) -> J; grad(...) -> grad_theta J (same pytree as params);
    value_and_grad(...); optimal_value(env_params) -> J*."""

    value: Callable
    grad: Callable
    value_and_grad: Callable
    optimal_value: Callable


def exact_evaluator(env, policy: Policy) -> ExactEvaluator:
    """Exact J, grad J and J* for a categorical ``policy`` on a finite ``env`` (any FiniteMDP)."""
    if not getattr(env, "is_finite", False):
        raise ValueError(
            f"environment {env.name!r} has no finite state space: exact evaluation "
            "is for finite MDPs; use Monte Carlo rollouts instead"
        )
    check_compatible(policy, env)
    horizon = env.horizon

    def value(params, env_params):
        pi = action_probabilities(policy, params, env.observations(env_params), horizon)
        return policy_value(env.model(env_params), pi)

    def j_star(env_params):
        return optimal_value(env.model(env_params), horizon)

    return ExactEvaluator(value, jax.grad(value), jax.value_and_grad(value), j_star)
