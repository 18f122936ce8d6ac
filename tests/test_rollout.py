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
    np.testing.assert_array_equal(a.action, b.action)  # same params + same keys: identical
    c, d = ind(jax.random.key(1), theta, theta, params)
    assert not np.array_equal(c.action, d.action)
    np.testing.assert_array_equal(a.action, c.action)  # member 0 is the same either way


def test_rollout_vmaps_over_keys_params_and_env_params(gridworld):
    env, _, policy = gridworld
    rollout = make_rollout(env, policy)
    keys = jax.random.split(jax.random.key(0), 3)
    thetas = jnp.zeros((3, 25, 4)).at[1].set(jnp.tile(jnp.array([0.0, 9.0, 0.0, 0.0]), (25, 1)))
    env_params = jax.vmap(lambda s: env.make_params().replace(slip=s))(jnp.zeros(3))
    traj = jax.jit(jax.vmap(rollout))(keys, thetas, env_params)
    assert traj.action.shape == (3, 10)
    assert np.all(np.asarray(traj.action[1]) == 1)  # a near-deterministic "right" policy


def test_paired_rollouts_can_share_only_the_start_state():
    """shared_start: one context per pair, independent actions; default: independent contexts."""
    env, env_params = make("ContextualBandit", num_contexts=3, num_actions=4)
    policy = tabular_softmax(3, 4)
    params = policy.init(None)
    shared = jax.jit(make_paired_rollout(env, policy, 64, shared_start=True))(
        jax.random.key(0), params, params, env_params
    )
    np.testing.assert_array_equal(shared[0].obs[:, 0], shared[1].obs[:, 0])
    assert np.mean(np.asarray(shared[0].action) != np.asarray(shared[1].action)) > 0.5
    free = jax.jit(make_paired_rollout(env, policy, 64))(
        jax.random.key(0), params, params, env_params
    )
    assert np.mean(np.asarray(free[0].obs[:, 0]) != np.asarray(free[1].obs[:, 0])) > 0.4


def test_batch_rollout_is_iid(gridworld):
    env, params, policy = gridworld
    traj = jax.jit(make_batch_rollout(env, policy, 32))(
        jax.random.key(0), policy.init(None), params
    )
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
    theta = jax.tree.map(
        lambda x: x + 0.3 * jax.random.normal(jax.random.key(3), x.shape),
        policy.init(jax.random.key(0)),
    )
    keys = jax.random.split(jax.random.key(7), 64)
    traj = jax.jit(jax.vmap(make_rollout(env, policy), (0, None, None)))(keys, theta, params)

    def direct(key, actions):
        k_reset, _, k_env = jax.random.split(key, 3)
        obs, state = raw.reset(k_reset, raw_params)

        def step(carry, xs):
            state, done_before, ret = carry
            h, a = xs
            _, state, r, term, trunc, _ = raw.step(
                jax.random.fold_in(k_env, h), state, a, raw_params
            )
            ret = ret + jnp.where(done_before, 0.0, r)
            return (state, done_before | term | trunc, ret), None

        (_, _, ret), _ = jax.lax.scan(step, (state, False, 0.0), (jnp.arange(200), actions))
        return ret

    returns = jax.jit(jax.vmap(direct))(keys, traj.action)
    np.testing.assert_array_equal(traj.latent_reward.sum(-1), returns)
    valid = np.asarray(traj.valid)
    assert np.all(np.diff(valid, axis=1) <= 0)  # once invalid, always invalid
    assert valid.sum(1).min() < 200  # some episodes terminate early


def test_gymnax_adapter_continuous_actions():
    from zoprl.policies import mlp_gaussian

    env, params = make("Pendulum-v1", horizon=20)
    policy = mlp_gaussian(3, 1, hidden=(8,))
    traj = jax.jit(make_rollout(env, policy))(
        jax.random.key(0), policy.init(jax.random.key(1)), params
    )
    assert traj.action.shape == (20, 1) and np.all(np.isfinite(traj.latent_reward))


def test_rollout_rejects_mismatched_policy():
    with pytest.raises(ValueError, match="3 actions"):
        make_rollout(GridWorld(), tabular_softmax(25, 3))
    with pytest.raises(ValueError, match="num_pairs must be >= 1"):
        make_paired_rollout(GridWorld(), tabular_softmax(25, 4), 0)


# ------------------------------------------------------------------ bulk-uniform batched path
def _time_dependent_theta(key, scale=1.5):
    return scale * jax.random.normal(key, (10, 25, 4))


