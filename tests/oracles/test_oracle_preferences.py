"""General preference tensors: P + P^T = 1, diag 1/2, Bradley-Terry consistency check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.oracles import (
    LINK_NAMES,
    bradley_terry_consistency,
    cyclic_preference,
    get_link,
    low_rank_preference,
    reward_induced_preference,
    validate_preference,
)
from zoprl.oracles.preferences import cyclic_tournament

REWARDS = jnp.array([[0.0, 1.0, -0.5, 2.0], [0.3, 0.3, -1.0, 0.1]])  # [X = 2, A = 4]
SHAPE = {"linear": 8.0}  # keeps every reward gap of REWARDS unsaturated
BT_FIT = jax.jit(bradley_terry_consistency, static_argnums=1)


def assert_is_preference(P):
    P = np.asarray(P)
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P + np.swapaxes(P, -1, -2), 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.diagonal(P, axis1=-2, axis2=-1), 0.5)
    validate_preference(P)


@pytest.mark.parametrize("link", tuple(LINK_NAMES))
def test_reward_induced_is_bt_consistent(link):
    shape = SHAPE.get(link, 1.0)
    P = jax.jit(reward_induced_preference, static_argnums=1)(REWARDS, link, shape)
    assert_is_preference(P)
    sigma = get_link(link)
    if sigma.symmetric:
        np.testing.assert_allclose(P[0, 1, 2], sigma.prob(1.5, shape), rtol=1e-6)
    fit = BT_FIT(P, link, shape)
    assert bool(fit.is_consistent) and float(fit.error) < 1e-5
    centred = REWARDS - REWARDS.mean(-1, keepdims=True)
    np.testing.assert_allclose(fit.reward, centred, atol=2e-4)


@pytest.mark.parametrize("num_actions", [3, 4, 5])
def test_cyclic_family_is_rejected(num_actions):
    strengths = jnp.array([0.0, 0.01, 0.2, 0.5])
    P = jax.vmap(lambda s: cyclic_preference(2, num_actions, s))(strengths)  # [4, X, A, A]
    assert_is_preference(P.reshape(-1, num_actions, num_actions))
    fits = jax.jit(jax.vmap(bradley_terry_consistency))(P)
    # strength 0 is the uniform (consistent) tensor; every positive strength is rejected
    np.testing.assert_array_equal(fits.is_consistent, [True, False, False, False])
    np.testing.assert_allclose(fits.error, strengths, rtol=1e-5)  # misfit = strength exactly
    np.testing.assert_allclose(fits.reward, 0.0, atol=1e-6)


def test_cyclic_tournament_rock_paper_scissors():
    np.testing.assert_array_equal(cyclic_tournament(3), [[0, 1, -1], [-1, 0, 1], [1, -1, 0]])
    s = np.asarray(cyclic_tournament(6))
    np.testing.assert_array_equal(s, -s.T)
    np.testing.assert_array_equal(s.sum(1), 0)  # every action wins as often as it loses
    np.testing.assert_allclose(cyclic_preference(2, 3, jnp.array([0.1, 0.3]))[1, 0, 1], 0.8)


@pytest.mark.parametrize("rank", [2, 4])
def test_low_rank_preference(rank):
    P = jax.jit(low_rank_preference, static_argnums=(1, 2, 3))(jax.random.key(0), 3, 6, rank, 2.0)
    assert P.shape == (3, 6, 6)
    assert_is_preference(P)
    logits = np.log(np.asarray(P, np.float64)) - np.log1p(-np.asarray(P, np.float64))
    for x in range(3):
        assert np.linalg.matrix_rank(logits[x], tol=1e-3) == rank
    assert not bool(BT_FIT(P, "logistic").is_consistent)


def test_validate_preference_rejects_bad_tensors():
    good = np.array(cyclic_preference(1, 3, 0.2))
    outside = good.copy()
    outside[0, 2, 1] = 1.2
    with pytest.raises(ValueError, match="must lie in \\[0.0, 1.0\\], got 1.2 at index \\(0, 2, 1"):
        validate_preference(outside)
    broken = good.copy()
    broken[0, 0, 1] = 0.6
    with pytest.raises(ValueError, match="\\(0, 0, 1\\)"):
        validate_preference(broken)
    with pytest.raises(ValueError, match="shape"):
        validate_preference(good[0])
    assert bool(bradley_terry_consistency(good).is_consistent) is False  # eager path validates
    with pytest.raises(ValueError, match="\\(0, 0, 1\\) it is 0.9"):
        bradley_terry_consistency(broken)
    with pytest.raises(ValueError, match="strength must lie in \\[0.0, 0.5\\], got 0.7"):
        cyclic_preference(1, 3, 0.7)
    with pytest.raises(ValueError, match="num_actions must be >= 3, got 2"):
        cyclic_preference(1, 2, 0.1)
    with pytest.raises(ValueError, match="rank must be even"):
        low_rank_preference(jax.random.key(0), 1, 4, 3)
