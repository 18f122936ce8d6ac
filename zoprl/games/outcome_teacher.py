"""A cyclic teacher of whole trajectories: the "outcome" oracle kind (ours, beyond arXiv
2402.07314).

The preference game of ``zoprl.games`` with trajectories as responses. Every trajectory of a
finite MDP has an outcome o(tau) in {0, ..., O - 1}; here (``goal_outcomes``) the goal cell of a
GridWorld with G goals that its last observed state s_H lies in (goals are absorbing, so this is
the goal reached within H - 1 steps), or "no goal" (o = G, O = G + 1). The teacher prefers tau_1
to tau_0 with probability

    P(tau_1 > tau_0) = C[o(tau_1), o(tau_0)] + lambda (R(tau_1) - R(tau_0)),

C an outcome matrix with C + C^T = 1 (so C - 1/2 is skew-symmetric and C[o, o] = 1/2), R the
latent return and lambda >= 0 the weight of the return term. The return term is a Bradley-Terry
term with the linear link (1/2 + x / (2c) of section 2 of our method notes, never clipped here:
``outcome_params`` requires max |C - 1/2| + lambda (max R - min R) <= 1/2): with it the payoff
stays linear in the trajectory distribution of each player, so the best response to a fixed
opponent is a KL-regularised MDP and the exact gap stays computable (``zoprl.games.mdp_game``);
a logistic term would make the payoff depend on the whole law of R.

Default C (``rock_paper_scissors``): goal g beats goal g + 1, ..., g + (G - 1) // 2 (mod G) with
probability 1/2 + ``strength`` (rock-paper-scissors for G = 3; ties for G < 3), and every goal
beats "no goal" with probability 1/2 + ``goal_bonus``. With strength > 0 no reward on the goals
explains C, and no per-step reward model r(s, a) represents the teacher: its Bradley-Terry fit
ranks the goals by their win rate against the data's opponents only.

The kind (``outcome_kind``, registered as "outcome") needs a finite environment whose params
have a ``goal_mask`` [S] (the GridWorld); the knobs are ``strength``, ``goal_bonus``,
``return_weight`` (lambda) and ``outcome_matrix`` (a nested list [O, O] that replaces the
default C). The teacher transforms (M votes, mistakes, skips, ties: tie_gap = |p - 1/2|) apply on
top, as for every kind. It reads the latent return, as every oracle may; the learners do not.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.oracles.kinds import KindModel, OracleKind, register_oracle_kind
from zoprl.oracles.links import Link
from zoprl.oracles.models import PreferenceModel, return_range
from zoprl.oracles.preferences import cyclic_tournament, validate_preference
from zoprl.oracles.utilities import total_return
from zoprl.validation import check_in_range, check_nonnegative, is_concrete


class OutcomeParams(NamedTuple):
    """outcome_matrix C [O, O] (C + C^T = 1); outcome [S, O]: the one-hot outcome of a
    trajectory whose last observed state is s; return_weight: lambda >= 0 (a scalar)."""

    outcome_matrix: jax.Array
    outcome: jax.Array
    return_weight: jax.Array


def rock_paper_scissors(num_goals: int, strength, goal_bonus) -> jax.Array:
    """The default outcome matrix C [G + 1, G + 1] of the module doc (last row: no goal)."""
    check_in_range("strength", strength, 0.0, 0.5)
    check_in_range("goal_bonus", goal_bonus, 0.0, 0.5)
    size = num_goals + 1
    skew = np.zeros((size, size), np.float64)
    if num_goals >= 3:
        skew[:num_goals, :num_goals] = strength * np.asarray(cyclic_tournament(num_goals), float)
    skew[:num_goals, num_goals] = goal_bonus
    skew[num_goals, :num_goals] = -goal_bonus
    return jnp.asarray(0.5 + skew, jnp.asarray(0.0).dtype)


def goal_outcomes(goal_mask) -> jax.Array:
    """outcome [S, G + 1] (one-hot): goal cells in order of their index get outcomes 0..G-1,
    every other state G ("no goal"). ``goal_mask`` must be concrete."""
    mask = np.asarray(goal_mask) > 0
    rank = np.where(mask, np.cumsum(mask) - 1, int(mask.sum()))
    return jax.nn.one_hot(rank, int(mask.sum()) + 1, dtype=jnp.asarray(0.0).dtype)


def outcome_probability(traj_a, traj_b, params: OutcomeParams):
    """P(traj_b preferred to traj_a) of the module doc, over the pairs' batch shape."""
    o_a = params.outcome[traj_a.obs[..., -1]]
    o_b = params.outcome[traj_b.obs[..., -1]]
    cyclic = jnp.einsum("...i,ij,...j->...", o_b, params.outcome_matrix, o_a)
    gap = total_return(traj_b) - total_return(traj_a)
    return cyclic + params.return_weight * gap.astype(cyclic.dtype)


