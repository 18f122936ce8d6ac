"""Exact game quantities: payoff, win rate, best response, gap and duality gap against hand values
and brute force over a simplex grid (K = 3), under jit and vmap."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from game_testing import (
    kl_np,
    payoff_np,
    random_policy_np,
    random_preference_np,
    simplex_grid3,
)

from zoprl.games import (
    best_response,
    context_best_response,
    context_duality_gap,
    context_gap,
    context_gap_logsumexp,
    context_payoff,
    context_win_rate,
    duality_gap,
    gap,
    payoff,
    win_rate,
)

GRID = simplex_grid3(400)  # 80601 distributions, spacing 1/400


def test_gap_hand_value_two_actions():
    """K = 2, P(a0 > a1) = 0.7, uniform pi0, pi = (1, 0), eta = 2: P pi = (0.5, 0.3), so
    Gap = (1/2)(log 2 + log(e^1 / 2 + e^0.6 / 2)) - 1/2."""
    P = np.array([[0.5, 0.7], [0.3, 0.5]])
    expected = 0.5 * (math.log(2.0) + math.log(0.5 * math.e + 0.5 * math.exp(0.6))) - 0.5
    value = gap(np.array([1.0, 0.0]), P, np.array([0.5, 0.5]), 2.0)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(
        duality_gap(np.array([1.0, 0.0]), P, np.array([0.5, 0.5]), 2.0), 2 * expected, rtol=1e-5
    )


def test_gap_is_nonnegative_on_random_policies(small_games):
    P, pi0, _, _ = small_games
    rng = np.random.default_rng(0)
    policies = random_policy_np(rng, 64 * 3, 4, 0.5).reshape(64, 3, 4).astype(np.float32)
    gaps = jax.jit(
        jax.vmap(jax.vmap(context_gap, in_axes=(0, 0, 0, None)), in_axes=(0, None, None, None))
    )(policies, P, pi0, 3.0)
    assert np.all(np.asarray(gaps) >= 0.0)
    assert np.all(np.asarray(gaps) > 1e-4)  # no random policy is an equilibrium


@pytest.mark.parametrize("eta", [0.5, 2.0, 8.0])
def test_gap_is_half_minus_min_payoff_by_brute_force(x64, eta):
    rng = np.random.default_rng(int(eta * 10))
    P = random_preference_np(rng, 1, 3)[0]
    pi0 = random_policy_np(rng, 1, 3, 3.0)[0]
    pi = random_policy_np(rng, 1, 3, 2.0)[0]
    worst = payoff_np(pi, GRID, P, pi0, eta).min()
    exact = float(gap(pi, P, pi0, eta))
    assert 0.0 <= exact - (0.5 - worst) <= 1e-4  # the grid minimum is above the true minimum
    # the Gibbs best response attains the minimum (and beats every grid point)
    response = np.asarray(context_best_response(jnp.asarray(pi), P, pi0, eta))
    at_response = payoff_np(pi, response, P, pi0, eta)
    np.testing.assert_allclose(at_response, 0.5 - exact, atol=1e-12)
    assert at_response <= worst
    # and also the maximum of player 1's payoff against pi
    best = payoff_np(GRID, pi, P, pi0, eta).max()
    assert payoff_np(response, pi, P, pi0, eta) >= best


def test_best_response_is_optimal_against_perturbations(x64, small_games):
    P, pi0, (pi, _), _ = small_games
    eta = 4.0
    response = np.asarray(best_response(pi, P, pi0, eta))
    rng = np.random.default_rng(1)
    for x in range(3):
        value = payoff_np(response[x], pi[x], P[x], pi0[x], eta)
        for _ in range(20):
            direction = rng.normal(size=4)
            direction -= direction.mean()
            other = np.clip(response[x] + 1e-3 * direction, 1e-12, None)
            other /= other.sum()
            assert payoff_np(other, pi[x], P[x], pi0[x], eta) <= value + 1e-15


def test_closed_forms_and_duality_gap_agree(x64, small_games):
    P, pi0, (pi, _opponent), d0 = small_games
    for eta in (0.3, 5.0, 120.0):
        bregman = jax.vmap(context_gap, in_axes=(0, 0, 0, None))(pi, P, pi0, eta)
        literal = jax.vmap(context_gap_logsumexp, in_axes=(0, 0, 0, None))(pi, P, pi0, eta)
        two_sided = jax.vmap(context_duality_gap, in_axes=(0, 0, 0, None))(pi, P, pi0, eta)
        np.testing.assert_allclose(bregman, literal, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(two_sided, 2 * bregman, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gap(pi, P, pi0, eta, d0), d0 @ np.asarray(bregman), rtol=1e-12)
        np.testing.assert_allclose(
            duality_gap(pi, P, pi0, eta, d0), 2 * d0 @ np.asarray(bregman), rtol=1e-10
        )
    # Gap = 1/2 - J(pi, BR(pi)) with the game-level payoff
    response = best_response(pi, P, pi0, 5.0)
    np.testing.assert_allclose(
        0.5 - payoff(pi, response, P, pi0, 5.0, d0), gap(pi, P, pi0, 5.0, d0), atol=1e-14
    )
    assert jnp.asarray(gap(pi, P, pi0, 5.0)).dtype == jnp.float64


def test_gap_is_precise_near_the_equilibrium(x64):
    """A policy 1e-7 away from pi* has Gap ~ 1e-14: the Bregman form resolves it, the literal
    logsumexp form only to ~1e-16 absolute."""
    P = np.array([[0.5, 0.8, 0.3], [0.2, 0.5, 0.9], [0.7, 0.1, 0.5]])
    pi0 = np.full(3, 1.0 / 3.0)
    from zoprl.games import equilibrium

    star = np.asarray(equilibrium(P, pi0, 50.0))
    assert float(gap(star, P, pi0, 50.0)) < 1e-25
    near = star + np.array([1e-7, -1e-7, 0.0])
    value = float(gap(near, P, pi0, 50.0))
    assert 1e-16 < value < 1e-11
    np.testing.assert_allclose(
        context_gap_logsumexp(jnp.asarray(near), P, pi0, 50.0), value, atol=1e-15
    )


def test_payoff_and_win_rate_identities(small_games):
    P, pi0, (pi1, pi2), d0 = small_games
    np.testing.assert_allclose(win_rate(pi1, pi1, P, d0), 0.5, atol=1e-6)
    np.testing.assert_allclose(
        win_rate(pi1, pi2, P, d0) + win_rate(pi2, pi1, P, d0), 1.0, atol=1e-6
    )
    np.testing.assert_allclose(payoff(pi1, pi1, P, pi0, 2.0, d0), 0.5, atol=1e-6)
    np.testing.assert_allclose(
        payoff(pi1, pi2, P, pi0, 2.0, d0) + payoff(pi2, pi1, P, pi0, 2.0, d0), 1.0, atol=1e-6
    )
    expected = sum(
        d0[x] * (pi1[x] @ P[x] @ pi2[x] + (kl_np(pi2[x], pi0[x]) - kl_np(pi1[x], pi0[x])) / 2.0)
        for x in range(3)
    )
    np.testing.assert_allclose(payoff(pi1, pi2, P, pi0, 2.0, d0), expected, rtol=1e-6)
    # default d0 is uniform; a [K, K] P is shared by the contexts
    np.testing.assert_allclose(
        win_rate(pi1, pi2, P), np.mean([pi1[x] @ P[x] @ pi2[x] for x in range(3)]), rtol=1e-6
    )
    np.testing.assert_allclose(
        gap(pi1, P[0], pi0, 2.0), gap(pi1, np.broadcast_to(P[0], P.shape), pi0, 2.0), rtol=1e-6
    )


def test_context_functions_under_jit_and_vmap(small_games):
    P, pi0, (pi1, pi2), _ = small_games
    P, pi0, pi1, pi2 = (jnp.asarray(a, jnp.float32) for a in (P, pi0, pi1, pi2))
    functions = {
        "gap": (context_gap, (pi1, P, pi0, 2.0)),
        "gap_logsumexp": (context_gap_logsumexp, (pi1, P, pi0, 2.0)),
        "duality_gap": (context_duality_gap, (pi1, P, pi0, 2.0)),
        "payoff": (context_payoff, (pi1, pi2, P, pi0, 2.0)),
        "win_rate": (context_win_rate, (pi1, pi2, P)),
        "best_response": (context_best_response, (pi2, P, pi0, 2.0)),
    }
    for name, (fn, args) in functions.items():
        in_axes = tuple(0 if jnp.ndim(a) else None for a in args)
        batched = jax.jit(jax.vmap(fn, in_axes=in_axes))(*args)
        looped = jnp.stack(
            [jax.jit(fn)(*(a[x] if jnp.ndim(a) else a for a in args)) for x in range(3)]
        )
        np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-7, err_msg=name)
    # the validated game-level functions also trace (checks skipped on tracers)
    for fn, args in (
        (gap, (pi1, P, pi0, 2.0)),
        (duality_gap, (pi1, P, pi0, 2.0)),
        (payoff, (pi1, pi2, P, pi0, 2.0)),
        (win_rate, (pi1, pi2, P)),
        (best_response, (pi2, P, pi0, 2.0)),
    ):
        jitted = jax.jit(fn)(*args)
        np.testing.assert_allclose(jitted, fn(*args), rtol=1e-6, err_msg=fn.__name__)
        assert jitted.dtype == jnp.float32


@pytest.mark.parametrize(
    "args, message",
    [
        ({"pi": np.array([0.5, 0.5]), "eta": 1.0}, "pi must have shape"),
        ({"eta": 0.0}, "eta must be > 0"),
        ({"eta": np.ones(2)}, "eta must be a scalar"),
        ({"pi0": np.array([0.5, 0.4, 0.2])}, "pi0 must sum to 1"),
        (
            {"P": np.array([[0.5, 0.6, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])},
            r"P\[x, a, b\] \+ P\[x, b, a\] must equal 1",
        ),
        ({"P": np.full((2, 3), 0.5)}, r"P must have shape \[K, K\] or \[X, K, K\]"),
        ({"d0": np.array([0.2, 0.3, 0.5])}, "d0 must have shape"),
        ({"d0": np.array([0.2, 0.3])}, "d0 must sum to 1"),
    ],
)
def test_gap_validation(args, message):
    inputs = {
        "pi": np.full((2, 3), 1 / 3),
        "P": np.full((2, 3, 3), 0.5),
        "pi0": np.full(3, 1 / 3),
        "eta": 1.0,
        "d0": None,
    }
    inputs.update(args)
    with pytest.raises(ValueError, match=message):
        gap(inputs["pi"], inputs["P"], inputs["pi0"], inputs["eta"], inputs["d0"])
