"""Zeroth-order policy-gradient estimates from human preferences (arXiv 2409.17401, 2506.03066).

Per direction v and N trajectory pairs (tau_{n,0} ~ pi_theta, tau_{n,1} ~ pi_{theta + mu v}),
the oracle answers M queries per pair; p_n = votes_n / M. With a known link sigma:

    y_n = sigma^{-1}(clip(p_n, sigma(-R), sigma(R)))          (invert per pair, then average)
    D   = mean over answered pairs of y_n                      ~ J(theta + mu v) - J(theta)
    g   = (c / mu) D v                                         (c from the direction law)

Inverting per pair matters: in a stochastic MDP the mean of sigma over random pairs is not sigma
of the mean. E[g] is the gradient of the smoothed objective J_mu up to the link-inversion bias
(finite M and clipping), which vanishes as M grows when |u_1 - u_0| < R.
Two-sided perturbation compares theta + mu v with theta - mu v: g = (c / (2 mu)) D v.

For an unknown link (ZSPO, arXiv 2506.03066) only the sign is estimated, by a majority vote of
the pairs' preferences: s = sign(sum_n answered_n * sign(p_n - 1/2)).

Skipped pairs (``answered`` = 0) are left out of the averages; if every pair is skipped the
estimate is 0. These functions never read the latent reward: only the oracle does.
"""

from __future__ import annotations

import jax.numpy as jnp

from zoprl.oracles.links import Link, clipped_inverse
from zoprl.oracles.oracle import vote_frequency


def _answered_mean(values, answered):
    answered = answered.astype(values.dtype)
    return jnp.sum(values * answered) / jnp.maximum(jnp.sum(answered), 1.0)


def preference_value_difference(feedback, link: Link, clip_range, link_shape=1.0) -> jnp.ndarray:
    """D = mean_n sigma^{-1}(clip(p_n, sigma(-R), sigma(R))) over answered pairs."""
    y = clipped_inverse(link, vote_frequency(feedback), clip_range, link_shape)
    return _answered_mean(y, feedback.answered)


def majority_sign(feedback) -> jnp.ndarray:
    """sign(sum over answered pairs of sign(p_n - 1/2)) in {-1, 0, +1} (ZSPO)."""
    pair_votes = jnp.sign(vote_frequency(feedback) - 0.5) * feedback.answered
    return jnp.sign(jnp.sum(pair_votes))


def zeroth_order_gradient(value_gap, direction, mu, scale: float, two_sided: bool = False):
    """g = (c / mu) D v, or (c / (2 mu)) D v for a two-sided perturbation."""
    denominator = 2.0 * mu if two_sided else mu
    return (scale / denominator) * value_gap * direction
