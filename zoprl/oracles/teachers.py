"""Irrational-teacher transforms (B-Pref, Lee et al. 2021, arXiv 2111.03026, section 3).

Each transform is a pure, elementwise function of one knob of ``OracleParams`` and is the identity
at that knob's neutral value, so a teacher is composed by setting several knobs at once and one
compiled program covers every combination (no branching on the knobs in Python):

  rationality  p = sigma(beta * du)                     beta = inf: p = 1[du > 0] (+ 1/2 at du = 0)
  myopia       du from gamma-weighted returns            (``utilities.myopic_utility``), gamma = 1
  mistake      p -> (1 - f) p + f (1 - p)                f = 0
  skip         answered ~ Bernoulli(1 - skip) per pair   skip = 0
  equal        tie when |r(tau_b) - r(tau_a)| < margin   margin = 0

The M votes on a pair are then one Binomial(M, p) draw (``sample_binomial``).

Rates. Every asked vote ends in exactly one of: skipped (probability ``skip``), flipped
(probability ``mistake``), answered by the rational model (the rest). Hence we require
mistake + skip <= 1 and an answered vote is flipped with the conditional rate
f = mistake / (1 - skip). When skip = 0 (all B-Pref presets) f = mistake, as in B-Pref.
Ties are decided on the undiscounted, unscaled return gap, before myopia and beta, as B-Pref's
``get_label`` does, and are not subject to mistakes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rational_prob(link, gap, beta, shape):
    """P(second preferred) = sigma(beta * gap); for beta = inf, (1 + sign(gap)) / 2, NaN-free."""
    finite = jnp.isfinite(beta)
    soft = link.prob(jnp.where(finite, beta, 1.0) * gap, shape)
    return jnp.where(finite, soft, 0.5 * (1.0 + jnp.sign(gap)))


def conditional_flip_rate(mistake, skip):
    """f = mistake / (1 - skip): the flip probability of an answered vote (0 when skip = 1),
    clipped into [0, 1] (float32 rounding can put mistake / (1 - skip) just above 1 when
    mistake + skip = 1)."""
    answered = 1.0 - skip
    rate = jnp.where(answered > 0.0, mistake / jnp.where(answered > 0.0, answered, 1.0), 0.0)
    return jnp.clip(rate, 0.0, 1.0)


def apply_mistakes(p, flip):
    """(1 - f) p + f (1 - p): each vote is flipped independently with probability f (clipped
    into [0, 1] against round-off, so that samplers never see a probability outside it)."""
    return jnp.clip(p + flip * (1.0 - 2.0 * p), 0.0, 1.0)


def skip_mask(key, skip, shape):
    """1.0 where the pair is answered, 0.0 where skipped; P(skipped) = skip, one draw per pair."""
    return (jax.random.uniform(key, shape) >= skip).astype(jnp.float32)


def tie_mask(return_gap, margin):
    """True where |r(tau_b) - r(tau_a)| < margin (never with margin = 0)."""
    return jnp.abs(return_gap) < margin


BERNOULLI_SUM_MAX = 32


def sample_binomial(key, num_queries: int, p):
    """One Binomial(M, p) draw per entry of p (M static), float32.

    Two exact samplers, chosen statically by M: for M <= ``BERNOULLI_SUM_MAX`` the sum of M
    Bernoulli(p) indicators (one uniform each, fully vectorised, no loop), otherwise
    ``jax.random.binomial`` (inversion / BTRS rejection, O(1) expected draws but two while-loops).
    Measured on 2 CPU cores with one key per pair under vmap, the sum is ~3-7x faster at M = 10
    and breaks even near M = 64-128.
    """
    if num_queries <= BERNOULLI_SUM_MAX:
        u = jax.random.uniform(key, (num_queries,) + jnp.shape(p))
        return jnp.sum(u < p, axis=0, dtype=jnp.float32)
    return jax.random.binomial(key, jnp.float32(num_queries), p, dtype=jnp.float32)


def draw_votes(key, num_queries: int, p, answered, tie):
    """Votes for the second trajectory out of M: Binomial(M, p), M / 2 on a tie, 0 when skipped."""
    votes = sample_binomial(key, num_queries, p)
    return jnp.where(tie, 0.5 * num_queries, votes) * answered
