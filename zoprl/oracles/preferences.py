"""General preferences for contextual bandits: tensors P[x, a, b] = P(a preferred to b | x).

A preference tensor (shape [X, A, A]) has entries in [0, 1] and P[x, a, b] + P[x, b, a] = 1, hence
P[x, a, a] = 1/2. It need not come from any reward (Munos et al. 2023, "Nash learning from human
feedback", arXiv 2312.00886). Generators:

* ``reward_induced_preference``: P[a, b] = g(r_a - r_b), transitive; g = sigma for a symmetric
  link, and the order-averaged g(x) = (sigma(x) + 1 - sigma(-x)) / 2 for an asymmetric one
  (``links.symmetrise``: the presentation order is a fair coin).
* ``cyclic_preference``: the rock-paper-scissors family, P[a, b] = 1/2 + strength * s(a, b) with
  s the balanced cyclic tournament on A >= 3 actions (a beats a+1, ..., a+k mod A, k = (A-1)//2).
* ``low_rank_preference``: P[a, b] = g(v_a^T J v_b), J block-diagonal with 2x2 blocks
  [[0, 1], [-1, 0]], a skew-symmetric (generalised) bilinear form of rank ``rank`` (Zhang et al.
  2024, "General preference modeling with preference representations", GPM).

``bradley_terry_consistency`` fits the best reward by least squares on the link scale,
min_r sum_{a,b} (g^{-1}(P[a, b]) - (r_a - r_b))^2, solved in closed form by the row means of the
skew-symmetric part (the gradient component of the HodgeRank decomposition, Jiang, Lim, Yao and Ye
2011); the remainder is the cyclic (curl + harmonic) part that no reward explains.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.oracles.links import get_link, symmetrise
from zoprl.validation import check_in_range, check_int, check_probability, is_concrete

DEFAULT_TOLERANCE = 1e-4


def validate_preference(P, atol: float = 1e-5) -> None:
    """Raise ValueError unless P is [X, A, A], in [0, 1], with |P + P^T - 1| <= atol everywhere."""
    if not is_concrete(P):
        return
    arr = np.asarray(P, np.float64)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"a preference tensor must have shape [X, A, A], got {arr.shape}")
    check_probability("P", arr)
    excess = arr + np.swapaxes(arr, 1, 2) - 1.0
    bad = np.abs(excess) > atol
    if np.any(bad):
        x, a, b = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"P[x, a, b] + P[x, b, a] must equal 1; at (x, a, b) = ({x}, {a}, {b}) "
            f"it is {arr[x, a, b] + arr[x, b, a]:.6g}"
        )


def _complete(upper):
    """Keep the strict upper triangle of [..., A, A], set P[b, a] = 1 - P[a, b] and diag 1/2."""
    num_actions = upper.shape[-1]
    above = jnp.triu(jnp.ones((num_actions, num_actions), bool), k=1)
    lower = 1.0 - jnp.swapaxes(upper, -1, -2)
    return jnp.where(above, upper, jnp.where(above.T, lower, 0.5))


def reward_induced_preference(rewards, link="logistic", shape=1.0):
    """P[x, a, b] = g(r[x, a] - r[x, b]) for rewards [X, A]; g = the link, symmetrised if needed."""
    rewards = jnp.asarray(rewards, jnp.float32)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must have shape [X, A], got {rewards.shape}")
    check_in_range("shape", shape, 0.0, math.inf, low_open=True, high_open=True)
    g = symmetrise(get_link(link))
    return _complete(g.prob(rewards[:, :, None] - rewards[:, None, :], shape))


def cyclic_tournament(num_actions: int):
    """s[a, b] in {-1, 0, 1}, skew-symmetric: +1 when (b - a) mod A in {1, ..., (A - 1) // 2}."""
    num_actions = check_int("num_actions", num_actions, 3)
    k = (num_actions - 1) // 2
    index = np.arange(num_actions)
    diff = (index[None, :] - index[:, None]) % num_actions
    return jnp.asarray(
        np.where((diff >= 1) & (diff <= k), 1.0, np.where(diff >= num_actions - k, -1.0, 0.0)),
        jnp.float32,
    )


def cyclic_preference(num_contexts: int, num_actions: int, strength):
    """P[x, a, b] = 1/2 + strength * s(a, b), strength in [0, 1/2] (scalar or [X]); A >= 3.

    Every action wins and loses against equally many others, so the best-fit reward is constant
    and the Bradley-Terry misfit is exactly ``strength``: intransitive for any strength > 0.
    """
    num_contexts = check_int("num_contexts", num_contexts, 1)
    check_in_range("strength", strength, 0.0, 0.5)
    s = cyclic_tournament(num_actions)
    strength = jnp.broadcast_to(jnp.asarray(strength, jnp.float32), (num_contexts,))
    return 0.5 + strength[:, None, None] * s


def low_rank_preference(
    key, num_contexts: int, num_actions: int, rank: int = 2, scale=1.0, link="logistic", shape=1.0
):
    """P[x, a, b] = g(scale * v_a^T J v_b / sqrt(rank)), v ~ N(0, I_rank) per (x, a); rank even.

    Each off-diagonal logit has variance scale^2; the logit matrix of a context has rank ``rank``
    (2 <= rank <= A). For rank 2 and A = 3 it is generically not Bradley-Terry consistent.
    """
    num_contexts = check_int("num_contexts", num_contexts, 1)
    num_actions = check_int("num_actions", num_actions, 2)
    rank = check_int("rank", rank, 2)
    if rank % 2 or rank > num_actions:
        raise ValueError(f"rank must be even and <= num_actions = {num_actions}, got {rank}")
    check_in_range("scale", scale, 0.0, math.inf, high_open=True)
    blocks = np.kron(np.eye(rank // 2), np.array([[0.0, 1.0], [-1.0, 0.0]]))
    v = jax.random.normal(key, (num_contexts, num_actions, rank))
    logits = jnp.einsum("xai,ij,xbj->xab", v, jnp.asarray(blocks, jnp.float32), v)
    g = symmetrise(get_link(link))
    return _complete(g.prob(scale * logits / math.sqrt(rank), shape))


class BradleyTerryFit(NamedTuple):
    """is_consistent: error <= tol; error: max |g(r_a - r_b) - P[a, b]|; reward: [X, A], mean 0."""

    is_consistent: jax.Array
    error: jax.Array
    reward: jax.Array


def bradley_terry_consistency(
    P, link="logistic", shape=1.0, tol: float = DEFAULT_TOLERANCE
) -> BradleyTerryFit:
    """Whether some reward r[x, a] explains P through the link: P[x, a, b] = g(r_a - r_b).

    The fit is least squares on the link scale (module docstring), exact for any reward-induced
    tensor whose entries are not saturated (g^{-1} clips p into [EPS, 1 - EPS]; for the linear link
    entries 0 and 1 map to -c and c, so saturated linear tensors can be reported inconsistent).
    The error is measured in probability units, max over contexts and pairs. The default
    tol = 1e-4 sits well above float32 round-off (about 1e-6 after the refit) and below any
    intransitivity worth modelling; a cyclic tensor of strength s has error exactly s.
    """
    validate_preference(P)
    P = jnp.asarray(P, jnp.float32)
    g = symmetrise(get_link(link))
    logits = g.inverse(P, shape)
    skew = 0.5 * (logits - jnp.swapaxes(logits, -1, -2))
    reward = jnp.mean(skew, axis=-1)
    fitted = g.prob(reward[..., :, None] - reward[..., None, :], shape)
    error = jnp.max(jnp.abs(fitted - P))
    return BradleyTerryFit(error <= tol, error, reward)
