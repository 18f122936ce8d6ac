"""Confidence sets around a fitted preference and what they imply (arXiv 2402.07314).

A fitted preference P-hat [K, K] (P-hat + P-hat^T = 1) from n(a, b) votes on each unordered pair
comes with a box of plausible preferences (our choice of confidence set): for every pair,

    P(a, b) in [max(P-hat(a, b) - c(a, b), 0), min(P-hat(a, b) + c(a, b), 1)],
    c(a, b) = beta / sqrt(n(a, b) + 1),

with P(b, a) = 1 - P(a, b) (the box for (b, a) is the mirror image of the box for (a, b)).

Worst case in the box. For two policies, pi1^T P pi2 = 1/2 + sum_{a<b} (P(a, b) - 1/2) w(a, b),
w(a, b) = pi1(a) pi2(b) - pi1(b) pi2(a), is linear in the free entries, so its minimum over the
box takes P(a, b) at the lower end where w(a, b) > 0 and at the upper end where w(a, b) < 0
(P-hat where w = 0). ``worst_case_preference`` returns that P; since w(b, a) = -w(a, b), the rule
applied to every entry is already skew-consistent.

Pessimistic value. The payoff of pi1 against its worst opponent in the worst plausible game,

    g(pi1) = min_{pi2} min_{P in box} J_P(pi1, pi2),

is concave in pi1 (a minimum of functions linear in pi1, minus tau KL(pi1 || pi0)). For fixed
P the inner minimum over pi2 is the Gibbs response pi2 = pi0 exp(-eta P^T pi1) / Z; for fixed
pi1 the function of P that remains, -tau log sum_b pi0(b) exp(-eta (P^T pi1)(b)), is concave,
so its minimum over the box sits at a vertex. ``pessimistic_response`` finds a vertex by
alternating the two closed forms (pi2 <- Gibbs response to pi1 under P, P <- worst box end for
(pi1, pi2)): a Frank-Wolfe step on a concave function, so each alternation can only lower the
value, and it stops at a vertex where the rule is self-consistent (a local minimum; with
K(K - 1)/2 pairs there are 2^(K(K-1)/2) vertices, which only small K can enumerate).

Uncertainty of a pair of policies (the online enhancer's criterion; our tabular form):

    Gamma^2(pi1, pi2) = sum_x d0(x)^2 sum_{a<b} w_x(a, b)^2 / (lambda + n_x(a, b) / m).

Everything is written for one context and batched by the caller's vmap, except where stated.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from zoprl.games.exact import context_payoff


def confidence_width(counts, beta):
    """c(a, b) = beta / sqrt(n(a, b) + 1) for counts n [..., K, K]."""
    return beta / jnp.sqrt(counts + 1.0)


def pair_weights(pi1, pi2):
    """w(a, b) = pi1(a) pi2(b) - pi1(b) pi2(a) [K, K] (skew-symmetric): d(pi1^T P pi2) / dP(a, b)
    along the skew-symmetric directions (P(a, b) up, P(b, a) down)."""
    chex.assert_rank([pi1, pi2], 1)
    outer = jnp.outer(pi1, pi2)
    # exactly skew (zero diagonal) even where the compiler fuses the subtraction into an FMA,
    # which leaves the rounding error of a product on the diagonal
    upper = jnp.triu(outer - outer.T, k=1)
    return upper - upper.T


def worst_case_preference(pi1, pi2, P_hat, width):
    """argmin over the box around P_hat [K, K] of half-width ``width`` [K, K] of pi1^T P pi2
    (module doc): the lower end where w > 0, the upper end where w < 0, P_hat where w = 0."""
    chex.assert_rank([P_hat, width], 2)
    w = pair_weights(pi1, pi2)
    lower = jnp.clip(P_hat - width, 0.0, 1.0)
    upper = jnp.clip(P_hat + width, 0.0, 1.0)
    return jnp.where(w > 0, lower, jnp.where(w < 0, upper, P_hat))


def gibbs_response(pi1, P, pi0, eta):
    """The minimiser over pi2 of J_P(pi1, pi2): pi2 = pi0 exp(-eta P^T pi1) / Z, [K]."""
    chex.assert_rank([pi1, P, pi0], [1, 2, 1])
    return jax.nn.softmax(jnp.log(pi0) - eta * (P.T @ pi1))


def response_value(pi1, P, pi0, eta):
    """min over pi2 of pi1^T P pi2 + tau KL(pi2 || pi0) = -tau log sum_b pi0(b) exp(-eta (P^T
    pi1)(b)), concave in P (the part of J_P(pi1, pi2) that the inner minimisation sees)."""
    return -logsumexp(jnp.log(pi0) - eta * (P.T @ pi1)) / eta


def flip_search(pi1, P, P_hat, width, pi0, eta, num_sweeps: int):
    """Local search over the box's vertices: for every pair a < b in turn (``num_sweeps``
    static passes), move P(a, b) to the other end of its interval (and P(b, a) with it) when
    that lowers ``response_value``. P should be a vertex (e.g. from the sign rule)."""
    num_actions = P.shape[-1]
    lower = jnp.clip(P_hat - width, 0.0, 1.0)
    upper = jnp.clip(P_hat + width, 0.0, 1.0)
    rows, cols = np.triu_indices(num_actions, k=1)
    pairs = jnp.asarray(np.tile(np.stack([rows, cols], axis=1), (num_sweeps, 1)))

    def try_flip(carry, pair):
        P, value = carry
        a, b = pair[0], pair[1]
        other = lower[a, b] + upper[a, b] - P[a, b]
        flipped = P.at[a, b].set(other).at[b, a].set(1.0 - other)
        new_value = response_value(pi1, flipped, pi0, eta)
        better = new_value < value
        return (jnp.where(better, flipped, P), jnp.where(better, new_value, value)), None

    start = (P, response_value(pi1, P, pi0, eta))
    (P, _), _ = jax.lax.scan(try_flip, start, pairs)
    return P


def _local_response(pi1, P_hat, width, pi0, eta, P_start, num_alternations, num_sweeps):
    """Sign-rule alternations from P_start, then flip sweeps: a locally minimal vertex P."""

    def alternate(P, _):
        pi2 = gibbs_response(pi1, P, pi0, eta)
        return worst_case_preference(pi1, pi2, P_hat, width), None

    P, _ = jax.lax.scan(alternate, P_start, None, length=num_alternations)
    if num_sweeps:
        P = flip_search(pi1, P, P_hat, width, pi0, eta, num_sweeps)
    return P


def favouring_preferences(P_hat, width):
    """K vertices of the box [K, K, K]: in the b-th, action b wins every comparison by as much
    as the box allows (row b at its upper ends, column b at its lower ends); other pairs keep
    P_hat. The adversary's natural candidates: make pi1 look as bad as plausible against b."""
    num_actions = P_hat.shape[-1]
    upper = jnp.clip(P_hat + width, 0.0, 1.0)
    eye = jnp.eye(num_actions, dtype=bool)

    def favour(b):
        row = (jnp.arange(num_actions) == b)[:, None] & ~eye
        return jnp.where(row, upper, jnp.where(row.T, 1.0 - upper.T, P_hat))

    return jax.vmap(favour)(jnp.arange(num_actions))