def outcome_model(env=None) -> PreferenceModel:
    """The trajectory-outcome preference model (module doc); ``env`` (optional) gives
    ``max_logit`` the return range of the environment run."""

    def prob(traj_a, traj_b, params: OutcomeParams):
        p = outcome_probability(traj_a, traj_b, params)
        return p, jnp.abs(p - 0.5)

    def max_logit(params: OutcomeParams, env_params, assumed_link: Link, link_shape):
        spread = 0.0 if env is None else return_range(env, env_params)
        largest = jnp.max(params.outcome_matrix) + params.return_weight * spread
        return jnp.abs(assumed_link.inverse(jnp.minimum(largest, 1.0), link_shape))

    return PreferenceModel("outcome", prob, max_logit, None)


def _check_outcome_matrix(matrix, num_outcomes: int):
    shape = tuple(np.shape(matrix))
    if shape != (num_outcomes, num_outcomes):
        raise ValueError(
            f"outcome_matrix must have shape [O, O] = {(num_outcomes, num_outcomes)} (the goals, "
            f"then 'no goal'), got {shape}"
        )
    validate_preference(np.asarray(matrix)[None])


def outcome_params(
    env, env_params, *, strength=0.3, goal_bonus=0.4, return_weight=0.0, outcome_matrix=None
) -> OutcomeParams:
    """Validated params of the teacher on the environment run (module doc)."""
    goal_mask = getattr(env_params, "goal_mask", None)
    if goal_mask is None or not is_concrete(goal_mask):
        raise ValueError(
            f"the outcome teacher needs an environment with goal cells (a GridWorld); "
            f"{getattr(env, 'name', env)!r} has none"
        )
    outcome = goal_outcomes(goal_mask)
    num_outcomes = outcome.shape[1]
    if outcome_matrix is None:
        matrix = rock_paper_scissors(num_outcomes - 1, strength, goal_bonus)
    else:
        _check_outcome_matrix(outcome_matrix, num_outcomes)
        matrix = jnp.asarray(outcome_matrix, outcome.dtype)
    check_nonnegative("return_weight", return_weight)
    spread = float(np.max(np.abs(np.asarray(matrix) - 0.5)))
    reach = float(return_range(env, env_params))
    if spread + return_weight * reach > 0.5 + 1e-9:
        raise ValueError(
            f"return_weight {return_weight} is too large: the probability "
            f"max|C - 1/2| + lambda (max R - min R) = {spread:.3g} + {return_weight} * "
            f"{reach:.3g} must stay within 1/2"
        )
    return OutcomeParams(matrix, outcome, jnp.asarray(return_weight, outcome.dtype))


def outcome_kind(env) -> KindModel:
    """The "outcome" oracle kind on a finite environment with goals (module doc)."""
    if not getattr(env, "is_finite", False):
        raise ValueError(f"the outcome teacher needs a finite environment; {env.name!r} is not")

    params = functools.partial(outcome_params, env)  # (env_params, *, the knobs)
    return KindModel(outcome_model(env), params, "outcome")


register_oracle_kind(
    "outcome",
    OracleKind(
        outcome_kind,
        "oracle",
        "a cyclic teacher of trajectories: C[o(tau1), o(tau0)] over the goal reached "
        "(rock-paper-scissors among goals), plus an optional linear return term",
    ),
)

__all__ = [
    "OutcomeParams",
    "goal_outcomes",
    "outcome_kind",
    "outcome_model",
    "outcome_params",
    "outcome_probability",
    "rock_paper_scissors",
]
