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
from zoprl.evaluation import exact_evaluator
from zoprl.oracles import Feedback, get_link, make_oracle, oracle_params
from zoprl.policies import tabular_softmax

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


def test_inversion_bias_shrinks_with_number_of_queries(problem):
    """E[D] - (J(theta + mu v) - J(theta)) for fixed theta, v over 50k pairs, M = 1, 4, 16, 64:
    the absolute bias falls with M (the same pairs for every M).
    Measured at this key: exact gap 0.69; |bias| 0.22, 0.14, 0.05, 0.02 (standard errors
    <= 0.013)."""
    env, env_params, policy, theta, ev = problem
    grad = ev.grad(theta, env_params).reshape(-1)
    v = grad / jnp.linalg.norm(grad)  # a direction with a large value gap
    exact = float(ev.value(theta + 3.0 * v.reshape(S, A), env_params) - ev.value(theta, env_params))
    results = []
    for m in (1, 4, 16, 64):
        estimate = make_preference_gradient(
            env, policy, make_oracle("logistic", m), num_pairs=50_000, scale=float(D)
        )
        _, gaps, feedback, _ = jax.jit(estimate)(
            jax.random.key(6), theta, v[None], _hp(mu=3.0), env_params, oracle_params("noisy")
        )
        y = get_link("logistic").inverse(
            jnp.clip(feedback.votes / m, jax.nn.sigmoid(-3.0), jax.nn.sigmoid(3.0))
        )
        se = float(jnp.std(y) / jnp.sqrt(y.size))
        results.append((abs(float(gaps[0]) - exact), se))
    biases = [b for b, _ in results]
    assert all(b1 > b2 for b1, b2 in zip(biases, biases[1:])), (results, exact)
    assert biases[0] > 5 * results[0][1]


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