def pessimistic_response(
    pi1, P_hat, width, pi0, eta, P_start, num_alternations: int = 2, num_sweeps: int = 1
):
    """(pi2, P): an approximate minimiser of J_P(pi1, pi2) over pi2 and the box (module doc).

    Multi-start local search: from P_start and from each of the K ``favouring_preferences``,
    ``num_alternations`` (static) sign-rule alternations then ``num_sweeps`` passes of
    ``flip_search``; the start reaching the lowest value wins, and pi2 is the Gibbs response to
    pi1 under its P. Each stage can only lower the value; the search is exact when the box has
    width 0 and checked against enumeration of all vertices for K = 3 in the tests."""
    starts = jnp.concatenate([P_start[None], favouring_preferences(P_hat, width)])
    local = jax.vmap(
        lambda start: _local_response(
            pi1, P_hat, width, pi0, eta, start, num_alternations, num_sweeps
        )
    )(starts)
    values = jax.vmap(lambda P: response_value(pi1, P, pi0, eta))(local)
    chosen = jnp.arange(values.shape[0]) == jnp.argmin(values)  # one-hot: no gather
    P = jnp.tensordot(chosen.astype(local.dtype), local, axes=1)
    return gibbs_response(pi1, P, pi0, eta), P


def pessimistic_ascent(
    log_pi1, P, P_hat, width, pi0, eta, damping, first_step, num_steps: int, num_sweeps: int = 1
):
    """``num_steps`` (static) steps of mirror ascent on the pessimistic value g (module doc),
    step t = first_step, first_step + 1, ... (a traced int):

        (pi2, P) = pessimistic_response(pi1, ..., P_start = P),
        log pi1 <- normalise((1 - b_t) log pi1 + b_t (log pi0 + eta P pi2)),
        b_t = 1 / (t + 1 / damping).

    P pi2 - tau (log(pi1 / pi0) + 1) is a supergradient of g at pi1 (Danskin's theorem), and the
    step is magnetic mirror ascent (Sokota et al. 2022, arXiv 2206.05825) with alpha_t tau /
    (1 + alpha_t tau) = b_t: alpha_t ~ 1 / (tau t) for large t, the step of subgradient ascent on
    a tau-strongly concave function, so g(pi1_t) approaches max g at rate O(log t / t) when the
    inner minimisation is exact. With width 0 it is exact (P = P_hat, pi2 = BR(pi1)), g(pi1) =
    1/2 - Gap(pi1) and the maximiser is the equilibrium of P_hat, a fixed point of every step.
    log_pi1, pi0: [K]; P, P_hat, width: [K, K]. Returns (log_pi1, P, value), value = J_P(pi1,
    pi2) at the last inner response (the pessimistic value, up to the inner search)."""
    log_pi0 = jnp.log(pi0)

    def ascend(carry, t):
        log_pi1, P = carry
        pi2, P = pessimistic_response(
            jnp.exp(log_pi1), P_hat, width, pi0, eta, P, num_sweeps=num_sweeps
        )
        b = 1.0 / (t + 1.0 / damping)
        target = log_pi0 + eta * (P @ pi2)
        return (jax.nn.log_softmax((1.0 - b) * log_pi1 + b * target), P), None

    steps = first_step + jnp.arange(num_steps, dtype=log_pi1.dtype)
    (log_pi1, P), _ = jax.lax.scan(ascend, (log_pi1, P), steps)
    pi1 = jnp.exp(log_pi1)
    pi2, P = pessimistic_response(pi1, P_hat, width, pi0, eta, P, num_sweeps=num_sweeps)
    return log_pi1, P, context_payoff(pi1, pi2, P, pi0, eta)


