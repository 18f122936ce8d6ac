"""The upper objective f(nu, pi): exact enumeration against a brute-force sum and against Monte
Carlo (5 standard errors at a fixed key), hand values of the preference loss, jit and vmap."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bilevel_testing import NUM_PAIRS, A, H, S, instances, problem, unbatch

from zoprl.bilevel import (
    enumerate_trajectories,
    preference_loss,
    random_bilevel_params,
    tabular_reward,
    trajectory_probabilities,
    upper_objective,
)

exact = jax.jit(problem.upper_objective)
monte_carlo = jax.jit(problem.upper_objective_monte_carlo)


@pytest.fixture(scope="module")
def instance():
    params, nu = instances(10, 1, reference_scale=1.0)
    policy = jax.nn.softmax(jax.random.normal(jax.random.key(11), (H, S, A)), axis=-1)
    return unbatch(params, 0), nu[0], policy


def test_preference_loss_hand_values():
    np.testing.assert_allclose(preference_loss(0.0, 3.0, 2.0), np.log(2.0), rtol=1e-15)
    # beta = 0: an uninformative teacher, the loss is symmetric in the model gap
    np.testing.assert_allclose(
        preference_loss(1.5, 3.0, 0.0),
        0.5 * (np.log1p(np.exp(-1.5)) + np.log1p(np.exp(1.5))),
        rtol=1e-15,
    )
    p = 1.0 / (1.0 + np.exp(-0.5 * 2.0))
    np.testing.assert_allclose(
        preference_loss(1.0, 2.0, 0.5),
        p * np.log1p(np.exp(-1.0)) + (1 - p) * np.log1p(np.exp(1.0)),
        rtol=1e-14,
    )


def test_exact_objective_matches_brute_force():
    """S = A = H = 2: f by explicit loops over every pair of trajectories."""
    s, a, h = 2, 2, 2
    params = jax.jit(random_bilevel_params, static_argnums=(1, 2, 3))(
        jax.random.key(12), s, a, h, ridge=0.1
    )
    nu = np.asarray(jax.random.normal(jax.random.key(13), (s, a)))
    pi = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(14), (h, s, a))))
    P, rho, r = (np.asarray(x) for x in (params.transition, params.start, params.true_reward))
    beta = float(params.teacher_beta)
    trajectories = []
    for s1, a1, s2, a2 in itertools.product(range(s), range(a), range(s), range(a)):
        prob = rho[s1] * pi[0, s1, a1] * P[s1, a1, s2] * pi[1, s2, a2]
        trajectories.append((prob, nu[s1, a1] + nu[s2, a2], r[s1, a1] + r[s2, a2]))
    total = 0.0
    for (p0, m0, t0), (p1, m1, t1) in itertools.product(trajectories, repeat=2):
        q = 1.0 / (1.0 + np.exp(-beta * (t1 - t0)))
        total += p0 * p1 * (q * np.log1p(np.exp(-(m1 - m0))) + (1 - q) * np.log1p(np.exp(m1 - m0)))
    total += 0.05 * np.sum(nu**2)
    f = jax.jit(upper_objective, static_argnums=0)
    np.testing.assert_allclose(
        f(tabular_reward, params, jnp.asarray(nu), jnp.asarray(pi)), total, rtol=1e-13
    )


def test_trajectory_enumeration(instance):
    params, _, policy = instance
    states, actions = enumerate_trajectories(S, A, H)
    assert states.shape == actions.shape == ((S * A) ** H, H)
    assert len({(tuple(x), tuple(y)) for x, y in zip(states, actions, strict=True)}) == len(states)
    probs = trajectory_probabilities(params.transition, params.start, policy, states, actions)
    np.testing.assert_allclose(jnp.sum(probs), 1.0, rtol=1e-13)
    with pytest.raises(ValueError, match="use a Monte Carlo estimate"):
        enumerate_trajectories(5, 4, 3)


def test_exact_objective_matches_monte_carlo(instance):
    params, nu, policy = instance
    value = exact(params, nu, policy)
    estimate, stderr = monte_carlo(jax.random.key(15), params, nu, policy)
    assert abs(float(estimate) - float(value)) <= 5 * float(stderr), (estimate, stderr, value)
    assert 0 < float(stderr) < 0.02
    # common random numbers: the same key gives the same pairs, so a small change of nu moves
    # the estimate by much less than its standard error
    again, _ = monte_carlo(jax.random.key(15), params, nu + 1e-3, policy)
    moved = exact(params, nu + 1e-3, policy) - value
    assert abs(float(again - estimate) - float(moved)) < 0.1 * float(stderr)


def test_objective_is_differentiable_in_nu_and_policy(instance):
    params, nu, policy = instance
    g_nu, g_pi = jax.jit(jax.grad(problem.upper_objective, argnums=(1, 2)))(params, nu, policy)
    assert g_nu.shape == (S, A) and g_pi.shape == (H, S, A)
    assert np.all(np.isfinite(g_pi)) and float(jnp.max(jnp.abs(g_pi))) > 0
    mc_grad = jax.grad(lambda n: monte_carlo(jax.random.key(16), params, n, policy)[0])(nu)
    assert np.linalg.norm(mc_grad - g_nu) < 0.2 * np.linalg.norm(g_nu) + 0.05


def test_jit_and_vmap_over_instances():
    params, nu = instances(17, 3)
    policy = jax.nn.softmax(jax.random.normal(jax.random.key(18), (3, H, S, A)), axis=-1)
    values = jax.jit(jax.vmap(problem.upper_objective))(params, nu, policy)
    estimates, stderrs = jax.jit(jax.vmap(problem.upper_objective_monte_carlo, (None, 0, 0, 0)))(
        jax.random.key(19), params, nu, policy
    )
    for i in range(3):
        one = unbatch(params, i)
        np.testing.assert_allclose(values[i], exact(one, nu[i], policy[i]), rtol=1e-13)
        single = monte_carlo(jax.random.key(19), one, nu[i], policy[i])
        np.testing.assert_allclose((estimates[i], stderrs[i]), single, rtol=1e-12)
    assert NUM_PAIRS == 20_000
