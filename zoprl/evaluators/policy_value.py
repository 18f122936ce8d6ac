"""The default evaluators: the value of the learner's policy, exact or by Monte Carlo.

exact (finite environments, categorical policies; ``zoprl.evaluation``):
    value          J(theta), by backward induction
    grad_norm_sq   ||grad_theta J(theta)||^2, by differentiating it
    value_gap      J* - J(theta), J* by value iteration once per run (``init``)
    value_ratio    J(theta) / J*
    gap_closed     (J(theta) - J_0) / (J* - J_0), J_0 the uniform policy's value: the fraction of
                   the uniform policy's gap closed, comparable across settings whose J* and J_0
                   differ (e.g. GridWorlds with different slip probabilities); 0 for the uniform
                   policy, 1 for an optimal one
monte_carlo (any environment):
    value          the mean return of ``eval_episodes`` rollouts with the record's own key
    value_stderr   its standard error
default: exact where it applies, else monte_carlo.

Exact metrics follow the dtype of their inputs: with ``jax_enable_x64`` and float64 policy and
environment params they are float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.evaluation import exact_evaluator, uniform_policy_value
from zoprl.evaluators.base import Evaluator, register_evaluator
from zoprl.rollout import make_monte_carlo_value
from zoprl.validation import check_int


def supports_exact(env, policy) -> bool:
    """Whether the exact evaluator applies: a finite environment and a categorical policy."""
    return bool(getattr(env, "is_finite", False)) and policy.logits is not None


def exact_policy_evaluator(env, policy, oracle=None) -> Evaluator:
    """J, ||grad J||^2 and J* - J exactly (module doc)."""
    exact = exact_evaluator(env, policy)

    def init(key, hparams, env_params, oracle_params):
        uniform = uniform_policy_value(env.model(env_params), env.horizon)
        return exact.optimal_value(env_params), uniform

    def metrics(key, state, hparams, env_params, oracle_params, references):
        optimum, uniform = references
        value, grad = exact.value_and_grad(state.params, env_params)
        grad_sq = sum(jnp.sum(g**2) for g in jax.tree.leaves(grad))
        return {
            "value": value,
            "grad_norm_sq": grad_sq,
            "value_gap": optimum - value,
            "value_ratio": value / optimum,
            "gap_closed": (value - uniform) / (optimum - uniform),
        }

    return Evaluator("exact", init, metrics)


def monte_carlo_policy_evaluator(
    env, policy, oracle=None, *, eval_episodes: int = 256
) -> Evaluator:
    """The mean return of ``eval_episodes`` rollouts and its standard error (module doc)."""
    value = make_monte_carlo_value(env, policy, check_int("eval_episodes", eval_episodes))

    def metrics(key, state, hparams, env_params, oracle_params, aux):
        mean, stderr = value(key, state.params, env_params)
        return {"value": mean, "value_stderr": stderr}

    return Evaluator("monte_carlo", lambda *args: None, metrics)


def default_policy_evaluator(env, policy, oracle=None, *, eval_episodes: int = 256) -> Evaluator:
    """exact where it applies, else monte_carlo with ``eval_episodes`` rollouts."""
    if supports_exact(env, policy):
        return exact_policy_evaluator(env, policy, oracle)
    return monte_carlo_policy_evaluator(env, policy, oracle, eval_episodes=eval_episodes)


register_evaluator("default", default_policy_evaluator)
register_evaluator("exact", exact_policy_evaluator)
register_evaluator("monte_carlo", monte_carlo_policy_evaluator)

__all__ = [
    "default_policy_evaluator",
    "exact_policy_evaluator",
    "monte_carlo_policy_evaluator",
    "supports_exact",
]
