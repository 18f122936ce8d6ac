"""``bilevel_rlhf(reward_fn)``: the exact bilevel RLHF functions with the reward parametrisation
closed over (optax style), so that ``jax.jit`` and ``jax.vmap`` apply to them directly.

Each field is the module-level function of the same name with ``reward_fn`` (and the static
sizes given here) bound; see ``zoprl.bilevel.lower_level``, ``upper_level``, ``hypergradient``
and ``penalty`` for the mathematics (arXiv 2410.15610; arXiv 2309.01753).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from zoprl.bilevel.hypergradient import (
    hypergradient_implicit,
    hypergradient_unrolled,
    hyperobjective,
)
from zoprl.bilevel.lower_level import lower_level_objective, soft_optimal_logits
from zoprl.bilevel.penalty import penalty_solution
from zoprl.bilevel.problem import RewardFn
from zoprl.bilevel.upper_level import upper_objective, upper_objective_monte_carlo
from zoprl.validation import check_int


class BilevelRLHF(NamedTuple):
    """soft_optimal_logits(params, nu) -> theta*(nu) [H, S, A];
    lower_level_objective(params, nu, theta) -> J_c(nu, theta);
    upper_objective(params, nu, policy) -> f(nu, pi) (exact);
    upper_objective_monte_carlo(key, params, nu, policy) -> (estimate, standard error);
    hyperobjective(params, nu) -> F(nu);
    hypergradient_unrolled(params, nu), hypergradient_implicit(params, nu) -> grad F(nu);
    penalty_solution(params, nu, penalty_weight) -> PenaltySolution."""

    soft_optimal_logits: Callable
    lower_level_objective: Callable
    upper_objective: Callable
    upper_objective_monte_carlo: Callable
    hyperobjective: Callable
    hypergradient_unrolled: Callable
    hypergradient_implicit: Callable
    penalty_solution: Callable


def bilevel_rlhf(
    reward_fn: RewardFn, *, num_pairs: int = 4096, tolerance=None, max_iterations: int = 100
) -> BilevelRLHF:
    """The bilevel functions for ``reward_fn`` (nu -> r_nu [S, A] or [H, S, A]); ``num_pairs``
    trajectory pairs for the Monte Carlo upper objective; ``tolerance`` and ``max_iterations``
    for the penalty's inner Newton solver."""
    num_pairs = check_int("num_pairs", num_pairs, minimum=2)
    max_iterations = check_int("max_iterations", max_iterations)

    def monte_carlo(key, params, nu, policy):
        return upper_objective_monte_carlo(key, reward_fn, params, nu, policy, num_pairs)

    return BilevelRLHF(
        partial(soft_optimal_logits, reward_fn),
        partial(lower_level_objective, reward_fn),
        partial(upper_objective, reward_fn),
        monte_carlo,
        partial(hyperobjective, reward_fn),
        partial(hypergradient_unrolled, reward_fn),
        partial(hypergradient_implicit, reward_fn),
        partial(penalty_solution, reward_fn, tolerance=tolerance, max_iterations=max_iterations),
    )


__all__ = ["BilevelRLHF", "bilevel_rlhf"]