def pessimistic_payoff(pi1, pi2, P_hat, width, pi0, eta):
    """min over the box of J_P(pi1, pi2) for one context (the worst-case P is closed form)."""
    P = worst_case_preference(pi1, pi2, P_hat, width)
    return context_payoff(pi1, pi2, P, pi0, eta)


def context_uncertainty_sq(pi1, pi2, counts, lam, pairs_per_round):
    """sum_{a<b} w(a, b)^2 / (lambda + n(a, b) / m) for one context (module doc)."""
    w = pair_weights(pi1, pi2)
    terms = w**2 / (lam + counts / pairs_per_round)
    return 0.5 * jnp.sum(terms)  # each unordered pair appears twice, with w^2 equal


def uncertainty(pi1, pi2, counts, d0, lam, pairs_per_round):
    """Gamma(pi1, pi2) = sqrt(sum_x d0(x)^2 Gamma_x^2): pi1, pi2 [X, K], counts [X, K, K],
    d0 [X] (module doc)."""
    per_context = jax.vmap(context_uncertainty_sq, (0, 0, 0, None, None))(
        pi1, pi2, counts, lam, pairs_per_round
    )
    return jnp.sqrt(jnp.sum(d0**2 * per_context))


__all__ = [
    "confidence_width",
    "favouring_preferences",
    "flip_search",
    "pessimistic_ascent",
    "context_uncertainty_sq",
    "gibbs_response",
    "pair_weights",
    "pessimistic_payoff",
    "pessimistic_response",
    "response_value",
    "uncertainty",
    "worst_case_preference",
]
