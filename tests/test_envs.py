"""Environments: dynamics against their own tables, registry, validation, jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import (
    Bandit,
    ContextualBandit,
    GridWorld,
    TabularMDP,
    make,
    random_mdp_params,
    registered_envs,
)


def test_gridworld_tables_are_stochastic_and_match_spec():
    env = GridWorld()
    m = env.model(env.make_params(slip=0.2))
    np.testing.assert_allclose(m.transition.sum(-1), 1.0, rtol=1e-6)
    # from the start (0,0), "right" goes to (0,1) w.p. 0.8 + slip/3 via "up"/"left" stay: 0.2*2/3
    row = np.asarray(m.transition[0, 1])
    np.testing.assert_allclose(row[1], 0.8, rtol=1e-6)
    np.testing.assert_allclose(row[0], 0.2 * 2 / 3, rtol=1e-6)  # up and left hit walls
    np.testing.assert_allclose(row[5], 0.2 / 3, rtol=1e-6)  # down
    # the goal is absorbing and pays 1; the start cell pays 1 - 8/8 = 0
    np.testing.assert_allclose(m.transition[24, :, 24], 1.0)
    np.testing.assert_allclose(m.reward[0, 0, 24], 1.0)
    np.testing.assert_allclose(m.reward[3, 0, 0], 0.0)


def test_gridworld_step_samples_its_transition_table():
    """Empirical next-cell frequencies of step_env from cell 6 under each action are within 5
    standard errors of P(.|s, a) (200k draws at a fixed key)."""
    env = GridWorld()
    params = env.make_params(slip=0.3, traps=[(2, 2)])
    from zoprl.envs import FiniteState

    state = FiniteState(time=jnp.int32(0), state=jnp.int32(6))
    n = 200_000

    @jax.jit
    def freqs(key):
        def one(k, a):
            _, st, r, _, _ = env.step_env(k, state, a, params)
            return jax.nn.one_hot(st.state, env.num_states), r

        keys = jax.random.split(key, (4, n))
        onehots, rewards = jax.vmap(lambda ks, a: jax.vmap(one, (0, None))(ks, a))(
            keys, jnp.arange(4)
        )
        return onehots.mean(1), rewards

    f, rewards = freqs(jax.random.key(3))
    p = np.asarray(env.model(params).transition[6])
    se = np.sqrt(p * (1 - p) / n) + 1e-12
    assert np.all(np.abs(np.asarray(f) - p) <= 5 * se + 1e-9)
    # the trap at (2, 2) = cell 12 costs 1 on top of the distance reward 1 - 4/8
    assert np.isclose(float(env.cell_reward(params)[12]), 0.5 - 1.0)


def test_sparse_reward_and_multiple_goals():
    env = GridWorld(size=3, horizon=4, reward="sparse")
    params = env.make_params(goals=[(0, 2), (2, 0)])
    r = np.asarray(env.cell_reward(params))
    assert r.tolist() == [0, 0, 1, 0, 0, 0, 1, 0, 0]
    dist = GridWorld(size=3).cell_reward(GridWorld(size=3).make_params(goals=[(0, 2), (2, 0)]))
    np.testing.assert_allclose(dist[4], 1 - 2 / 4)  # centre: 2 steps to the nearest goal


def test_random_mdp_is_valid_and_vmaps_over_keys():
    params = jax.vmap(lambda k: random_mdp_params(k, 6, 3, 2))(
        jax.random.split(jax.random.key(0), 5)
    )
    p = np.asarray(params.transition)
    assert p.shape == (5, 6, 3, 6)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    assert np.all((p > 0).sum(-1) == 2)  # branching factor
    assert not np.allclose(p[0], p[1])  # keys give different instances


def test_bandits_have_horizon_one():
    env, params = make("ContextualBandit", num_contexts=3, num_actions=4)
    assert env.horizon == 1 and env.num_states == 3
    assert Bandit(5).num_states == 1
    p = ContextualBandit(2, 2).make_params([[0.0, 1.0], [2.0, 3.0]], start=[0.25, 0.75])
    np.testing.assert_allclose(p.start, [0.25, 0.75])


def test_registry_lists_and_builds():
    names = registered_envs()
    for n in ("GridWorld", "RandomMDP", "Bandit", "ContextualBandit", "CartPole-v1", "Pendulum-v1"):
        assert n in names
    env, params = make("GridWorld", slip=0.0, size=4)
    assert env.num_states == 16 and float(params.slip) == 0.0


def test_reset_and_step_under_jit_and_vmap_over_env_params():
    env = GridWorld()
    params = jax.vmap(lambda s: env.make_params().replace(slip=s))(jnp.array([0.0, 0.5, 1.0]))

    @jax.jit
    def first_step(key, params):
        obs, state = env.reset(key, params)
        return env.step(key, state, 1, params)

    obs, state, reward, terminated, truncated, _ = jax.vmap(first_step, (None, 0))(
        jax.random.key(0), params
    )
    assert obs.shape == (3,) and reward.shape == (3,)
    assert int(obs[0]) == 1  # slip 0: right moves to (0, 1)
    assert int(obs[2]) != 1  # slip 1: never the chosen action
    assert not bool(terminated.any())


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: make("GridWorlds"), "registered: .*GridWorld"),
        (lambda: GridWorld(size=1), "grid size"),
        (lambda: GridWorld(horizon=0), "horizon"),
        (lambda: GridWorld().make_params(slip=1.5), "slip"),
        (lambda: GridWorld().make_params(slip=-0.1), "slip"),
        (lambda: GridWorld().make_params(goals=[(5, 0)]), "row 5"),
        (lambda: GridWorld(reward="dense"), "dense"),
        (
            lambda: TabularMDP(2, 2, 3).make_params(
                np.full((2, 2, 2), 0.6), np.zeros((2, 2)), [0.5, 0.5]
            ),
            "transition must sum to 1",
        ),
        (
            lambda: TabularMDP(2, 2, 3).make_params(
                np.full((2, 2, 2), 0.5), np.zeros((2, 2)), [0.9, 0.5]
            ),
            "start must sum to 1",
        ),
        (
            lambda: TabularMDP(2, 2, 3).make_params(
                np.full((3, 2, 2), 0.5), np.zeros((2, 2)), [0.5, 0.5]
            ),
            r"transition must have shape \(2, 2, 2\)",
        ),
        (lambda: random_mdp_params(jax.random.key(0), 3, 2, 4), "branching 4"),
    ],
)
def test_bad_input_raises_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
