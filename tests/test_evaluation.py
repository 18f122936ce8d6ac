"""Exact evaluation against Monte Carlo, finite differences, REINFORCE and value iteration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from policy_testing import random_theta

from zoprl.envs import GridWorld, TabularMDP, make, random_mdp_params
from zoprl.evaluation import exact_evaluator, greedy_policy, policy_value
from zoprl.policies import linear_softmax, tabular_softmax
from zoprl.rollout import make_batch_rollout, make_monte_carlo_value

NUM_MC = 40_000


def test_default_gridworld_reference_values(gridworld):
    env, params, policy = gridworld
    ev = exact_evaluator(env, policy)
    np.testing.assert_allclose(ev.value(policy.init(None), params), 2.1446, atol=1e-3)
    np.testing.assert_allclose(ev.optimal_value(params), 5.9483, atol=1e-3)


def _mc_vs_exact(env, params, policy, theta, key):
    exact = exact_evaluator(env, policy).value(theta, params)
    mean, se = jax.jit(make_monte_carlo_value(env, policy, NUM_MC))(key, theta, params)
    assert abs(float(mean) - float(exact)) <= 5 * float(se), (float(mean), float(se), float(exact))


@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_gridworld_exact_value_matches_monte_carlo(slip):
    env = GridWorld()
    params = env.make_params(slip=slip, traps=[(1, 3)])
    policy = tabular_softmax(env.num_states, env.num_actions, horizon=env.horizon)
    _mc_vs_exact(env, params, policy, random_theta(jax.random.key(1), policy), jax.random.key(2))


def test_random_mdp_exact_value_matches_monte_carlo():
    env, params = make("RandomMDP", num_states=7, num_actions=3, branching=3, horizon=6, seed=4)
    policy = tabular_softmax(7, 3)
    _mc_vs_exact(env, params, policy, random_theta(jax.random.key(5), policy), jax.random.key(6))


def test_contextual_bandit_exact_value_matches_monte_carlo():
    env, params = make("ContextualBandit", num_contexts=4, num_actions=5, seed=1)
    policy = linear_softmax(4, 5, features=np.eye(4), init_scale=1.0)
    _mc_vs_exact(env, params, policy, policy.init(jax.random.key(7)), jax.random.key(8))


@pytest.fixture(scope="module")
def small_mdp():
    env = TabularMDP(5, 3, 4)
    params = random_mdp_params(jax.random.key(11), 5, 3, 2, horizon=4)
    policy = tabular_softmax(5, 3, horizon=4)
    return env, params, policy, random_theta(jax.random.key(12), policy)


def test_gradient_matches_central_finite_difference(small_mdp):
    env, params, policy, theta = small_mdp
    ev = exact_evaluator(env, policy)
    value = jax.jit(ev.value)
    grad = ev.grad(theta, params)
    for key in jax.random.split(jax.random.key(13), 4):
        v = jax.random.normal(key, theta.shape)
        eps = 1e-2
        fd = (value(theta + eps * v, params) - value(theta - eps * v, params)) / (2 * eps)
        np.testing.assert_allclose(jnp.vdot(grad, v), fd, rtol=1e-3)


def test_gradient_matches_reinforce_estimate(small_mdp):
    """REINFORCE: grad J = E[sum_h grad log pi(a_h|s_h,h) * r(tau)], per coordinate within
    5 standard errors over 40k trajectories."""
    env, params, policy, theta = small_mdp
    batch = make_batch_rollout(env, policy, NUM_MC)

    @jax.jit
    def per_trajectory(key):
        traj = batch(key, theta, params)
        ret = traj.latent_reward.sum(-1)

        def score(obs, act):
            logp = lambda th: jnp.sum(
                jax.vmap(policy.log_prob, (None, 0, 0, 0))(th, obs, jnp.arange(4), act)
            )
            return jax.grad(logp)(theta)

        return jax.vmap(score)(traj.obs, traj.action) * ret[:, None, None, None]

    g = per_trajectory(jax.random.key(14))
    mean, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(NUM_MC)
    exact = exact_evaluator(env, policy).grad(theta, params)
    assert np.all(np.abs(mean - exact) <= 5 * se + 1e-6)


def test_optimal_value_attained_by_deterministic_policy_without_slip():
    env = GridWorld()
    params = env.make_params(slip=0.0)
    model = env.model(params)
    j_star = exact_evaluator(env, tabular_softmax(25, 4)).optimal_value(params)
    np.testing.assert_allclose(j_star, 6.5, rtol=1e-6)  # 8 moves then 2 steps in the goal
    np.testing.assert_allclose(
        policy_value(model, greedy_policy(model, env.horizon)), j_star, rtol=1e-6
    )
    # "right until the last column, then down", a time-homogeneous deterministic policy
    cols = np.arange(25) % 5
    pi = jax.nn.one_hot(np.where(cols < 4, 1, 2), 4)
    np.testing.assert_allclose(
        policy_value(model, jnp.broadcast_to(pi, (10, 25, 4))), j_star, rtol=1e-6
    )


def test_optimal_value_dominates_random_policies(gridworld):
    env, params, policy = gridworld
    ev = exact_evaluator(env, policy)
    thetas = jax.vmap(lambda k: random_theta(k, policy, 3.0))(
        jax.random.split(jax.random.key(0), 100)
    )
    values = jax.jit(jax.vmap(ev.value, (0, None)))(thetas, params)
    assert float(values.max()) <= float(ev.optimal_value(params)) + 1e-5


def test_evaluator_vmaps_over_mdp_instances_and_params():
    env = TabularMDP(4, 2, 3)
    policy = tabular_softmax(4, 2)
    ev = exact_evaluator(env, policy)
    keys = jax.random.split(jax.random.key(0), 3)
    mdps = jax.vmap(lambda k: random_mdp_params(k, 4, 2, 2, 3))(keys)
    thetas = jax.vmap(lambda k: random_theta(k, policy))(keys)
    grid = jax.jit(jax.vmap(jax.vmap(ev.value, (0, None)), (None, 0)))(thetas, mdps)
    assert grid.shape == (3, 3)
    np.testing.assert_allclose(
        grid[1, 2], ev.value(thetas[2], jax.tree.map(lambda x: x[1], mdps)), rtol=1e-6
    )
    j_star = jax.vmap(ev.optimal_value)(mdps)
    assert np.all(np.asarray(grid) <= np.asarray(j_star)[:, None] + 1e-5)


def test_evaluator_rejects_bad_input():
    with pytest.raises(ValueError, match="5 states but environment 'GridWorld' has 25"):
        exact_evaluator(GridWorld(), tabular_softmax(5, 4))
    with pytest.raises(ValueError, match="horizon 7"):
        exact_evaluator(GridWorld(), tabular_softmax(25, 4, horizon=7))
    with pytest.raises(ValueError, match="no finite state space"):
        env, _ = make("CartPole-v1")
        exact_evaluator(env, tabular_softmax(4, 2))
