"""Fixtures for the tests of zoprl.games: float64 mode and small random games."""

import jax
import numpy as np
import pytest
from game_testing import random_policy_np, random_preference_np


@pytest.fixture
def x64():
    """Run the test body with jax_enable_x64 (``jax.enable_x64(True)`` is a context manager on
    jax 0.10.2; ``jax.experimental.enable_x64`` no longer exists)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def small_games():
    """X = 3 contexts, K = 4 (float64 NumPy): P, pi0 (random), two policies [2, X, K], d0."""
    rng = np.random.default_rng(7)
    P = random_preference_np(rng, 3, 4)
    pi0 = random_policy_np(rng, 3, 4, 2.0)
    policies = random_policy_np(rng, 6, 4, 0.7).reshape(2, 3, 4)
    d0 = np.array([0.2, 0.5, 0.3])
    return P, pi0, policies, d0
