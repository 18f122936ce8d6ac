"""A whole training run as one function of a key: ``lax.scan`` over T iterations.

    run = make_run(algorithm, num_iterations=T)
    final_state, metrics = run(key, hparams, env_params, oracle_params)

``metrics`` holds T + 1 entries per field (the initial policy, then after each iteration):

    value           J(theta): exact on finite environments, else the Monte Carlo mean return
                    over ``eval_episodes`` rollouts with a separate key (never charged as queries)
    grad_norm_sq    ||grad J(theta)||^2 (exact; finite environments and categorical policies)
    value_gap       J* - J(theta) (finite environments)
    trajectories    cumulative trajectories sampled by the learner
    queries         cumulative human queries asked
    plus the algorithm's per-iteration diagnostics (0 at iteration 0).

The run is a pure function of arrays, so ``jax.vmap`` over seeds (keys) and over a grid of
hyperparameters (or env / oracle params) gives a whole sweep in one compiled program.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.evaluation import exact_evaluator
from zoprl.rollout import make_monte_carlo_value
from zoprl.validation import check_int


def make_policy_metrics(env, policy, eval_episodes: int = 256) -> Callable:
    """metrics(key, params, env_params, optimum) -> dict of the evaluation metrics of a policy,
    with ``optimum`` = J* (finite environments; computed once per run by the caller) or None."""
    if getattr(env, "is_finite", False) and policy.logits is not None:
        evaluator = exact_evaluator(env, policy)

        def exact(key, params, env_params, optimum):
            value, grad = evaluator.value_and_grad(params, env_params)
            grad_sq = sum(jnp.sum(g**2) for g in jax.tree.leaves(grad))
            return {"value": value, "grad_norm_sq": grad_sq, "value_gap": optimum - value}

        return exact
    monte_carlo = make_monte_carlo_value(env, policy, check_int("eval_episodes", eval_episodes))

    def estimated(key, params, env_params, optimum):
        mean, stderr = monte_carlo(key, params, env_params)
        return {"value": mean, "value_stderr": stderr}

    return estimated


def make_run(algorithm: Algorithm, num_iterations: int, eval_episodes: int = 256) -> Callable:
    """run(key, hparams, env_params, oracle_params) -> (final state, metrics with leaves [T+1])."""
    num_iterations = check_int("num_iterations", num_iterations)
    env = algorithm.env
    policy_metrics = make_policy_metrics(env, algorithm.policy, eval_episodes)
    finite = getattr(env, "is_finite", False) and algorithm.policy.logits is not None
    optimal_value = exact_evaluator(env, algorithm.policy).optimal_value if finite else None

    def record(key, state, env_params, optimum):
        out = dict(policy_metrics(key, state.params, env_params, optimum))
        out["trajectories"] = state.counts.trajectories
        out["queries"] = state.counts.queries
        return out

    def run(key, hparams, env_params, oracle_params):
        k_init, k_eval0, k_iter = jax.random.split(key, 3)
        state = algorithm.init(k_init, hparams, env_params, oracle_params)
        # J* does not depend on the policy: one value iteration per run, not per iteration
        optimum = optimal_value(env_params) if finite else None

        def iteration(state, k):
            k_step, k_eval = jax.random.split(k)
            state, info = algorithm.step(k_step, state, hparams, env_params, oracle_params)
            return state, (record(k_eval, state, env_params, optimum), info._asdict())

        final, (metrics, info) = jax.lax.scan(iteration, state,
                                              jax.random.split(k_iter, num_iterations))
        first = record(k_eval0, state, env_params, optimum)
        metrics = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, metrics)
        # the diagnostics of iteration 0 (no step yet) are zeros
        metrics.update(jax.tree.map(lambda b: jnp.concatenate([jnp.zeros_like(b[:1]), b]), info))
        return final, metrics

    return run
