"""The link-inversion bias of the zeroth-order estimators, computed exactly.

ZPG inverts each pair's vote frequency through the assumed link (``clipped_inverse``):
y = sigma^{-1}(clip(K / M, sigma(-R), sigma(R))) with K ~ Binomial(M, p) votes and
p = sigma(beta u), u the pair's utility gap. Its expectation given the pair is the finite sum

    E[y | u] = sum_{k=0}^{M} C(M, k) p^k (1 - p)^(M - k) sigma^{-1}(clip(k / M, ...)),

which ``expected_inversion`` evaluates exactly (float64, no sampling).
Its difference from beta u is the inversion bias of one pair; averaged over the pairs'
distribution it is the bias of D, the estimate of J(theta + mu v) - J(theta) (arXiv
2409.17401). It vanishes as M grows when |u| < R (like 1/M for large M) and does not vanish for
|u| > R (clipping). ``expected_difference_estimate`` gives E[D] exactly for a tiny finite MDP
by enumerating the trajectories of both policies (``zoprl.enumeration``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from zoprl.enumeration import (
    enumerate_trajectories,
    expected_step_returns,
    trajectory_probabilities,
)
from zoprl.oracles.links import Link, clipped_inverse


def expected_inversion(
    link: Link,
    utility_gap,
    num_queries: int,
    clip_range,
    shape=1.0,
    teacher_link: Link | None = None,
    beta=1.0,
) -> np.ndarray:
    """E[y | u] of the module doc for every utility gap u (any shape), in float64 NumPy: the
    teacher answers with p = teacher_link(beta u) (default: the assumed link), the learner
    inverts ``link``. The Binomial pmf is scipy's (exact in float64 for M up to 10^6 and
    more); this is a reference computation, not a traced one."""
    from scipy.stats import binom

    teacher = link if teacher_link is None else teacher_link
    p = np.asarray(teacher.prob(beta * jnp.asarray(utility_gap, jnp.float32), shape), np.float64)
    frequencies = jnp.arange(num_queries + 1, dtype=jnp.float32) / num_queries
    y = np.asarray(clipped_inverse(link, frequencies, clip_range, shape), np.float64)  # [M+1]
    pmf = binom.pmf(np.arange(num_queries + 1), num_queries, p[..., None])
    return np.sum(pmf * y, axis=-1)


def expected_difference_estimate(
    model, pi_0, pi_1, link: Link, num_queries: int, clip_range, beta=1.0
) -> float:
    """E[D] exactly on a tiny finite MDP whose reward depends on (s, a) only: the mean over
    every pair (tau_0 ~ pi_0, tau_1 ~ pi_1) of E[y | beta (r(tau_1) - r(tau_0))]; ``model`` a
    TabularModel, policies [H, S, A]."""
    horizon, num_states, num_actions = pi_0.shape
    states, actions = enumerate_trajectories(num_states, num_actions, horizon)
    reward = model.expected_reward()
    returns = expected_step_returns(reward, states, actions)  # [N]
    prob_0, prob_1 = (
        trajectory_probabilities(model.transition, model.start, pi, states, actions)
        for pi in (pi_0, pi_1)
    )
    gaps = returns[None, :] - returns[:, None]  # [tau_0, tau_1]
    inverted = expected_inversion(link, gaps, num_queries, clip_range, beta=beta)
    weights = np.outer(np.asarray(prob_0, np.float64), np.asarray(prob_1, np.float64))
    return float(np.sum(weights * inverted))


__all__ = ["expected_difference_estimate", "expected_inversion"]
