"""Equilibrium solvers: Newton to round-off, MMD, Nash-MD (and its bias), best-response cycling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from game_testing import random_policy_np, random_preference_np

from zoprl.games import (
    best_response,
    best_response_iteration,
    condorcet_cycle,
    context_gap,
    equilibrium,
    gap,
    kl_divergence,
    mirror_descent,
    nash_md,
    newton_equilibrium,
)

X, K = 4, 6


def fixed_point_residual(pi, P, pi0, eta):
    """max |pi - softmax(log pi0 + eta P pi)| in NumPy float64."""
    pi, P, pi0 = (np.asarray(a, np.float64) for a in (pi, P, pi0))
    logits = np.log(pi0) + eta * np.einsum("...ab,...b->...a", P, pi)
    logits -= logits.max(-1, keepdims=True)
    gibbs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return np.abs(pi - gibbs).max()


def numpy_game(seed, scale=1.5):
    rng = np.random.default_rng(seed)
    return random_preference_np(rng, X, K, scale), random_policy_np(rng, X, K, 1.0)


@pytest.mark.parametrize("eta", [1.0, 5.0, 20.0])
def test_equilibrium_float64_reaches_round_off(x64, eta):
    for seed in range(3):
        P, pi0 = numpy_game(seed, scale=1.0 + seed)
        if seed == 0:
            pi0 = np.full((X, K), 1.0 / K)
        star = equilibrium(P, pi0, eta)
        assert star.dtype == jnp.float64 and star.shape == (X, K)
        assert float(gap(star, P, pi0, eta)) < 1e-10
        assert fixed_point_residual(star, P, pi0, eta) < 1e-8
    # one context, [K, K] and [K]
    single = equilibrium(P[1], pi0[1], eta)
    assert single.shape == (K,)
    np.testing.assert_allclose(single, star[1], atol=1e-12)


def test_equilibrium_float32():
    P, pi0 = numpy_game(4)
    star = equilibrium(P.astype(np.float32), pi0.astype(np.float32), 5.0)
    assert star.dtype == jnp.float32
    assert float(gap(star, P.astype(np.float32), pi0.astype(np.float32), 5.0)) < 1e-9
    assert fixed_point_residual(star, P, pi0, 5.0) < 1e-5


def test_equilibrium_under_jit_and_vmap():
    games = [numpy_game(seed) for seed in (5, 6)]
    P = np.stack([g[0] for g in games]).astype(np.float32)
    pi0 = np.stack([g[1] for g in games]).astype(np.float32)
    batched = jax.jit(jax.vmap(equilibrium, in_axes=(0, 0, None)))(P, pi0, 3.0)
    for b in range(2):
        np.testing.assert_allclose(batched[b], equilibrium(P[b], pi0[b], 3.0), atol=1e-6)
    # eta as an array, and a [K, K] P shared by all contexts
    shared = equilibrium(P[0, 0], pi0[0], jnp.float32(3.0))
    np.testing.assert_allclose(shared[2], equilibrium(P[0, 0], pi0[0, 2], 3.0), atol=1e-6)


def test_solvers_agree(x64):
    P, pi0 = numpy_game(8)
    eta = 5.0
    star = np.asarray(equilibrium(P, pi0, eta))
    solve = jax.jit(jax.vmap(mirror_descent, in_axes=(0, 0, None, None, None)))
    mmd = solve(P, pi0, eta, 1e-10, 100_000)
    assert np.all(np.asarray(mmd.gap) < 1e-10)
    assert np.all(np.asarray(mmd.num_iterations) < 1000)
    np.testing.assert_allclose(mmd.policy, star, atol=1e-4)
    # the brief's default step min(0.05, 0.5 / eta) is slower but reaches the same point
    slow = jax.jit(jax.vmap(lambda P, q: mirror_descent(P, q, eta, 1e-10, 100_000, step=0.05)))(
        P, pi0
    )
    assert np.all(np.asarray(slow.num_iterations) > np.asarray(mmd.num_iterations))
    np.testing.assert_allclose(slow.policy, star, atol=1e-4)
    newton = jax.vmap(newton_equilibrium, in_axes=(0, 0, None, None))(P, pi0, eta, 1e-12)
    np.testing.assert_allclose(newton.policy, star, atol=1e-6)
    assert np.all(np.asarray(newton.num_iterations) <= 20)


def test_mirror_descent_default_step_meets_its_guarantee(x64):
    """KL(pi*, pi_k) <= (1 + tau^2 / L^2)^(-k) KL(pi*, pi0), L = max |P - 1/2| (Sokota et al.),
    with max_iterations traced (vmapped over k) and tol = 0 so that exactly k steps run."""
    P, pi0 = numpy_game(12, scale=3.0)
    P, pi0 = P[0], pi0[0]
    steps = np.array([1, 3, 10, 30, 100])
    for eta in (0.5, 4.0):
        star = equilibrium(P, pi0, eta)
        runs = jax.jit(jax.vmap(mirror_descent, in_axes=(None, None, None, None, 0)))(
            P, pi0, eta, 0.0, steps
        )
        np.testing.assert_array_equal(runs.num_iterations, steps)
        rate = 1.0 / (1.0 + 1.0 / (eta * np.abs(P - 0.5).max()) ** 2)
        kl = jax.vmap(kl_divergence, in_axes=(None, 0))(star, runs.policy)
        assert np.all(np.asarray(kl) <= kl_divergence(star, pi0) * rate**steps + 1e-15)


def test_nash_md_agrees_and_has_the_predicted_bias(x64):
    """Nash-MD with a constant step alpha converges to BR(pi*(eta - alpha)), O(alpha) from pi*."""
    P, pi0 = numpy_game(9)
    P, pi0, eta, step = P[0], pi0[0], 2.0, 0.05
    result = jax.jit(nash_md)(P, pi0, eta, 1e-10, 3000, step)
    mmd = jax.jit(mirror_descent)(P, pi0, eta, 1e-12, 10_000)
    np.testing.assert_allclose(result.policy, mmd.policy, atol=2e-3)
    shifted = equilibrium(P, pi0, eta - step)
    np.testing.assert_allclose(result.policy, best_response(shifted, P, pi0, eta), atol=1e-12)
    assert int(result.num_iterations) == 3000 and float(result.gap) > 1e-10  # the gap stalls
    np.testing.assert_allclose(result.gap, context_gap(result.policy, P, pi0, eta), rtol=1e-12)


def test_bradley_terry_equilibrium_agrees_to_first_order(x64):
    """P = sigma(r_a - r_b): pi* = pi0 exp(eta P pi*) / Z matches pi0 exp(eta r / 4) / Z up to the
    cubic term of sigma: the log-policy discrepancy shrinks like s^3 for rewards s r."""
    rng = np.random.default_rng(10)
    reward, pi0, eta = rng.normal(size=K), random_policy_np(rng, 1, K, 2.0)[0], 2.0

    def discrepancy(scale):
        r = scale * reward
        P = 1.0 / (1.0 + np.exp(-(r[:, None] - r[None, :])))
        star = np.log(np.asarray(equilibrium(P, pi0, eta)))
        bt = np.log(pi0) + eta * r / 4
        centred = (star - star.mean()) - (bt - bt.mean())
        return np.abs(centred).max(), np.abs(bt - np.log(pi0) - (bt - np.log(pi0)).mean()).max()

    (small, move_small), (large, _) = discrepancy(0.1), discrepancy(0.2)
    assert small > 1e-7  # not equal ...
    assert small < 1e-2 * move_small  # ... but close relative to the move away from pi0
    np.testing.assert_allclose(large / small, 8.0, rtol=0.05)  # third order in the reward scale


def test_best_response_iteration_cycles_on_condorcet(x64):
    P = condorcet_cycle()[0]
    pi0 = jnp.full(3, 1.0 / 3.0)
    trajectory = np.asarray(jax.jit(best_response_iteration, static_argnums=3)(P, pi0, 20.0, 60))
    assert trajectory.shape == (61, 3)
    tail = trajectory[-30:]
    gaps = jax.vmap(context_gap, in_axes=(0, None, None, None))(tail, P, pi0, 20.0)
    assert np.all(np.asarray(gaps) > 0.05)  # never near the equilibrium
    np.testing.assert_allclose(tail[3:], tail[:-3], atol=1e-8)  # a 3-cycle
    assert np.abs(tail[1:] - tail[:-1]).max() > 0.5
    mmd = jax.jit(mirror_descent)(P, pi0, 20.0, 1e-10, 10_000)
    assert float(mmd.gap) < 1e-10
    # for small eta the best response is a contraction and the iteration converges
    calm = best_response_iteration(P, pi0, 1.0, 60)
    np.testing.assert_allclose(calm[-1], equilibrium(P, pi0, 1.0), atol=1e-10)


def test_condorcet_equilibrium_tends_to_the_von_neumann_winner(x64):
    """For eta -> infinity pi* tends to the maximal lottery (4/9, 1/9, 4/9) of the cycle."""
    P = condorcet_cycle()[0]
    star = equilibrium(P, np.full(3, 1.0 / 3.0), 1e4)
    np.testing.assert_allclose(star, [4 / 9, 1 / 9, 4 / 9], atol=2e-3)


def test_equilibrium_keeps_the_support_of_the_reference(x64):
    P, _ = numpy_game(11)
    pi0 = np.array([0.5, 0.0, 0.25, 0.0, 0.25, 0.0])
    star = np.asarray(equilibrium(P[0], pi0, 5.0))
    np.testing.assert_array_equal(star[pi0 == 0], 0.0)
    assert float(gap(star, P[0], pi0, 5.0)) < 1e-20


@pytest.mark.parametrize(
    "args, message",
    [
        ({"eta": -1.0}, "eta must be > 0"),
        ({"pi0": np.full(6, 1 / 6)}, "pi0 has shape"),
        ({"pi0": np.full((3, 6), 1 / 6)}, "number of contexts X differs"),
        ({"pi0": np.full((4, 5), 1 / 5)}, "pi0 must have shape"),
        ({"P": np.full((4, 6, 6), 0.7)}, r"must equal 1"),
    ],
)
def test_equilibrium_validation(args, message):
    inputs = {"P": np.full((4, 6, 6), 0.5), "pi0": np.full((4, 6), 1 / 6), "eta": 1.0}
    inputs.update(args)
    with pytest.raises(ValueError, match=message):
        equilibrium(inputs["P"], inputs["pi0"], inputs["eta"])
