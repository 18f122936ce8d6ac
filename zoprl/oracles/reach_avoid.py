"""A non-Markovian teacher: "reach the goal without passing through a trap".

The utility of a trajectory tau = (s_1, a_1, ..., s_H, a_H) is the indicator

    u(tau) = 1[s_H is a goal] * prod_{h=1..H} 1[s_h is not a trap]        (in {0, 1})

(goals absorbing, so "at a goal at the last observed step" is "reached a goal in time"; the
trap cells and goal cells are masks over the states of a finite environment). The teacher
answers with a link on the utility gap, P(tau_b preferred) = sigma(beta (u(tau_b) - u(tau_a)))
(Bradley-Terry for the logistic link; beta = inf: the indicator decides), and the teacher
transforms of ``teachers`` (mistakes, skips, ties on |u_b - u_a|, M votes) apply as to every
preference model.

Why no per-step reward represents it. Take two prefixes A (through a trap) and B (safe) that
reach the same state c at the same step, and two continuations from c, C (reaches the goal) and
D (does not). Any additive return R(tau) = sum_h r_h(s_h, a_h) (even time-dependent, even on
(s_h, a_h, s_{h+1})) splits at c into prefix + continuation, so

    R(BC) - R(BD) = R(AC) - R(AD):

the value of reaching the goal is the same after either prefix. The teacher's is not:
u(BC) - u(BD) = 1 but u(AC) - u(AD) = 0. Under any strictly increasing link the preferences on
the pairs (BD, BC) and (AD, AC) pin these differences, so no reward model r_phi(s, a), however
large its class, fits the teacher on both pairs. The utility is a product of per-step factors,
not a sum: log u is additive, with log 0 = -inf.

What an additive model can still get right. On trajectories that never touch a trap the
utility is the terminal indicator 1[s_H goal], which a time-dependent per-step reward
r_H(s) = 1[s goal] represents exactly (a stationary r(s, a) on an absorbing goal pays the
number of steps spent there instead, so it also rewards arriving early, which the teacher does
not). And the product's ordering is approximated by a large trap penalty, r = 1[goal] -
K 1[trap]: that penalises the expected number of trap visits where the teacher penalises the
probability of any, and it trades a trap against the goal where the teacher never does. A
Bradley-Terry fit does not pick the K that makes its greedy policy good; it finds the additive
reward that best predicts the votes under the data distribution.

``reach_avoid_kind`` builds the oracle kind (registered as ``reach_avoid``); the goal and trap
masks come from the environment's params (``goal_mask`` and ``trap_mask``, as GridWorld has).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from zoprl.oracles import teachers
from zoprl.oracles.kinds import KindModel, OracleKind, register_oracle_kind
from zoprl.oracles.links import LINK_NAMES, get_link
from zoprl.oracles.models import PreferenceModel
from zoprl.validation import check_choice, check_in_range


class ReachAvoidParams(NamedTuple):
    """The reach-avoid teacher: goal and trap masks [S] (1.0 on goal / trap states), the
    rationality beta in (0, inf] and the link's shape parameter."""

    goal_mask: jax.Array
    trap_mask: jax.Array
    beta: jax.Array
    link_shape: jax.Array


def reach_avoid_utility(obs, valid, goal_mask, trap_mask) -> jax.Array:
    """u(tau) of the module doc from the observed states ``obs`` [..., H] (state indices) and the
    validity mask [..., H]: 1.0 when the last valid state is a goal and no valid state is a trap.
    Reads nothing but the states; shape = batch shape."""
    valid = jnp.asarray(valid, jnp.float32)
    safe = jnp.prod(1.0 - valid * trap_mask[obs], axis=-1)
    last = jnp.maximum(jnp.sum(valid, axis=-1).astype(jnp.int32) - 1, 0)
    final = jnp.take_along_axis(obs, last[..., None], axis=-1)[..., 0]
    return goal_mask[final] * safe


def require_goal_and_trap_cells(env, what: str) -> None:
    """ValueError unless ``env`` is finite and its params carry ``goal_mask`` and ``trap_mask``
    (GridWorld's goals and traps): what the teacher, its evaluator and its ceiling read."""
    example = getattr(env, "default_params", None)
    if not getattr(env, "is_finite", False) or not all(
        hasattr(example, name) for name in ("goal_mask", "trap_mask")
    ):
        raise ValueError(
            f"{what} needs a finite environment with goal and trap cells (params with "
            f"goal_mask and trap_mask, e.g. GridWorld); {env.name!r} has none"
        )


def reach_avoid_model(link="logistic") -> PreferenceModel:
    """The reach-avoid preference model: p = sigma(beta (u_b - u_a)), tie_gap = |u_b - u_a|."""
    link = get_link(link)

    def prob(traj_a, traj_b, params: ReachAvoidParams):
        def u(traj):
            return reach_avoid_utility(traj.obs, traj.valid, params.goal_mask, params.trap_mask)

        gap = u(traj_b) - u(traj_a)
        p = teachers.rational_prob(link, gap, params.beta, params.link_shape)
        return p, jnp.abs(gap)

    def max_logit(params: ReachAvoidParams, env_params, assumed_link, link_shape):
        """beta (inf counts as 1) times the largest utility gap, 1."""
        del env_params, assumed_link, link_shape
        return jnp.where(jnp.isfinite(params.beta), params.beta, 1.0)

    return PreferenceModel("reach_avoid", prob, max_logit, link)


def reach_avoid_kind(env, *, link: str = "logistic") -> KindModel:
    """The kind ``reach_avoid``: the teacher of the module doc on a finite environment whose params
    carry ``goal_mask`` and ``trap_mask`` (GridWorld: its goals and traps); knobs beta and
    link_shape."""
    check_choice("oracle link", link, LINK_NAMES)
    require_goal_and_trap_cells(env, "the reach_avoid teacher")

    def params(env_params, *, beta: float = math.inf, link_shape: float = 1.0):
        check_in_range("beta", beta, 0.0, math.inf, low_open=True)
        check_in_range("link_shape", link_shape, 0.0, math.inf, low_open=True, high_open=True)
        return ReachAvoidParams(
            jnp.asarray(env_params.goal_mask, jnp.float32),
            jnp.asarray(env_params.trap_mask, jnp.float32),
            jnp.float32(beta),
            jnp.float32(link_shape),
        )

    return KindModel(reach_avoid_model(link), params, f"reach_avoid:{link}")


register_oracle_kind(
    "reach_avoid",
    OracleKind(
        reach_avoid_kind,
        "noisy",
        "reach a goal without passing a trap: a non-Markovian utility no per-step reward sums to",
    ),
)

__all__ = [
    "ReachAvoidParams",
    "reach_avoid_kind",
    "reach_avoid_model",
    "reach_avoid_utility",
    "require_goal_and_trap_cells",
]
