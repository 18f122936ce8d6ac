"""Helpers shared by the tests of zoprl.games (imported by basename: the tests folders have no
__init__.py, so pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy


def random_preference_np(rng, num_contexts, num_actions, scale=1.5):
    """P = sigmoid(L), L skew with iid N(0, scale^2) strict upper triangle; [X, K, K] float64."""
    upper = np.triu(rng.normal(0.0, scale, (num_contexts, num_actions, num_actions)), 1)
    logits = upper - np.swapaxes(upper, 1, 2)
    return 1.0 / (1.0 + np.exp(-logits))


def random_policy_np(rng, num_contexts, num_actions, concentration=1.0):
    """Dirichlet(concentration) rows [X, K], float64."""
    return rng.dirichlet(np.full(num_actions, concentration), size=num_contexts)


def simplex_grid3(resolution: int):
    """All distributions on 3 actions with entries in {0, 1/n, ..., 1}, n = resolution: [G, 3]."""
    i, j = np.meshgrid(np.arange(resolution + 1), np.arange(resolution + 1), indexing="ij")
    keep = i + j <= resolution
    counts = np.stack([i[keep], j[keep], resolution - i[keep] - j[keep]], axis=-1)
    return counts.astype(np.float64) / resolution


def kl_np(pi, ref):
    """KL(pi || ref) along the last axis (NumPy, 0 log 0 = 0)."""
    return np.sum(xlogy(pi, pi) - xlogy(pi, ref), axis=-1)


def payoff_np(pi1, pi2, P, pi0, eta):
    """J_x(pi1, pi2) for one context, broadcasting over leading axes of pi1 and pi2."""
    return np.einsum("...a,ab,...b->...", pi1, P, pi2) + (kl_np(pi2, pi0) - kl_np(pi1, pi0)) / eta
