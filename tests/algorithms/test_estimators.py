"""Zeroth-order estimators against values computed from the exact evaluator.

Setting: a random TabularMDP (S = 4, A = 3, H = 3), time-homogeneous tabular softmax, d = 12.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms.zeroth_order import ZerothOrderHparams, make_preference_gradient
from zoprl.envs import TabularMDP, random_mdp_params
from zoprl.estimators import (
    direction_scale,
    majority_sign,
    preference_value_difference,
    sample_block_direction,
    sample_direction,
)
from zoprl.estimators.inversion import expected_difference_estimate
from zoprl.evaluation import exact_evaluator
from zoprl.oracles import Feedback, get_link, make_oracle, oracle_params
from zoprl.policies import action_probabilities, tabular_softmax

S, A, H = 4, 3, 3
D = S * A
MU = 0.5
DRAWS = 2000


@pytest.fixture(scope="module")
def problem():
    env = TabularMDP(S, A, H)
    env_params = random_mdp_params(jax.random.key(0), S, A, 2, horizon=H)
    policy = tabular_softmax(S, A)
    theta = 0.5 * jax.random.normal(jax.random.key(1), (S, A))
    return env, env_params, policy, theta, exact_evaluator(env, policy)


def _hp(mu=MU, clip=float(H)):
    return ZerothOrderHparams(*(jnp.float32(x) for x in (1.0, mu, clip, 1.0)))


def _paired_check(problem, draw_direction, num_queries):
    """Per direction draw i: g_i (rollouts + oracle) and e_i = (d/mu)(J(theta+mu v_i)-J(theta)) v_i
    share v_i; mean(g - e) must be 0 within 5 standard errors in every coordinate."""
    env, env_params, policy, theta, ev = problem
    estimate = make_preference_gradient(
        env, policy, make_oracle("logistic", num_queries), num_pairs=64, scale=float(D)
    )
    oracle = oracle_params("noisy")  # Bradley-Terry with beta = 1

    @jax.jit
    def draws(key):
        def one(k):
            k_v, k_est = jax.random.split(k)
            v = draw_direction(k_v)
            g = estimate(k_est, theta, v[None], _hp(), env_params, oracle).gradient
            gap = ev.value(theta + MU * v.reshape(S, A), env_params) - ev.value(theta, env_params)
            return g, (D / MU) * gap * v

        return jax.vmap(one)(jax.random.split(key, DRAWS))

    g, e = draws(jax.random.key(2))
    diff = np.asarray(g - e)
    se = diff.std(0, ddof=1) / np.sqrt(DRAWS)
    assert np.all(np.abs(diff.mean(0)) <= 5 * se), (diff.mean(0), se)
    return np.asarray(g), np.asarray(e)


def test_zpg_estimate_matches_exact_smoothed_difference(problem):
    _paired_check(problem, lambda k: sample_direction(k, D, "sphere"), num_queries=100_000)


@pytest.mark.parametrize("law", ["subset", "partition"])
def test_zbcpg_estimate_matches_exact_smoothed_difference(problem, law):
    _paired_check(problem, lambda k: sample_block_direction(k, D, 4, law), num_queries=100_000)


@pytest.mark.parametrize(
    "law, block",
    [("sphere", None), ("gaussian", None), ("rademacher", None), ("subset", 3), ("partition", 4)],
)
def test_direction_laws_have_identity_second_moment(law, block):
    """E[c v v^T] = I within 5 standard errors entrywise (50k draws)."""
    n = 50_000
    if block is None:
        draw = functools.partial(sample_direction, dim=D, law=law)
        c = direction_scale(law, D)
    else:
        draw = functools.partial(sample_block_direction, dim=D, block_size=block, law=law)
        c = direction_scale("block", D)
    v = jax.jit(jax.vmap(draw))(jax.random.split(jax.random.key(3), n))
    outer = c * np.einsum("ni,nj->nij", np.asarray(v), np.asarray(v))
    se = outer.std(0, ddof=1) / np.sqrt(n) + 1e-7
    assert np.all(np.abs(outer.mean(0) - np.eye(D)) <= 5 * se)
    if block is not None:
        assert np.all((np.asarray(v) != 0).sum(1) == block)


def test_smoothing_bias_shrinks_with_mu(problem):
    """||E_v[(d/mu)(J(theta+mu v)-J(theta)) v] - grad J|| falls as mu falls. E over 100k v with
    the control variate d (v . grad J) v, whose mean is grad J exactly (E[d v v^T] = I)."""
    env, env_params, policy, theta, ev = problem
    grad = ev.grad(theta, env_params).reshape(-1)
    v = jax.vmap(lambda k: sample_direction(k, D))(jax.random.split(jax.random.key(4), 100_000))

    @jax.jit
    def bias(mu):
        def one(vi):
            vt = vi.reshape(S, A)
            # one-sided and two-sided means agree over a symmetric law; the two-sided form has
            # the smaller variance
            gap = (
                ev.value(theta + mu * vt, env_params) - ev.value(theta - mu * vt, env_params)
            ) / 2
            return (D / mu) * gap * vi - D * jnp.dot(vi, grad) * vi

        terms = jax.vmap(one)(v)
        return jnp.linalg.norm(terms.mean(0)), jnp.linalg.norm(terms.std(0) / jnp.sqrt(v.shape[0]))

    results = [tuple(map(float, bias(mu))) for mu in (2.0, 1.0, 0.5)]
    norms = [r[0] for r in results]
    assert norms[0] > norms[1] > norms[2], results
    assert norms[0] > 5 * results[0][1]  # the largest bias is well resolved
    assert norms[2] < 0.1 * np.linalg.norm(grad)


@pytest.fixture(scope="module")
def tiny():
    """S = 2, A = 2, H = 3 (64 trajectories: pairs enumerable), reward r(s, a) only, a policy
    theta and a direction v with a clear value difference J(theta + mu v) - J(theta); rewards in
    [0, 1], so return gaps stay below the clip range R = 3."""
    env = TabularMDP(2, 2, 3)
    env_params = random_mdp_params(jax.random.key(3), 2, 2, 2, horizon=3)
    policy = tabular_softmax(2, 2)
    theta = 0.3 * jax.random.normal(jax.random.key(4), (2, 2))
    ev = exact_evaluator(env, policy)
    grad = ev.grad(theta, env_params).reshape(-1)
    v = grad / jnp.linalg.norm(grad)
    return env, env_params, policy, theta, v, ev


def _exact_and_estimated(tiny, num_queries, mu, num_pairs, replicates, key):
    """E[D] exactly by enumeration and D from the estimator (replicates x N pairs each)."""
    env, env_params, policy, theta, v, ev = tiny
    pi = lambda t: action_probabilities(policy, t, env.observations(env_params), env.horizon)
    exact = expected_difference_estimate(
        env.model(env_params),
        pi(theta),
        pi(theta + mu * v.reshape(2, 2)),
        get_link("logistic"),
        num_queries,
        3.0,
    )
    estimate = make_preference_gradient(
        env, policy, make_oracle("logistic", num_queries), num_pairs=num_pairs, scale=4.0
    )
    one = lambda k: estimate(
        k, theta, v[None], _hp(mu=mu, clip=3.0), env_params, oracle_params("noisy")
    ).per_direction[0]
    draws = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, replicates)))
    true_difference = float(
        ev.value(theta + mu * v.reshape(2, 2), env_params) - ev.value(theta, env_params)
    )
    return exact, draws.mean(), draws.std(ddof=1) / np.sqrt(replicates), true_difference


def test_zpg_estimate_in_the_regime_of_the_reproductions(tiny):
    """M = 10 votes, R = 3 (the reproductions' settings): the mean of D over 200 x 512 pairs
    equals the exact E[D] (every pair of trajectories enumerated, the Binomial votes summed
    exactly) within 5 standard errors; at this M the inversion bias E[D] - (J(theta + mu v) -
    J(theta)) is itself resolved (more than 5 standard errors)."""
    exact, mean, se, truth = _exact_and_estimated(tiny, 10, 1.0, 512, 200, jax.random.key(5))
    assert abs(mean - exact) <= 5 * se, (mean, exact, se)
    assert abs(exact - truth) > 5 * se, (exact, truth, se)


def test_inversion_bias_magnitudes_match_the_exact_computation(tiny):
    """For M = 1, 4, 16, 64 the measured D (50 x 2048 pairs) matches the exact E[D] within 5
    standard errors, and the exact bias |E[D] - (J(theta + mu v) - J(theta))| falls with M."""
    biases = []
    for m in (1, 4, 16, 64):
        exact, mean, se, truth = _exact_and_estimated(tiny, m, 1.0, 2048, 50, jax.random.key(m))
        assert abs(mean - exact) <= 5 * se, (m, mean, exact, se)
        biases.append(abs(exact - truth))
    assert all(b1 > b2 for b1, b2 in zip(biases, biases[1:])), biases


def _feedback(votes, answered, m=10):
    votes = jnp.asarray(votes, jnp.float32)
    return Feedback(
        votes,
        jnp.full(votes.shape, float(m)),
        jnp.asarray(answered, jnp.float32),
        jnp.zeros(votes.shape, bool),
    )


def test_value_gap_inverts_per_pair_and_ignores_skips():
    link = get_link("logistic")
    fb = _feedback([5.0, 8.0, 10.0, 0.0], [1, 1, 1, 0])
    r = 2.0
    y = [0.0, np.log(0.8 / 0.2), r, None]
    expected = (y[0] + y[1] + y[2]) / 3  # p = 1 is clipped to sigma(R), i.e. y = R
    np.testing.assert_allclose(preference_value_difference(fb, link, r), expected, rtol=1e-5)
    assert float(preference_value_difference(_feedback([3.0], [0]), link, r)) == 0.0  # all skipped


def test_majority_sign():
    assert float(majority_sign(_feedback([6, 7, 2], [1, 1, 1]))) == 1.0
    assert float(majority_sign(_feedback([6, 2, 2, 9], [1, 1, 1, 0]))) == -1.0
    assert float(majority_sign(_feedback([5, 5], [1, 1]))) == 0.0
    batched = jax.jit(jax.vmap(majority_sign))(
        _feedback([[6.0, 7.0], [1.0, 2.0]], [[1, 1], [1, 1]])
    )
    np.testing.assert_array_equal(batched, [1.0, -1.0])
