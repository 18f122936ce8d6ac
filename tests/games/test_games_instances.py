"""Game instances: every generator gives P + P^T = 1 with diagonal 1/2; special cases agree; the
Condorcet cycle fools a Bradley-Terry fit; the skewed reference avoids the equilibrium."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.games import (
    GAME_KINDS,
    Game,
    antisymmetric_features,
    bradley_terry,
    bradley_terry_mixture,
    condorcet_cycle,
    equilibrium,
    intransitive_bradley_terry,
    linear_preference,
    random_game,
    skewed_reference,
)
from zoprl.oracles import bradley_terry_consistency


def assert_is_game(game: Game, num_contexts, num_actions):
    P, pi0, d0 = (np.asarray(a, np.float64) for a in game)
    assert P.shape == (num_contexts, num_actions, num_actions)
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P + np.swapaxes(P, -1, -2), 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.diagonal(P, axis1=-2, axis2=-1), 0.5)
    np.testing.assert_allclose(pi0.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(d0, 1.0 / num_contexts, rtol=1e-6)


@pytest.mark.parametrize("kind", GAME_KINDS)
def test_random_games_of_every_kind_vmapped_over_keys(kind):
    keys = jax.random.split(jax.random.key(0), 3)
    games = jax.jit(jax.vmap(lambda k: random_game(k, 2, 4, kind, "random", temperature=2.0)))(keys)
    assert games.P.dtype == jnp.float32
    for b in range(3):
        assert_is_game(Game(*(a[b] for a in games)), 2, 4)
    assert not np.allclose(games.P[0], games.P[1])  # fresh randomness per key
    if kind == "skew":  # vmap over keys = one key at a time (once: eager calls are slow)
        single = random_game(keys[1], 2, 4, kind, "random", temperature=2.0)
        np.testing.assert_allclose(single.P, games.P[1], atol=1e-6)
        np.testing.assert_allclose(single.pi0, games.pi0[1], atol=1e-6)


def test_reference_kinds_and_float64(x64):
    @jax.jit
    def draw(key):
        uniform = random_game(key, 2, 5, "skew", "uniform")
        return (
            uniform,
            random_game(key, 2, 5, "skew", "skewed", strength=3.0, eta=5.0),
            skewed_reference(uniform.P, 5.0, 0.0),
        )

    uniform, skewed, unskewed = draw(jax.random.key(1))
    assert uniform.P.dtype == jnp.float64
    np.testing.assert_allclose(uniform.pi0, 0.2)
    assert_is_game(skewed, 2, 5)
    np.testing.assert_array_equal(skewed.P, uniform.P)  # the same key gives the same P
    # pi0 ∝ exp(-strength pi_u / max pi_u), pi_u the equilibrium under the uniform reference
    favoured = np.asarray(equilibrium(uniform.P, uniform.pi0, 5.0))
    log_pi0 = np.log(np.asarray(skewed.pi0))
    expected = -3.0 * favoured / favoured.max(-1, keepdims=True)
    np.testing.assert_allclose(
        log_pi0 - log_pi0.mean(-1, keepdims=True),
        expected - expected.mean(-1, keepdims=True),
        atol=1e-10,
    )
    # the action the equilibrium likes best is the one pi0 covers least
    np.testing.assert_array_equal(np.argmax(favoured, -1), np.argmin(skewed.pi0, -1))
    np.testing.assert_allclose(unskewed, 0.2)  # strength 0: uniform


def test_special_cases_reduce_to_bradley_terry():
    rng = np.random.default_rng(2)
    rewards = rng.normal(size=(2, 4)).astype(np.float32)
    bt = np.asarray(bradley_terry(rewards))
    np.testing.assert_allclose(
        bt[0, 1, 2], 1 / (1 + np.exp(-(rewards[0, 1] - rewards[0, 2]))), rtol=1e-6
    )
    embeddings = rng.normal(size=(2, 4, 2))
    np.testing.assert_allclose(intransitive_bradley_terry(rewards, embeddings, 0.0), bt, atol=1e-7)
    twisted = np.asarray(intransitive_bradley_terry(rewards, embeddings, 2.0))
    u = embeddings[0]
    skew = u[1, 0] * u[2, 1] - u[1, 1] * u[2, 0]
    np.testing.assert_allclose(
        twisted[0, 1, 2], 1 / (1 + np.exp(-(rewards[0, 1] - rewards[0, 2] + 2.0 * skew))), rtol=1e-5
    )
    np.testing.assert_allclose(bradley_terry_mixture(np.ones(1), rewards[None]), bt, atol=1e-7)
    mixed = bradley_terry_mixture(np.array([0.3, 0.7]), np.stack([rewards, -rewards]))
    np.testing.assert_allclose(mixed, 0.3 * bt + 0.7 * np.swapaxes(bt, -1, -2), atol=1e-6)
    # linear features psi_a - psi_b with weights w are Bradley-Terry with r = psi w
    psi = rng.normal(size=(2, 4, 3))
    w = rng.normal(size=3)
    features = psi[:, :, None, :] - psi[:, None, :, :]
    np.testing.assert_allclose(linear_preference(features, w), bradley_terry(psi @ w), atol=1e-6)
    phi = np.asarray(antisymmetric_features(jax.random.key(3), 2, 4, 3))
    np.testing.assert_allclose(phi, -np.swapaxes(phi, 1, 2))


def test_condorcet_cycle_fools_bradley_terry():
    P = condorcet_cycle()
    assert P.shape == (1, 3, 3)
    np.testing.assert_allclose([P[0, 0, 1], P[0, 1, 2], P[0, 2, 0]], [0.9, 0.9, 0.6], rtol=1e-6)
    fit = bradley_terry_consistency(P)
    assert not bool(fit.is_consistent)
    assert int(jnp.argmax(fit.reward[0])) == 0  # the BT fit ranks A first ...
    assert float(P[0, 2, 0]) > 0.5  # ... although C beats A
    longer = condorcet_cycle(np.array([0.8, 0.7, 0.9, 0.6]), num_contexts=2)
    assert_is_game(Game(longer, jnp.full((2, 4), 0.25), jnp.full((2,), 0.5)), 2, 4)
    assert float(longer[1, 0, 2]) == 0.5  # non-adjacent pairs tie


def test_instance_validation():
    with pytest.raises(ValueError, match="unknown game kind 'cyclic'"):
        random_game(jax.random.key(0), 1, 3, "cyclic")
    with pytest.raises(ValueError, match="unknown reference kind"):
        random_game(jax.random.key(0), 1, 3, "skew", "bad")
    with pytest.raises(ValueError, match="num_actions must be >= 3"):
        random_game(jax.random.key(0), 1, 2, "condorcet")
    with pytest.raises(ValueError, match="win_probs must lie in"):
        condorcet_cycle((0.9, 1.2, 0.6))
