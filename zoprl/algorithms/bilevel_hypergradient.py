"""Exact hypergradient descent for bilevel RLHF on tiny finite MDPs: the ceiling of the bilevel
learners (arXiv 2410.15610, ``docs/methods.md`` section 7).

    nu <- nu - gamma_nu (1 + k)^(-step_decay) grad F(nu),    F(nu) = f(nu, theta*(nu)),

with f exact (every trajectory pair enumerated, the teacher given by the oracle's exact answer
probabilities) and grad F by differentiating through soft value iteration
(``zoprl.bilevel.hypergradient``); the deployed policy is the lower level's exact solution
pi*(nu), so ``state.params`` = log pi*(nu), the logits of a time-dependent tabular softmax policy
[H, S, A]. Nothing is sampled and no query is asked: the method stands in for infinitely many
of both and reads the teacher's exact answers, so it is labelled a ceiling
(``reads_latent_reward``). Trajectory pairs are enumerated: (S A)^H <= 2048.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from zoprl.algorithms.base import Algorithm, descent_step
from zoprl.algorithms.bilevel_common import (
    check_reference_logits,
    decayed,
    exact_reward_table,
    initial_reference,
    tree_norm,
)
from zoprl.algorithms.optimizers import Optimizer, resolve_optimizer
from zoprl.bilevel.finite import exact_problem
from zoprl.bilevel.hypergradient import hyperobjective
from zoprl.bilevel.lower_level import soft_optimal_logits
from zoprl.bilevel.problem import resolve_reward_model
from zoprl.oracles.accounting import Counts
from zoprl.policies.base import check_compatible
from zoprl.validation import make_hparams


class HypergradientHparams(NamedTuple):
    """Sweepable scalars: the reward step size (> 0), its decay exponent (>= 0), the KL weight c
    (> 0) and the ridge rho (>= 0)."""

    reward_step_size: jax.Array
    step_decay: jax.Array
    kl_coef: jax.Array
    ridge: jax.Array


class HypergradientState(NamedTuple):
    params: Any  # log pi*(nu) [H, S, A]
    reward_params: Any  # nu
    reference_params: Any  # pi_ref
    opt_state: Any  # nu's
    counts: Counts  # always zero


class HypergradientInfo(NamedTuple):
    hyperobjective: jax.Array  # F(nu) before the step
    hypergradient_norm: jax.Array  # ||grad F(nu)||


class HypergradientSetup(NamedTuple):
    env: Any
    policy: Any
    oracle: Any
    model: Any
    reward_table: Callable  # nu -> r_nu [S, A]
    optimizer: Any
    reference_logits: tuple | None


def _problem(setup: HypergradientSetup, reference, hp, env_params, oracle_params):
    return exact_problem(
        setup.env,
        setup.policy,
        setup.oracle,
        env_params,
        oracle_params,
        reference,
        hp.kl_coef,
        hp.ridge,
    )


def hypergradient_init(setup: HypergradientSetup, key, hp, env_params, oracle_params):
    """nu from the reward model's init, the policy pi*(nu)."""
    k_policy, k_reward = jax.random.split(key)
    reference = initial_reference(setup.policy, k_policy, setup.reference_logits)
    nu = setup.model.init(k_reward)
    problem = _problem(setup, reference, hp, env_params, oracle_params)
    params = soft_optimal_logits(setup.reward_table, problem, nu).astype(reference.dtype)
    return HypergradientState(params, nu, reference, setup.optimizer.init(nu), Counts.zero())


def hypergradient_step(
    setup: HypergradientSetup, key, state, hp, env_params, oracle_params, iteration
):
    """One exact hypergradient step on nu; the policy follows as pi*(nu)."""
    problem = _problem(setup, state.reference_params, hp, env_params, oracle_params)
    value, grad = jax.value_and_grad(hyperobjective, argnums=2)(
        setup.reward_table, problem, state.reward_params
    )
    step = decayed(hp.reward_step_size, hp.step_decay, iteration)
    nu, opt_state = descent_step(setup.optimizer, grad, state.opt_state, state.reward_params, step)
    params = soft_optimal_logits(setup.reward_table, problem, nu).astype(state.params.dtype)
    new_state = HypergradientState(params, nu, state.reference_params, opt_state, state.counts)
    return new_state, HypergradientInfo(value, tree_norm(grad))


def hypergradient_hparams(
    reward_step_size=1.0, step_decay=0.0, kl_coef=0.1, ridge=0.01
) -> HypergradientHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        HypergradientHparams,
        nonnegative=("step_decay", "ridge"),
        reward_step_size=reward_step_size,
        step_decay=step_decay,
        kl_coef=kl_coef,
        ridge=ridge,
    )


def bilevel_hypergradient(
    env,
    policy,
    oracle,
    *,
    reward_model: str | None = None,
    reward_hidden: tuple[int, ...] = (64, 64),
    reference_action_logits: tuple[float, ...] | None = None,
    optimizer: Optimizer = None,
) -> Algorithm:
    """Exact hypergradient descent as an Algorithm named "bilevel_exact_hypergradient" (module
    doc); ``policy`` must be the time-dependent tabular softmax of ``env`` (ValueError)."""
    check_compatible(policy, env)
    if policy.horizon != getattr(env, "horizon", None) or policy.num_states is None:
        raise ValueError(
            "the exact hypergradient deploys pi*(nu), which needs the time-dependent tabular "
            f"softmax policy (policy 'time_dependent_softmax'), got {policy.name!r}"
        )
    model = resolve_reward_model(env, reward_model, reward_hidden)
    setup = HypergradientSetup(
        env,
        policy,
        oracle,
        model,
        exact_reward_table(env, policy, model),
        resolve_optimizer(optimizer, "sgd"),
        check_reference_logits(policy, reference_action_logits),
    )
    return Algorithm(
        "bilevel_exact_hypergradient",
        functools.partial(hypergradient_init, setup),
        functools.partial(hypergradient_step, setup),
        hypergradient_hparams,
        env,
        policy,
        reads_latent_reward=True,
    )


__all__ = [
    "HypergradientHparams",
    "HypergradientInfo",
    "HypergradientState",
    "bilevel_hypergradient",
    "hypergradient_hparams",
]
