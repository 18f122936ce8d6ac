"""Preference models fitted by maximum likelihood: tabular recovery within 5 standard errors,
closed form = Newton = Adam, linear recovery, Bradley-Terry on a Condorcet cycle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from game_testing import random_preference_np

from zoprl.games import (
    bradley_terry_model,
    bradley_terry_policy,
    condorcet_cycle,
    equilibrium,
    gap,
    linear_model,
    make_fit,
    tabular_estimate,
    tabular_model,
)
from zoprl.games.instances import antisymmetric_features

X, K = 2, 3


def sample_votes(seed, P, num_comparisons):
    """Random ordered pairs a != b in random contexts, one Bernoulli(P[x, a, b]) vote each."""
    rng = np.random.default_rng(seed)
    num_contexts, num_actions = P.shape[:2]
    contexts = rng.integers(num_contexts, size=num_comparisons)
    first = rng.integers(num_actions, size=num_comparisons)
    second = (first + rng.integers(1, num_actions, size=num_comparisons)) % num_actions
    labels = (rng.random(num_comparisons) < P[contexts, first, second]).astype(np.float32)
    return contexts, first, second, labels, np.ones(num_comparisons, np.float32)


@pytest.fixture(scope="module")
def votes():
    P = random_preference_np(np.random.default_rng(3), X, K)
    return P, sample_votes(4, P, 20_000)


def test_tabular_estimate_recovers_P_within_five_standard_errors(votes):
    P, data = votes
    estimate = jax.jit(tabular_estimate, static_argnums=(0, 1))(X, K, *data)
    counts = np.asarray(estimate.counts)
    np.testing.assert_allclose(counts, np.swapaxes(counts, 1, 2))
    np.testing.assert_allclose(counts.sum(), 2 * 20_000)
    off_diagonal = ~np.eye(K, dtype=bool)[None].repeat(X, 0)
    se = np.sqrt(P * (1 - P) / np.maximum(counts, 1))
    assert np.all(np.abs(np.asarray(estimate.P_hat) - P)[off_diagonal] < 5 * se[off_diagonal])
    np.testing.assert_allclose(estimate.P_hat + np.swapaxes(estimate.P_hat, 1, 2), 1.0, atol=1e-6)


def test_maximum_likelihood_fits_match_the_closed_form(votes):
    _, data = votes
    closed_form = np.asarray(tabular_estimate(X, K, *data).P_hat)
    model = tabular_model(X, K)
    params = model.init(jax.random.key(0))
    assert params.shape == (X, K * (K - 1) // 2)
    newton, losses = jax.jit(make_fit(model, 8, "newton"))(params, *data)
    np.testing.assert_allclose(model.prob(newton), closed_form, atol=1e-5)
    P, counts = votes[0], np.asarray(tabular_estimate(X, K, *data).counts)
    off_diagonal = ~np.eye(K, dtype=bool)[None].repeat(X, 0)
    error = np.abs(np.asarray(model.prob(newton)) - P)[off_diagonal]
    assert np.all(error < 5 * np.sqrt(P * (1 - P) / np.maximum(counts, 1))[off_diagonal])
    assert np.all(np.diff(np.asarray(losses)) <= 1e-7)
    adam, _ = jax.jit(make_fit(model, 300, "adam", learning_rate=0.1))(params, *data)
    np.testing.assert_allclose(model.prob(adam), closed_form, atol=2e-3)
    # an L2 penalty shrinks the logits towards 0 (P-hat towards 1/2)
    shrunk, _ = jax.jit(make_fit(model, 8, "newton"))(params, *data, 10.0)
    assert np.abs(np.asarray(shrunk)).max() < 0.5 * np.abs(np.asarray(newton)).max()


def test_soft_labels_with_weights_equal_repeated_votes():
    contexts, first, second = np.array([0, 1]), np.array([0, 2]), np.array([1, 0])
    soft = tabular_estimate(
        X, K, contexts, first, second, np.array([0.75, 0.2]), np.array([4.0, 5.0])
    )
    hard = tabular_estimate(
        X,
        K,
        np.repeat(contexts, [4, 5]),
        np.repeat(first, [4, 5]),
        np.repeat(second, [4, 5]),
        np.array([1, 1, 1, 0, 1, 0, 0, 0, 0], np.float32),
    )
    np.testing.assert_allclose(soft.P_hat, hard.P_hat, rtol=1e-6)
    np.testing.assert_allclose(soft.counts, hard.counts)
    np.testing.assert_allclose(soft.P_hat[0, 0, 1], 0.75, rtol=1e-6)
    np.testing.assert_allclose(soft.P_hat[1, 0, 2], 0.8, rtol=1e-6)
    np.testing.assert_allclose(soft.P_hat[1, 0, 1], 0.5)  # no data: 1/2


def test_every_model_is_skew_symmetric():
    features = antisymmetric_features(jax.random.key(0), X, K, 2)
    for model in (tabular_model(X, K), bradley_terry_model(X, K), linear_model(features)):
        params = model.init(jax.random.key(1))
        params = params + jax.random.normal(jax.random.key(2), params.shape)
        P_hat = np.asarray(model.prob(params))
        assert P_hat.shape == (X, K, K)
        np.testing.assert_allclose(P_hat + np.swapaxes(P_hat, 1, 2), 1.0, atol=1e-6)
        np.testing.assert_array_equal(np.diagonal(P_hat, axis1=1, axis2=2), 0.5)


def test_linear_model_recovers_its_weights_and_fits_vmap(x64):
    features = antisymmetric_features(jax.random.key(5), X, K, 2)
    model = linear_model(features)
    rows, cols = np.nonzero(~np.eye(K, dtype=bool))
    contexts = np.repeat(np.arange(X), len(rows))
    first, second = np.tile(rows, X), np.tile(cols, X)
    fit = jax.jit(
        jax.vmap(make_fit(model, 10, "newton"), in_axes=(None, None, None, None, 0, None))
    )
    true_weights = np.array([[0.7, -1.2], [-0.3, 0.4]])
    labels = np.stack(
        [np.asarray(jax.nn.sigmoid(features @ w))[contexts, first, second] for w in true_weights]
    )
    fitted, _ = fit(model.init(None), contexts, first, second, labels, np.ones(len(contexts)))
    np.testing.assert_allclose(fitted, true_weights, atol=1e-8)


def test_bradley_terry_fit_ranks_condorcet_winner_first():
    """ML Bradley-Terry on exact Condorcet frequencies ranks A first although C beats A; its
    KL-regularised policy is exploitable where the equilibrium is not."""
    P = np.asarray(condorcet_cycle())
    rows, cols = np.nonzero(~np.eye(3, dtype=bool))
    contexts = np.zeros(len(rows), np.int32)
    model = bradley_terry_model(1, 3)
    rewards, _ = jax.jit(make_fit(model, 10, "newton"))(
        model.init(None), contexts, rows, cols, P[0, rows, cols], np.ones(len(rows)), 1e-6
    )
    assert int(jnp.argmax(rewards[0])) == 0
    assert float(P[0, 2, 0]) > 0.5
    pi0 = np.full((1, 3), 1.0 / 3.0)
    bt_policy = bradley_terry_policy(rewards, pi0, 20.0 / 4)
    np.testing.assert_allclose(bt_policy, jax.nn.softmax(np.log(pi0) + 5.0 * rewards), rtol=1e-6)
    assert int(jnp.argmax(bt_policy[0])) == 0
    star = equilibrium(P, pi0, 20.0)
    assert float(gap(bt_policy, P, pi0, 20.0)) > 100 * float(gap(star, P, pi0, 20.0)) + 1e-3
