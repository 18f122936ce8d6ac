"""Confidence boxes, the worst-case preference, the pessimistic max-min and the comparison table,
against enumeration of the box's vertices and against fits on the individual comparisons."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from game_testing import random_policy_np, random_preference_np, simplex_grid3

from zoprl.games import condorcet_cycle, context_gap, equilibrium
from zoprl.games.confidence import (
    confidence_width,
    pessimistic_ascent,
    pessimistic_payoff,
    pessimistic_response,
    response_value,
    uncertainty,
    worst_case_preference,
)
from zoprl.games.models import (
    Comparisons,
    bradley_terry_model,
    empty_table,
    make_fit,
    table_add,
    table_estimate,
    table_records,
    tabular_estimate,
)

ASCEND = jax.jit(pessimistic_ascent, static_argnums=8)
STEPS = 3000


def _vertices(P_hat, width):
    """Every vertex of the box [2^(K(K-1)/2), K, K] (NumPy)."""
    K = P_hat.shape[-1]
    pairs = list(itertools.combinations(range(K), 2))
    out = []
    for signs in itertools.product((-1.0, 1.0), repeat=len(pairs)):
        P = P_hat.copy()
        for s, (a, b) in zip(signs, pairs):
            P[a, b] = np.clip(P_hat[a, b] + s * width[a, b], 0.0, 1.0)
            P[b, a] = 1.0 - P[a, b]
        out.append(P)
    return np.stack(out)


def _pessimistic_values(pis, P_hat, width, pi0, eta):
    """g(pi1) = min over vertices of min over pi2 of J for every row of pis [G, K] (NumPy)."""
    kl = np.sum(pis * np.log(pis / pi0), axis=-1)
    best = np.full(len(pis), np.inf)
    for P in _vertices(P_hat, width):
        lse = np.log(np.sum(pi0 * np.exp(-eta * (pis @ P)), axis=-1))
        best = np.minimum(best, -(lse + kl) / eta)
    return best


def test_worst_case_preference_is_the_minimising_vertex(x64):
    rng = np.random.default_rng(0)
    P_hat = random_preference_np(rng, 1, 4)[0]
    width = np.abs(rng.normal(0.0, 0.2, (4, 4)))
    width = (width + width.T) / 2
    pi1, pi2 = random_policy_np(rng, 2, 4)
    P = np.asarray(worst_case_preference(pi1, pi2, P_hat, width))
    np.testing.assert_allclose(P + P.T, 1.0, atol=1e-15)
    np.testing.assert_allclose(np.diag(P), 0.5)
    brute = min(pi1 @ V @ pi2 for V in _vertices(P_hat, width))
    np.testing.assert_allclose(pi1 @ P @ pi2, brute, rtol=1e-14)
    pi0 = random_policy_np(rng, 1, 4)[0]
    payoff = pessimistic_payoff(pi1, pi2, P_hat, width, pi0, 2.0)
    np.testing.assert_allclose(payoff, brute + (np.sum(pi2 * np.log(pi2 / pi0)) - np.sum(
        pi1 * np.log(pi1 / pi0))) / 2.0, rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(confidence_width(np.array([0.0, 3.0]), 2.0), [2.0, 1.0])


@pytest.mark.parametrize("num_actions", [3, 4])
def test_pessimistic_response_finds_the_worst_vertex(x64, num_actions):
    rng = np.random.default_rng(num_actions)
    P_hat = random_preference_np(rng, 1, num_actions)[0]
    width = np.full((num_actions, num_actions), 0.15)
    pi0 = random_policy_np(rng, 1, num_actions)[0]
    respond = jax.jit(
        jax.vmap(lambda pi1: pessimistic_response(pi1, P_hat, width, pi0, 5.0, P_hat)[1])
    )
    pis = random_policy_np(rng, 20, num_actions)
    found = respond(jnp.asarray(pis))
    values = jax.vmap(lambda pi, P: response_value(pi, P, pi0, 5.0))(jnp.asarray(pis), found)
    best = np.min(
        [[float(response_value(pi, V, pi0, 5.0)) for V in _vertices(P_hat, width)] for pi in pis],
        axis=1,
    )
    np.testing.assert_allclose(values, best, atol=1e-12)


def test_pessimistic_ascent_with_zero_width_converges_to_the_equilibrium(x64):
    P = condorcet_cycle()[0]
    pi0 = jnp.asarray([0.5, 0.3, 0.2])
    star = equilibrium(P, pi0, 5.0)
    zero = jnp.zeros((3, 3))
    log_pi, _, value = ASCEND(jnp.log(pi0), P, P, zero, pi0, 5.0, 1.0 / 5.0, 0.0, STEPS)
    assert float(context_gap(jnp.exp(log_pi), P, pi0, 5.0)) < 1e-9  # O(1 / t): steps decay
    np.testing.assert_allclose(jnp.exp(log_pi), star, atol=1e-4)
    np.testing.assert_allclose(value, 0.5, atol=1e-9)
    log_pi, _, _ = ASCEND(jnp.log(star), P, P, zero, pi0, 5.0, 1.0 / 5.0, 0.0, STEPS)
    assert float(context_gap(jnp.exp(log_pi), P, pi0, 5.0)) < 1e-20  # a fixed point


@pytest.mark.parametrize("eta, c", [(1.0, 0.1), (20.0, 0.02), (20.0, 0.1)])
def test_pessimistic_ascent_reaches_the_max_min_by_enumeration(x64, eta, c):
    """K = 3: g(pi1-hat) within 2e-4 of its maximum over a fine simplex grid (8 vertices
    enumerated), and above g at the equilibrium of P-hat (pessimism pays in g)."""
    P_hat = np.asarray(condorcet_cycle()[0])
    pi0 = np.array([0.5, 0.3, 0.2])
    width = c * np.array([[1.0, 1.0, 3.0], [1.0, 1.0, 1.0], [3.0, 1.0, 1.0]])
    star = np.asarray(equilibrium(P_hat, pi0, eta))
    damping = 1.0 / (1.0 + eta**2 / 4)
    log_pi, _, value = ASCEND(jnp.log(star), P_hat, P_hat, width, pi0, eta, damping, 0.0, STEPS)
    pi = np.exp(np.asarray(log_pi))
    grid = simplex_grid3(300)
    grid = grid[np.all(grid > 0, axis=1)]
    g_out = _pessimistic_values(pi[None], P_hat, width, pi0, eta)[0]
    np.testing.assert_allclose(value, g_out, atol=1e-10)  # the inner search found the minimum
    assert g_out >= _pessimistic_values(grid, P_hat, width, pi0, eta).max() - 2e-4
    assert g_out >= _pessimistic_values(star[None], P_hat, width, pi0, eta)[0] - 1e-9


def test_uncertainty_is_zero_in_self_play_and_shrinks_with_counts():
    rng = np.random.default_rng(1)
    pi1, pi2 = random_policy_np(rng, 2, 3)[:, None], random_policy_np(rng, 2, 3)[:, None]
    pi1, pi2 = pi1.reshape(2, 3), pi2.reshape(2, 3)
    d0 = np.array([0.3, 0.7])
    counts = np.zeros((2, 3, 3))
    assert float(uncertainty(pi1, pi1, counts, d0, 1.0, 4)) == 0.0
    w = np.einsum("xa,xb->xab", pi1, pi2)
    w = w - np.swapaxes(w, 1, 2)
    expected = np.sqrt(np.sum(d0**2 * np.sum(np.triu(w**2, 1), axis=(1, 2))))
    np.testing.assert_allclose(uncertainty(pi1, pi2, counts, d0, 1.0, 4), expected, rtol=1e-6)
    np.testing.assert_allclose(
        uncertainty(pi1, pi2, counts + 8.0, d0, 1.0, 4), expected / np.sqrt(3.0), rtol=1e-6
    )


def _comparisons(rng, n, X, K):
    contexts = rng.integers(0, X, n)
    first = rng.integers(0, K, n)
    second = (first + rng.integers(1, K, n)) % K  # never an action against itself
    labels = rng.integers(0, 4, n) / 3.0
    weights = rng.integers(0, 2, n) * 3.0
    return Comparisons(*(jnp.asarray(a) for a in (contexts, first, second, labels, weights)))


def test_a_fit_on_the_table_equals_the_fit_on_the_comparisons(x64):
    """Every model's logit depends on (x, a, b) only: the table is a sufficient statistic."""
    X, K = 2, 4
    data = _comparisons(np.random.default_rng(2), 300, X, K)
    table = table_add(table_add(empty_table(X, K), data), data)
    model = bradley_terry_model(X, K)
    fit = jax.jit(make_fit(model, 15, "newton"))
    doubled = Comparisons(*(jnp.concatenate([a, a]) for a in data))
    direct, _ = fit(model.init(None), *doubled, l2=1e-3)
    from_table, _ = fit(model.init(None), *table_records(table), l2=1e-3)
    np.testing.assert_allclose(from_table, direct, atol=1e-9)
    closed_form = tabular_estimate(X, K, *doubled)
    np.testing.assert_allclose(table_estimate(table).P_hat, closed_form.P_hat, atol=1e-15)
    np.testing.assert_allclose(table.counts, closed_form.counts)
