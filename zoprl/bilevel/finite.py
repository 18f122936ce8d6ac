"""The exact bilevel RLHF problem of a zoprl finite environment, policy, reward model and oracle.

On a finite environment (``env.is_finite``; observations are state indices) with a categorical
policy, every object of the learners has a table form: the policy's logits
theta_h(s, .) = policy.logits(w, s, h) [H, S, A], the reference pi_ref [H, S, A] (the softmax
of the reference parameters' table), the reward model's r_nu(s, a) [S, A]
(``problem.reward_model_table``), and the oracle's exact answer probabilities over the
enumerated trajectories, P[i, j] = oracle.prob(tau_i, tau_j) (any link, teacher noise or tie
rule). With them ``exact_problem`` builds the ``BilevelParams`` whose exact functions
(``lower_level``, ``upper_level``, ``hypergradient``, ``penalty``) give J_c(nu, w), f(nu, w),
F(nu), grad F(nu) and grad Phi_lambda(nu) for the learners' own parameters (arXiv 2410.15610).

The matrix P is what the oracle would answer in expectation: the exact-gradient modes that use
it stand in for infinitely many queries and read the teacher's answer probabilities (which the
oracle computes from the environment's reward), so they are labelled as reading the latent
reward. The pair sum costs (S A)^{2H}: tiny MDPs only (``zoprl.enumeration``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.bilevel.lower_level import lower_level_objective
from zoprl.bilevel.problem import BilevelParams, RewardFn, oracle_bilevel_params
from zoprl.bilevel.upper_level import upper_objective
from zoprl.enumeration import MAX_ENUMERATED_TRAJECTORIES, enumerated_trajectories
from zoprl.policies.base import action_logits


def is_enumerable(env) -> bool:
    """Whether the finite ``env`` is small enough to enumerate its trajectory pairs."""
    if not getattr(env, "is_finite", False):
        return False
    return (env.num_states * env.num_actions) ** env.horizon <= MAX_ENUMERATED_TRAJECTORIES


def logits_table(env, policy, params, env_params=None) -> jax.Array:
    """theta_h(s, a) = policy.logits(params, s, h) for every step and state of ``env``,
    [H, S, A] (``action_logits``)."""
    return action_logits(policy, params, env.observations(env_params), env.horizon)


def probability_table(env, policy, params, env_params=None) -> jax.Array:
    """pi_h(a | s) for every step and state of ``env``, [H, S, A]: the softmax of
    ``logits_table`` (taken on the whole table, as the bilevel results were computed)."""
    return jax.nn.softmax(logits_table(env, policy, params, env_params), axis=-1)


def preference_matrix(oracle, trajectories, oracle_params) -> jax.Array:
    """P[i, j] = oracle.prob(tau_i, tau_j) for a batch of N trajectories (leaves [N, H]): the
    probability that one answered vote prefers tau_j to tau_i, [N, N]."""
    n = trajectories.valid.shape[0]
    rows = jax.tree.map(lambda x: jnp.broadcast_to(x[:, None], (n, n) + x.shape[1:]), trajectories)
    cols = jax.tree.map(lambda x: jnp.broadcast_to(x[None, :], (n, n) + x.shape[1:]), trajectories)
    return oracle.prob(rows, cols, oracle_params)


def exact_problem(
    env, policy, oracle, env_params, oracle_params, reference_params, kl_coef, ridge
) -> BilevelParams:
    """The bilevel instance of the learners on ``env`` (module doc): the environment's tables,
    pi_ref = softmax of the reference parameters' logits, the KL weight, the ridge and the
    oracle's preference matrix."""
    model = env.model(env_params)
    reference = probability_table(env, policy, reference_params, env_params)
    trajectories = enumerated_trajectories(env, env_params)
    preference = preference_matrix(oracle, trajectories, oracle_params)
    dtype = jnp.result_type(model.transition, reference)
    return oracle_bilevel_params(
        model.transition,
        model.start,
        reference.astype(dtype),
        jnp.asarray(kl_coef, dtype),
        jnp.asarray(ridge, dtype),
        preference.astype(dtype),
    )


def exact_lower(env, policy, reward_fn: RewardFn, problem: BilevelParams, nu, params):
    """J_c(nu, w) exactly for the policy parameters w = ``params``."""
    return lower_level_objective(reward_fn, problem, nu, logits_table(env, policy, params))


def exact_upper(env, policy, reward_fn: RewardFn, problem: BilevelParams, nu, params):
    """f(nu, w) exactly (pairs enumerated) for the policy parameters w = ``params``."""
    pi = probability_table(env, policy, params)
    return upper_objective(reward_fn, problem, nu, pi)


__all__ = [
    "exact_lower",
    "exact_problem",
    "exact_upper",
    "is_enumerable",
    "logits_table",
    "preference_matrix",
    "probability_table",
]
