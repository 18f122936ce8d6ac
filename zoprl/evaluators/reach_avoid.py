"""The reach-avoid objective exactly: E_pi[u(tau)], u(tau) = 1[s_H goal] prod_h 1[s_h not trap].

The objective of the non-Markovian teacher (``zoprl.oracles.reach_avoid``) is the probability of
being at a goal at the last step H without having visited a trap. It is not an expected sum of
per-step rewards, but it is a backward induction with killing: with notrap(s) = 1 - trap(s),

    W_H(s) = notrap(s) goal(s),
    W_h(s) = notrap(s) sum_a pi_h(a | s) sum_s' P(s' | s, a) W_{h+1}(s'),     h = H-1, ..., 1,
    J(pi)  = sum_s rho(s) W_1(s)                                               (= E_pi[u(tau)]),

since u factorises over the path and the trajectory's law is Markov (the action at s_H does not
matter). Its optimum J* replaces the policy average by max_a (finite-horizon value iteration on
the killed chain), attained by a greedy time-dependent deterministic policy: once a trap is
visited the utility is 0 whatever follows, so nothing is gained by remembering the past.

The evaluator ``reach_avoid`` (registered) records, like the exact evaluator of the return:
value J, grad_norm_sq ||grad_theta J||^2 (jax.grad through the recursion), value_gap J* - J,
value_ratio J / J*, and gap_closed (J - J_0) / (J* - J_0), J_0 the uniform policy's value. The goal
and trap cells are read from the environment's params (``goal_mask``, ``trap_mask``: GridWorld's
goals and traps), the same cells the reach-avoid teacher is built from.

``teacher`` (registered) evaluates the objective of the cell's own teacher: this one for the
reach-avoid teacher, the default evaluator (the expected return) for every other.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from zoprl.envs.finite import TabularModel
from zoprl.evaluators.base import Evaluator, register_evaluator
from zoprl.evaluators.policy_value import default_policy_evaluator
from zoprl.oracles.reach_avoid import require_goal_and_trap_cells
from zoprl.policies.base import action_probabilities, check_compatible


def _backup(model: TabularModel, goal, trap, reduce):
    """One step of the killed recursion: W_next -> notrap(s) reduce_a sum_s' P(s'|s, a) W(s')."""

    def backward(w_next, pi_h):
        q = jnp.einsum("sat,t->sa", model.transition, w_next)
        return (1.0 - trap) * reduce(pi_h, q), None

    return backward


def reach_avoid_value(model: TabularModel, pi, goal, trap) -> jax.Array:
    """J(pi) = E_pi[u(tau)] (module doc); ``pi`` [H, S, A], ``goal`` and ``trap`` masks [S]."""
    chex.assert_rank(pi, 3)
    chex.assert_shape([goal, trap], (pi.shape[1],))
    backward = _backup(model, goal, trap, lambda p, q: jnp.sum(p * q, axis=-1))
    w_last = (1.0 - trap) * goal
    w1, _ = jax.lax.scan(backward, w_last, pi[:-1], reverse=True)
    return jnp.dot(model.start, w1)


def optimal_reach_avoid_value(model: TabularModel, horizon: int, goal, trap) -> jax.Array:
    """J* = max_pi E_pi[u(tau)]: the recursion with max_a (module doc)."""
    backward = _backup(model, goal, trap, lambda p, q: jnp.max(q, axis=-1))
    w_last = (1.0 - trap) * goal
    w1, _ = jax.lax.scan(lambda w, _: backward(w, None), w_last, None, length=horizon - 1)
    return jnp.dot(model.start, w1)


def uniform_reach_avoid_value(model: TabularModel, horizon: int, goal, trap) -> jax.Array:
    """J_0, the uniform policy's probability of reaching a goal without a trap."""
    num_states, num_actions = model.transition.shape[:2]
    dtype = model.transition.dtype
    uniform = jnp.full((horizon, num_states, num_actions), 1.0 / num_actions, dtype)
    return reach_avoid_value(model, uniform, goal, trap)


def _masks(env_params):
    return env_params.goal_mask, env_params.trap_mask


def reach_avoid_evaluator(env, policy, oracle=None) -> Evaluator:
    """value, grad_norm_sq, value_gap, value_ratio and gap_closed of the reach-avoid objective
    (module doc) for a categorical policy on a finite environment with goal and trap cells."""
    require_goal_and_trap_cells(env, "the reach_avoid evaluator")
    check_compatible(policy, env)
    horizon = env.horizon

    def value(policy_params, env_params):
        pi = action_probabilities(policy, policy_params, env.observations(env_params), horizon)
        return reach_avoid_value(env.model(env_params), pi, *_masks(env_params))

    value_and_grad = jax.value_and_grad(value)

    def init(key, hparams, env_params, oracle_params):
        model = env.model(env_params)
        return (
            optimal_reach_avoid_value(model, horizon, *_masks(env_params)),
            uniform_reach_avoid_value(model, horizon, *_masks(env_params)),
        )

    def metrics(key, state, hparams, env_params, oracle_params, references):
        optimum, uniform = references
        j, grad = value_and_grad(state.params, env_params)
        return {
            "value": j,
            "grad_norm_sq": sum(jnp.sum(g**2) for g in jax.tree.leaves(grad)),
            "value_gap": optimum - j,
            "value_ratio": j / optimum,
            "gap_closed": (j - uniform) / (optimum - uniform),
        }

    return Evaluator("reach_avoid", init, metrics)


def teacher_evaluator(env, policy, oracle=None, *, eval_episodes: int = 256) -> Evaluator:
    """The objective of the cell's teacher: ``reach_avoid`` for the reach-avoid teacher, else
    ``default`` (the expected return; ``eval_episodes`` for its Monte Carlo fallback)."""
    if oracle is not None and oracle.model.name == "reach_avoid":
        return reach_avoid_evaluator(env, policy, oracle)
    return default_policy_evaluator(env, policy, oracle, eval_episodes=eval_episodes)


register_evaluator("reach_avoid", reach_avoid_evaluator)
register_evaluator("teacher", teacher_evaluator)

__all__ = [
    "optimal_reach_avoid_value",
    "reach_avoid_evaluator",
    "reach_avoid_value",
    "teacher_evaluator",
    "uniform_reach_avoid_value",
]
