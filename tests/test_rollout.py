"""Rollouts: shapes, validity masks, paired rollouts with and without common random numbers,
jit and vmap over keys, params and env params, and the gymnax adapter against a direct scan."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import GridWorld, make
from zoprl.policies import mlp_categorical, tabular_softmax
from zoprl.rollout import make_batch_rollout, make_paired_rollout, make_rollout


def test_gridworld_rollout_shapes_and_rewards(gridworld):
    env, params, policy = gridworld
    traj = jax.jit(make_rollout(env, policy))(jax.random.key(0), policy.init(None), params)
    assert traj.obs.shape == traj.action.shape == traj.valid.shape == (10,)
    assert int(traj.obs[0]) == 0 and np.all(np.asarray(traj.valid) == 1)
    # the reward of step h is the distance reward of the next observation
    r = np.asarray(env.cell_reward(params))
    nxt = np.append(np.asarray(traj.obs[1:]), -1)
    np.testing.assert_allclose(traj.latent_reward[:-1], r[nxt[:-1]], rtol=1e-6)
    np.testing.assert_allclose(traj.log_prob, np.log(0.25), rtol=1e-6)


def test_paired_rollouts_common_random_numbers(gridworld):
    env, params, policy = gridworld
    theta = policy.init(None)
    crn = jax.jit(make_paired_rollout(env, policy, 16, common_random_numbers=True))
    ind = jax.jit(make_paired_rollout(env, policy, 16))
    a, b = crn(jax.random.key(1), theta, theta, params)
    assert a.obs.shape == (16, 10)
    np.testing.assert_array_equal(a.action, b.action)      # same params + same keys: identical
    c, d = ind(jax.random.key(1), theta, theta, params)
    assert not np.array_equal(c.action, d.action)
    np.testing.assert_array_equal(a.action, c.action)      # member 0 is the same either way


def test_rollout_vmaps_over_keys_params_and_env_params(gridworld):
    env, _, policy = gridworld
    rollout = make_rollout(env, policy)
    keys = jax.random.split(jax.random.key(0), 3)
    thetas = jnp.zeros((3, 25, 4)).at[1].set(jnp.tile(jnp.array([0.0, 9.0, 0.0, 0.0]), (25, 1)))
    env_params = jax.vmap(lambda s: env.make_params().replace(slip=s))(jnp.zeros(3))
    traj = jax.jit(jax.vmap(rollout))(keys, thetas, env_params)
    assert traj.action.shape == (3, 10)
    assert np.all(np.asarray(traj.action[1]) == 1)   # a near-deterministic "right" policy


def test_paired_rollouts_can_share_only_the_start_state():
    """shared_start: one context per pair, independent actions; default: independent contexts."""
    env, env_params = make("ContextualBandit", num_contexts=3, num_actions=4)
    policy = tabular_softmax(3, 4)
    params = policy.init(None)
    shared = jax.jit(make_paired_rollout(env, policy, 64, shared_start=True))(
        jax.random.key(0), params, params, env_params)
    np.testing.assert_array_equal(shared[0].obs[:, 0], shared[1].obs[:, 0])
    assert np.mean(np.asarray(shared[0].action) != np.asarray(shared[1].action)) > 0.5
    free = jax.jit(make_paired_rollout(env, policy, 64))(jax.random.key(0), params, params, env_params)
    assert np.mean(np.asarray(free[0].obs[:, 0]) != np.asarray(free[1].obs[:, 0])) > 0.4


def test_batch_rollout_is_iid(gridworld):
    env, params, policy = gridworld
    traj = jax.jit(make_batch_rollout(env, policy, 32))(jax.random.key(0), policy.init(None), params)
    assert traj.action.shape == (32, 10)
    assert len({tuple(a) for a in np.asarray(traj.action)}) > 30


@pytest.fixture(scope="module")
def cartpole():
    env, params = make("CartPole-v1", horizon=200)
    return env, params, mlp_categorical(4, 2, hidden=(16,))


def test_cartpole_adapter_matches_direct_gymnax_scan(cartpole):
    """Same keys and same actions: the adapter's masked return equals a direct gymnax scan's
    episode return, and the mask ends at the first terminal step."""
    env, params, policy = cartpole
    raw, raw_params = gymnax.make("CartPole-v1")
    theta = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(3), x.shape),
                         policy.init(jax.random.key(0)))
    keys = jax.random.split(jax.random.key(7), 64)
    traj = jax.jit(jax.vmap(make_rollout(env, policy), (0, None, None)))(keys, theta, params)

    def direct(key, actions):
        k_reset, _, k_env = jax.random.split(key, 3)
        obs, state = raw.reset(k_reset, raw_params)

        def step(carry, xs):
            state, done_before, ret = carry
            h, a = xs
            _, state, r, term, trunc, _ = raw.step(jax.random.fold_in(k_env, h), state, a, raw_params)
            ret = ret + jnp.where(done_before, 0.0, r)
            return (state, done_before | term | trunc, ret), None

        (_, _, ret), _ = jax.lax.scan(step, (state, False, 0.0), (jnp.arange(200), actions))
        return ret

    returns = jax.jit(jax.vmap(direct))(keys, traj.action)
    np.testing.assert_array_equal(traj.latent_reward.sum(-1), returns)
    valid = np.asarray(traj.valid)
    assert np.all(np.diff(valid, axis=1) <= 0)          # once invalid, always invalid
    assert valid.sum(1).min() < 200                     # some episodes terminate early


def test_gymnax_adapter_continuous_actions():
    from zoprl.policies import mlp_gaussian

    env, params = make("Pendulum-v1", horizon=20)
    policy = mlp_gaussian(3, 1, hidden=(8,))
    traj = jax.jit(make_rollout(env, policy))(jax.random.key(0), policy.init(jax.random.key(1)), params)
    assert traj.action.shape == (20, 1) and np.all(np.isfinite(traj.latent_reward))


def test_rollout_rejects_mismatched_policy():
    with pytest.raises(ValueError, match="3 actions"):
        make_rollout(GridWorld(), tabular_softmax(25, 3))
    with pytest.raises(ValueError, match="num_pairs must be >= 1"):
        make_paired_rollout(GridWorld(), tabular_softmax(25, 4), 0)
