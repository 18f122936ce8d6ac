"""The preference game on a finite MDP, exactly: payoffs, best responses, the gap and the
equilibrium for the trajectory-outcome teacher (ours, beyond arXiv 2402.07314).

A player is a time-dependent policy pi [H, S, A] of a finite-horizon MDP (transitions P, start
rho, horizon H); its trajectory law is p_pi. With the teacher of ``outcome_teacher``,
P(tau1 > tau2) = C[o(tau1), o(tau2)] + lambda (R(tau1) - R(tau2)), and KL between trajectory
laws, which is the per-state KL summed over the visited states,

    KL(p_pi || p_pi0) = sum_h E_{s_h ~ pi} KL(pi_h(.|s_h) || pi0_h(.|s_h)),

the game is J(pi1, pi2) = E_{tau1 ~ pi1, tau2 ~ pi2}[P(tau1 > tau2)] - tau KL(p_pi1 || p_pi0)
+ tau KL(p_pi2 || p_pi0), tau = 1 / eta, as on bandits (Munos et al. 2023, arXiv 2312.00886;
Ye et al. 2024, arXiv 2402.07314). With q_pi the law of the outcome (o is read from s_H),

    J(pi1, pi2) = q1^T C q2 + lambda (E R1 - E R2) - tau KL1 + tau KL2,  J(pi, pi) = 1/2.

Best response. Against a fixed opponent pi the responder maximises
E[(C q_pi)(o(tau1))] + lambda E[R1] - tau KL(p_pi1 || p_pi0): a KL-regularised MDP
(``zoprl.soft_value``) with per-step reward lambda r(s, a) and the reward (C q_pi)(o(s)) added
at step H (the outcome is read from s_H), KL coefficient tau and reference pi0; soft value
iteration solves it exactly (``best_response``).

Gap. Gap(pi) = 1/2 - min_pi2 J(pi, pi2) = max_pi1 J(pi1, pi) - 1/2 (the game is symmetric:
J(pi1, pi2) = 1 - J(pi2, pi1)), and by the regularised performance-difference identity

    Gap(pi) = tau sum_h E_{s_h ~ pi} KL(pi_h(.|s_h) || BR_h(.|s_h)) >= 0,

a sum of non-negative terms (accurate near 0), zero only at the equilibrium (``gap``).

Equilibrium. In the "value" coordinates v in R^O of best responses (``zoprl.games.solvers``
for bandits), BR(v) is the soft-optimal policy for the outcome reward v(o) at step H (plus the
return term) and F(v) its outcome law; the equilibrium is BR(v*) with v* = C F(v*). F is the
gradient of the convex soft-optimal value V*(v) (the envelope theorem), so its Jacobian H is
symmetric positive semi-definite with H 1 = 0, and the Jacobian of G(v) = v - C F(v) is
I - (C - 1/2) H, whose eigenvalues 1 - i w (w real) never vanish: damped Newton on G with Armijo
backtracking on ||G||^2 (as for bandits) converges to the unique equilibrium (``equilibrium``;
H by forward-mode differentiation through soft value iteration, O columns).
For deterministic transitions the trajectory laws p_pi0 exp(eta g(tau)) / Z are policies'
laws, so the game reduces to the bandit game on outcomes: q* is the equilibrium of (C, q_lam,
eta), q_lam the outcome law of the soft-optimal policy for the return term alone (the tests
check this); with stochastic transitions a policy cannot tilt the dynamics and it does not.

Every function is written for one game; batch with ``jax.vmap``. Policies are given as
log-probabilities or logits [H, S, A] (normalised here with log_softmax). Results follow the
inputs' float dtype (float64 under ``jax_enable_x64``).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from zoprl.games.solvers import NEWTON_NUM_BACKTRACKS, damped_newton
from zoprl.soft_value import (
    KLRegularisedMDP,
    SoftValues,
    kl_per_state,
    occupancy_measures,
    soft_value_iteration,
)


class OutcomeGame(NamedTuple):
    """The data of the game (a pytree): transition [S, A, S], start [S], reward r(s, a) [S, A]
    (expected per-step reward), outcome [S, O] (one-hot outcome of the last observed state),
    outcome_matrix C [O, O], return_weight lambda, log_reference log pi0 [H, S, A], eta."""

    transition: jax.Array
    start: jax.Array
    reward: jax.Array
    outcome: jax.Array
    outcome_matrix: jax.Array
    return_weight: jax.Array
    log_reference: jax.Array
    eta: jax.Array

    @property
    def horizon(self) -> int:
        return self.log_reference.shape[0]


def outcome_game(model, params, log_reference, eta) -> OutcomeGame:
    """The game of a finite environment's ``TabularModel`` and the teacher's ``OutcomeParams``
    (``outcome_teacher``), with reference log pi0 [H, S, A] and eta, in one float dtype."""
    dtype = jnp.result_type(log_reference.dtype, params.outcome_matrix.dtype)
    cast = lambda x: jnp.asarray(x, dtype)
    chex.assert_rank(log_reference, 3)
    return OutcomeGame(
        cast(model.transition),
        cast(model.start),
        cast(model.expected_reward()),
        cast(params.outcome),
        cast(params.outcome_matrix),
        cast(params.return_weight),
        cast(log_reference),
        cast(eta),
    )


def _log_policy(game: OutcomeGame, policy) -> jax.Array:
    chex.assert_shape(policy, game.log_reference.shape)
    return jax.nn.log_softmax(policy.astype(game.log_reference.dtype), axis=-1)


def occupancy(game: OutcomeGame, policy) -> jax.Array:
    """d_h(s, a) [H, S, A] of the policy (log-probabilities or logits)."""
    return occupancy_measures(game.transition, game.start, jnp.exp(_log_policy(game, policy)))


def outcome_distribution(game: OutcomeGame, policy) -> jax.Array:
    """q_pi [O]: the law of the outcome, read from the state s_H of the last step."""
    return jnp.sum(occupancy(game, policy)[-1], axis=-1) @ game.outcome


def _visited_kl(occupancy, log_policy, log_other) -> jax.Array:
    """sum_h E_{s_h ~ d} KL(pi_h(.|s_h) || other_h(.|s_h)) for the occupancy d [H, S, A] of pi."""
    kl = kl_per_state(jnp.exp(log_policy), log_policy, log_other)  # [H, S]
    return jnp.sum(jnp.sum(occupancy, axis=-1) * kl)


def trajectory_kl(game: OutcomeGame, policy) -> jax.Array:
    """KL(p_pi || p_pi0) = sum_h E_{s_h ~ pi} KL(pi_h(.|s_h) || pi0_h(.|s_h))."""
    log_pi = _log_policy(game, policy)
    return _visited_kl(occupancy(game, policy), log_pi, game.log_reference)


def expected_return(game: OutcomeGame, policy) -> jax.Array:
    """E_pi[R(tau)] = sum_{h,s,a} d_h(s, a) r(s, a)."""
    return jnp.sum(occupancy(game, policy) * game.reward)


def win_rate(game: OutcomeGame, policy_1, policy_2) -> jax.Array:
    """E[P(tau1 > tau2)] = q1^T C q2 + lambda (E R1 - E R2), tau_i ~ policy_i."""
    q1, q2 = outcome_distribution(game, policy_1), outcome_distribution(game, policy_2)
    returns = expected_return(game, policy_1) - expected_return(game, policy_2)
    return q1 @ game.outcome_matrix @ q2 + game.return_weight * returns


def payoff(game: OutcomeGame, policy_1, policy_2) -> jax.Array:
    """J(pi1, pi2) of the module doc."""
    kl = trajectory_kl(game, policy_2) - trajectory_kl(game, policy_1)
    return win_rate(game, policy_1, policy_2) + kl / game.eta


def response_mdp(game: OutcomeGame, values) -> KLRegularisedMDP:
    """The KL-regularised MDP of a responder paid values[o(s_H)] [O] at step H and lambda r(s, a)
    at every step, with coefficient tau and reference pi0 (against an opponent with outcome law
    q, values = C q)."""
    horizon = game.horizon
    terminal = game.outcome @ values  # [S]
    last = (jnp.arange(horizon) == horizon - 1).astype(terminal.dtype)
    reward = game.return_weight * game.reward + last[:, None, None] * terminal[None, :, None]
    return KLRegularisedMDP(
        game.transition, game.start, reward, jnp.exp(game.log_reference), 1.0 / game.eta
    )


def best_response(game: OutcomeGame, policy) -> SoftValues:
    """The exact best response to ``policy`` (soft value iteration on ``response_mdp``)."""
    values = game.outcome_matrix @ outcome_distribution(game, policy)
    return soft_value_iteration(response_mdp(game, values), game.horizon)


def gap(game: OutcomeGame, policy) -> jax.Array:
    """Gap(pi) = tau sum_h E_{s_h ~ pi} KL(pi_h || BR_h)(s_h) >= 0 (module doc)."""
    log_pi = _log_policy(game, policy)
    log_br = best_response(game, policy).log_policy
    return _visited_kl(occupancy(game, policy), log_pi, log_br) / game.eta


class Equilibrium(NamedTuple):
    """log pi* [H, S, A]; its outcome law q* [O]; the Newton iterations made; Gap(pi*)."""

    log_policy: jax.Array
    outcomes: jax.Array
    num_iterations: jax.Array
    gap: jax.Array


def _respond(game: OutcomeGame, values) -> jax.Array:
    """log BR(v) [H, S, A] for outcome values v [O]."""
    return soft_value_iteration(response_mdp(game, values), game.horizon).log_policy


def equilibrium(
    game: OutcomeGame, max_iterations: int = 100, num_backtracks: int = NEWTON_NUM_BACKTRACKS
) -> Equilibrium:
    """The equilibrium by damped Newton on G(v) = v - C F(v) from v = 0 (module doc), until no
    step size decreases ||G||^2 (round-off) or after ``max_iterations``."""
    C = game.outcome_matrix
    outcomes = lambda v: outcome_distribution(game, _respond(game, v))

    def residual_sq(v):
        g = v - C @ outcomes(v)
        return g @ g

    def newton_direction(v):
        q, tangent = jax.linearize(outcomes, v)
        jacobian = (
            jnp.eye(v.shape[0], dtype=v.dtype)
            - C @ jax.vmap(tangent)(jnp.eye(v.shape[0], dtype=v.dtype)).T
        )
        return -jnp.linalg.solve(jacobian, v - C @ q)

    v0 = jnp.zeros(C.shape[0], C.dtype)
    k, v, _ = damped_newton(residual_sq, newton_direction, v0, max_iterations, num_backtracks)
    log_pi = _respond(game, v)
    return Equilibrium(log_pi, outcome_distribution(game, log_pi), k, gap(game, log_pi))


__all__ = [
    "Equilibrium",
    "OutcomeGame",
    "best_response",
    "equilibrium",
    "expected_return",
    "gap",
    "occupancy",
    "outcome_distribution",
    "outcome_game",
    "payoff",
    "response_mdp",
    "trajectory_kl",
    "win_rate",
]