def test_bulk_and_key_paths_match_the_exact_value(gridworld):
    """The batched (bulk-uniform) path and the per-step-key path sample the same law: both Monte
    Carlo values of a random time-dependent policy lie within 5 standard errors of the exact J,
    and so do the per-step action frequencies at the start state."""
    from zoprl.evaluation import exact_evaluator
    from zoprl.rollout import supports_bulk_uniforms

    env, params, _ = gridworld
    policy = tabular_softmax(25, 4, horizon=10)
    theta = _time_dependent_theta(jax.random.key(5))
    exact = float(exact_evaluator(env, policy).value(theta, params))
    num = 40_000
    assert supports_bulk_uniforms(env, policy)
    bulk = jax.jit(make_batch_rollout(env, policy, num))(jax.random.key(0), theta, params)
    keyed = jax.jit(jax.vmap(make_rollout(env, policy), (0, None, None)))(
        jax.random.split(jax.random.key(0), num), theta, params
    )
    for traj in (bulk, keyed):
        returns = np.asarray(traj.latent_reward.sum(-1), np.float64)
        se = returns.std(ddof=1) / np.sqrt(num)
        assert abs(returns.mean() - exact) <= 5 * se, (returns.mean(), se, exact)
        pi0 = np.asarray(jax.nn.softmax(theta[0, 0]))
        freq = np.bincount(np.asarray(traj.action[:, 0]), minlength=4) / num
        assert np.all(np.abs(freq - pi0) <= 5 * np.sqrt(pi0 * (1 - pi0) / num))
        np.testing.assert_allclose(
            traj.log_prob[:, 0], np.log(pi0)[np.asarray(traj.action[:, 0])], rtol=1e-5
        )


def test_bulk_path_with_and_without_action_tables_agree(gridworld):
    """Actions from per-(h, s) tables equal actions from per-rollout logits, for the same key."""
    from zoprl.rollout import _make_bulk_batch_rollout

    env, params, _ = gridworld
    policy = tabular_softmax(25, 4, horizon=10)
    theta = _time_dependent_theta(jax.random.key(6))
    table, direct = (
        jax.jit(_make_bulk_batch_rollout(env, policy, 64, 10, use_table=t))(
            jax.random.key(2), theta, params
        )
        for t in (True, False)
    )
    np.testing.assert_array_equal(table.action, direct.action)
    np.testing.assert_array_equal(table.obs, direct.obs)
    np.testing.assert_allclose(table.log_prob, direct.log_prob, rtol=1e-6)
    np.testing.assert_allclose(table.latent_reward, direct.latent_reward, rtol=1e-6)


def test_bulk_path_vmaps_over_keys_and_params(gridworld):
    """vmap of a batch over keys and params equals the batches run one by one (atol 1e-5)."""
    env, params, policy = gridworld
    batch = make_batch_rollout(env, policy, 16)
    keys = jax.random.split(jax.random.key(3), 3)
    thetas = jax.random.normal(jax.random.key(4), (3, 25, 4))
    together = jax.jit(jax.vmap(batch, (0, 0, None)))(keys, thetas, params)
    for i in range(3):
        alone = jax.jit(batch)(keys[i], thetas[i], params)
        np.testing.assert_array_equal(together.action[i], alone.action)
        np.testing.assert_allclose(together.latent_reward[i], alone.latent_reward, atol=1e-5)


def test_counter_threefry_equals_jax_threefry_bit_for_bit():
    """The unrolled threefry2x32 of the bulk path is JAX's: on JAX's own counter layout
    (non-partitionable, counts split in two halves) it reproduces jax.random.bits exactly."""
    from zoprl.rollout import bits_to_uniform, threefry2x32

    key = jax.random.key(11)
    words = jax.random.key_data(key)
    for n in (2, 10, 4096):
        with jax.threefry_partitionable(False):
            expected_bits = jax.random.bits(key, (n,))
            expected_uniform = jax.random.uniform(key, (n,))
        half = np.arange(n // 2, dtype=np.uint32)
        y0, y1 = jax.jit(threefry2x32)(words[0], words[1], half, half + np.uint32(n // 2))
        np.testing.assert_array_equal(np.concatenate([y0, y1]), expected_bits)
        np.testing.assert_array_equal(bits_to_uniform(np.concatenate([y0, y1])), expected_uniform)


def test_bulk_path_accepts_raw_and_non_threefry_keys(gridworld):
    env, params, policy = gridworld
    batch = jax.jit(make_batch_rollout(env, policy, 8))
    typed = batch(jax.random.key(0), policy.init(None), params)
    raw = batch(jax.random.PRNGKey(0), policy.init(None), params)  # same threefry words
    np.testing.assert_array_equal(typed.action, raw.action)
    rbg = batch(jax.random.key(0, impl="rbg"), policy.init(None), params)  # fallback stream
    assert rbg.action.shape == (8, 10) and np.all(np.asarray(rbg.valid) == 1)
