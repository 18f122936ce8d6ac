"""Exact quantities of the KL-regularised preference game (Munos et al. 2023, arXiv 2312.00886;
Ye et al. 2024, arXiv 2402.07314).

A game has contexts x ~ d0 (X of them), K actions, a preference tensor P[x, a, b] = Pr(a is
preferred to b | x) with P + P^T = 1, a reference policy pi0(.|x) and a regularisation strength
eta > 0 (tau = 1 / eta). The payoff of player 1 against player 2 is

    J(pi1, pi2) = E_x [ pi1^T P_x pi2 - tau KL(pi1 || pi0) + tau KL(pi2 || pi0) ].

The game is symmetric and zero-sum around 1/2 (J(pi1, pi2) + J(pi2, pi1) = 1), strictly
concave-convex, so its Nash equilibrium is unique and symmetric, pi* = pi0 exp(eta P pi*) / Z,
with J(pi*, pi*) = 1/2. The best response of either player to an opponent pi' is the Gibbs policy

    BR(pi')(a|x) = pi0(a|x) exp(eta (P_x pi')(a)) / Z_x(pi')      (argmax_pi1 J(pi1, pi')),

and, because P^T pi = 1 - P pi for a distribution pi, also argmin_pi2 J(pi, pi2) = BR(pi).

Exploitability (the one-sided gap), >= 0 and 0 only at pi*:

    Gap(pi) = 1/2 - min_pi2 J(pi, pi2)
            = E_x [ tau ( KL(pi || pi0) + log sum_b pi0(b|x) exp(eta (P_x pi)(b)) ) ] - 1/2
            = E_x [ tau KL(pi || BR(pi)) ]                       (using pi^T P pi = 1/2).

``context_gap`` evaluates the last form as a sum of non-negative terms,
tau sum_a [ pi log(pi / br) - pi + br ] (pi, br = BR(pi) both normalised, so the added terms sum
to zero), with log br from a log-softmax (logsumexp) and pi (d + expm1(-d)), d = log(pi / br).
No term cancels against 1/2, so the gap keeps its relative precision down to round-off of d:
about 1e-30 in float64 and 1e-13 in float32, for eta up to 100 and beyond.
``context_gap_logsumexp`` is the literal middle form (absolute error ~ eps, kept to cross-check).

The two-sided duality gap max_pi1 J(pi1, pi) - min_pi2 J(pi, pi2) is computed separately from
its own two closed forms (one with P^T); it equals 2 Gap(pi) whenever P + P^T = 1.

Functions named ``context_*`` (and ``kl_divergence``, ``context_best_response``) are written
for one context (P [K, K], policies [K]); the others average them over contexts with weights d0
(default uniform) and accept P [X, K, K] or [K, K] and policies [X, K] or [K]. Results follow the
inputs' float dtype (float64 under ``jax_enable_x64``).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp, xlogy

from zoprl.games.checks import check_context_weights, check_game, with_contexts


def kl_divergence(pi, ref):
    """KL(pi || ref) = sum_a pi(a) log(pi(a) / ref(a)), with 0 log 0 = 0 (inf off ref's
    support). pi, ref: [K]."""
    chex.assert_rank([pi, ref], 1)
    return jnp.sum(xlogy(pi, pi) - xlogy(pi, ref))


def _as_float(eta, like):
    return jnp.asarray(eta, like.dtype)


def context_best_response(opponent, P, pi0, eta):
    """Gibbs best response BR(pi')(a) = pi0(a) exp(eta (P pi')(a)) / Z for one context.

    It maximises pi1^T P pi' - KL(pi1 || pi0) / eta over distributions pi1 (and minimises
    J(pi', pi2) over pi2 when P + P^T = 1). opponent, pi0: [K]; P: [K, K]; returns [K]."""
    chex.assert_rank([opponent, P, pi0], [1, 2, 1])
    eta = _as_float(eta, pi0)
    return jax.nn.softmax(jnp.log(pi0) + eta * (P @ opponent))


def context_win_rate(pi1, pi2, P):
    """W(pi1, pi2) = pi1^T P pi2, the probability that a ~ pi1 is preferred to b ~ pi2."""
    chex.assert_rank([pi1, pi2, P], [1, 1, 2])
    return pi1 @ P @ pi2


def context_payoff(pi1, pi2, P, pi0, eta):
    """J_x(pi1, pi2) = pi1^T P pi2 - KL(pi1 || pi0) / eta + KL(pi2 || pi0) / eta."""
    chex.assert_rank([pi1, pi2, P, pi0], [1, 1, 2, 1])
    eta = _as_float(eta, pi0)
    return context_win_rate(pi1, pi2, P) + (kl_divergence(pi2, pi0) - kl_divergence(pi1, pi0)) / eta


def context_gap(pi, P, pi0, eta):
    """Gap_x(pi) = tau KL(pi || BR(pi)) as a sum of non-negative terms (module docstring).

    Equal to tau (KL(pi || pi0) + log sum_b pi0(b) exp(eta (P pi)(b))) - 1/2 for a normalised pi
    and P + P^T = 1; +inf when pi puts mass outside the support of pi0."""
    chex.assert_rank([pi, P, pi0], [1, 2, 1])
    return gap_given_values(pi, P @ pi, pi0, eta)


def gap_given_values(pi, values, pi0, eta):
    """``context_gap`` when the values P pi [K] are already known (solvers reuse them)."""
    chex.assert_rank([pi, values, pi0], 1)
    eta = _as_float(eta, pi0)
    log_br = jax.nn.log_softmax(jnp.log(pi0) + eta * values)
    positive = pi > 0
    d = jnp.log(jnp.where(positive, pi, 1)) - jnp.where(positive, log_br, 0)
    terms = jnp.where(positive, pi * (d + jnp.expm1(-d)), jnp.exp(log_br))
    return jnp.sum(terms) / eta


def context_gap_logsumexp(pi, P, pi0, eta):
    """The literal closed form tau (KL(pi || pi0) + logsumexp(log pi0 + eta P pi)) - 1/2."""
    chex.assert_rank([pi, P, pi0], [1, 2, 1])
    eta = _as_float(eta, pi0)
    log_partition = logsumexp(jnp.log(pi0) + eta * (P @ pi))
    return (kl_divergence(pi, pi0) + log_partition) / eta - 0.5


def context_duality_gap(pi, P, pi0, eta):
    """max_pi1 J_x(pi1, pi) - min_pi2 J_x(pi, pi2), each from its own closed form:

    max_pi1 J_x(pi1, pi) = tau logsumexp(log pi0 + eta P pi) + tau KL(pi || pi0),
    min_pi2 J_x(pi, pi2) = -tau logsumexp(log pi0 - eta P^T pi) - tau KL(pi || pi0).
    """
    chex.assert_rank([pi, P, pi0], [1, 2, 1])
    eta = _as_float(eta, pi0)
    log_pi0 = jnp.log(pi0)
    kl = kl_divergence(pi, pi0)
    best_reply_value = (logsumexp(log_pi0 + eta * (P @ pi)) + kl) / eta
    worst_case_value = -(logsumexp(log_pi0 - eta * (P.T @ pi)) + kl) / eta
    return best_reply_value - worst_case_value


# --- averages over contexts -------------------------------------------------------------------


def _weights(d0, num_contexts, dtype):
    if d0 is None:
        return jnp.full((num_contexts,), 1.0 / num_contexts, dtype)
    return jnp.asarray(d0, dtype)


def _checked_weights(d0, num_contexts):
    if d0 is not None:
        check_context_weights(d0, num_contexts)


@jax.jit
def _average(values, d0):
    return d0 @ values


def gap(pi, P, pi0, eta, d0=None):
    """Gap(pi) = E_{x~d0}[Gap_x(pi)] = 1/2 - min_pi2 J(pi, pi2), a scalar >= 0.

    P: [X, K, K] or [K, K]; pi, pi0: [X, K] or [K]; d0: [X] (default uniform over contexts).
    Concrete inputs are validated (shapes, P + P^T = 1, distributions, eta > 0)."""
    check_game(P, eta, pi=pi, pi0=pi0)
    P, pi, pi0 = with_contexts(P, pi, pi0)
    _checked_weights(d0, P.shape[0])
    values = _context_gaps(pi, P, pi0, _as_float(eta, pi0))
    return _average(values, _weights(d0, P.shape[0], pi0.dtype))


def duality_gap(pi, P, pi0, eta, d0=None):
    """E_{x~d0}[max_pi1 J_x(pi1, pi) - min_pi2 J_x(pi, pi2)] (= 2 Gap(pi)); shapes as ``gap``."""
    check_game(P, eta, pi=pi, pi0=pi0)
    P, pi, pi0 = with_contexts(P, pi, pi0)
    _checked_weights(d0, P.shape[0])
    values = _context_duality_gaps(pi, P, pi0, _as_float(eta, pi0))
    return _average(values, _weights(d0, P.shape[0], pi0.dtype))


def payoff(pi1, pi2, P, pi0, eta, d0=None):
    """J(pi1, pi2) = E_{x~d0}[pi1^T P_x pi2 - tau KL(pi1 || pi0) + tau KL(pi2 || pi0)]."""
    check_game(P, eta, pi1=pi1, pi2=pi2, pi0=pi0)
    P, pi1, pi2, pi0 = with_contexts(P, pi1, pi2, pi0)
    _checked_weights(d0, P.shape[0])
    values = _context_payoffs(pi1, pi2, P, pi0, _as_float(eta, pi0))
    return _average(values, _weights(d0, P.shape[0], pi0.dtype))


def win_rate(pi1, pi2, P, d0=None):
    """W(pi1, pi2) = E_{x~d0}[pi1^T P_x pi2]; W(pi, pi) = 1/2 and W(pi1, pi2) + W(pi2, pi1) = 1."""
    check_game(P, pi1=pi1, pi2=pi2)
    P, pi1, pi2 = with_contexts(P, pi1, pi2)
    _checked_weights(d0, P.shape[0])
    return _average(_context_win_rates(pi1, pi2, P), _weights(d0, P.shape[0], pi1.dtype))


def best_response(opponent, P, pi0, eta):
    """BR(opponent)(a|x) = pi0(a|x) exp(eta (P_x opponent)(a)) / Z_x for every context; the
    result has the broadcast shape of opponent and pi0 ([K] when nothing is batched)."""
    check_game(P, eta, opponent=opponent, pi0=pi0)
    unbatched = jnp.ndim(P) == 2 and jnp.ndim(pi0) == 1 and jnp.ndim(opponent) == 1
    P, opponent, pi0 = with_contexts(P, opponent, pi0)
    policy = _context_best_responses(opponent, P, pi0, _as_float(eta, pi0))
    return policy[0] if unbatched else policy


_context_gaps = jax.jit(jax.vmap(context_gap, in_axes=(0, 0, 0, None)))
_context_duality_gaps = jax.jit(jax.vmap(context_duality_gap, in_axes=(0, 0, 0, None)))
_context_payoffs = jax.jit(jax.vmap(context_payoff, in_axes=(0, 0, 0, 0, None)))
_context_win_rates = jax.jit(jax.vmap(context_win_rate))
_context_best_responses = jax.jit(jax.vmap(context_best_response, in_axes=(0, 0, 0, None)))

__all__ = [
    "best_response",
    "context_best_response",
    "context_duality_gap",
    "context_gap",
    "context_gap_logsumexp",
    "context_payoff",
    "context_win_rate",
    "duality_gap",
    "gap",
    "gap_given_values",
    "kl_divergence",
    "payoff",
    "win_rate",
]
