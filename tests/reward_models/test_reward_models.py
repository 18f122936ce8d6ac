"""Reward models r_phi(s, a): the three kinds against hand-computed values, the per-trajectory
reward with its validity mask, jit and vmap, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import GridWorld, make
from zoprl.reward_models import (
    REWARD_MODEL_KINDS,
    make_reward_model,
    step_rewards,
    trajectory_reward,
)
from zoprl.trajectory import Trajectory


@pytest.fixture(scope="module")
def grid():
    return GridWorld(size=3, horizon=4)


def traj_of(obs, action, valid):
    h = len(valid)
    return Trajectory(
        jnp.asarray(obs),
        jnp.asarray(action),
        jnp.zeros(h),
        jnp.asarray(valid, jnp.float32),
        jnp.zeros(h),
    )


@pytest.mark.parametrize("kind", REWARD_MODEL_KINDS)
def test_every_kind_starts_at_zero_and_has_a_scalar_output(kind, grid):
    model = make_reward_model(kind, grid, hidden=(8,))
    phi = model.init(jax.random.key(0))
    r = jax.jit(model.apply)(phi, jnp.int32(4), jnp.int32(2))
    assert r.shape == () and r.dtype == jnp.float32
    assert float(r) == 0.0


def test_tabular_and_linear_against_hand_values(grid):
    table = jnp.arange(36.0).reshape(9, 4)
    tabular = make_reward_model("tabular", grid)
    assert float(tabular.apply(table, 5, 3)) == 23.0
    # linear with a feature table f(s) = [1, s]: r = phi[0, a] + s phi[1, a]
    feats = np.stack([np.ones(9), np.arange(9.0)], axis=1)
    linear = make_reward_model("linear", grid, features=feats)
    w = jnp.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    assert linear.init(jax.random.key(0)).shape == (2, 4)
    np.testing.assert_allclose(linear.apply(w, 2, 1), 2.0 + 2 * 20.0, rtol=1e-6)
    # default linear features on a finite env are one-hot states: the tabular model
    default = make_reward_model("linear", grid)
    np.testing.assert_allclose(default.apply(table, 5, 3), 23.0, rtol=1e-6)
    # a joint feature function psi(s, a) = [s, a, s a]
    joint = make_reward_model(
        "linear", grid, joint_features=lambda o, a: jnp.stack([o, a, o * a]).astype(jnp.float32)
    )
    np.testing.assert_allclose(joint.apply(jnp.array([1.0, 2.0, 3.0]), 2, 3), 2 + 6 + 18, rtol=1e-6)


def test_mlp_on_a_gymnax_environment():
    env, env_params = make("CartPole-v1")
    model = make_reward_model("mlp", env, env_params, hidden=(16, 16))
    phi = model.init(jax.random.key(1))
    phi = jax.tree.map(lambda x: x + 0.1, phi)  # away from the zero output layer
    obs = jnp.array([0.1, -0.2, 0.3, 0.0])
    r0, r1 = model.apply(phi, obs, 0), model.apply(phi, obs, 1)
    assert r0.shape == () and np.isfinite(float(r0)) and float(r0) != float(r1)
    linear = make_reward_model("linear", env, env_params)  # flattened observation features
    assert linear.init(jax.random.key(0)).shape == (4, 2)


def test_trajectory_reward_masks_invalid_steps_under_jit_and_vmap(grid):
    table = jnp.arange(36.0).reshape(9, 4)
    model = make_reward_model("tabular", grid)
    traj = traj_of([0, 1, 2, 3], [0, 1, 2, 3], [1, 1, 1, 0])
    per_step = jax.jit(lambda p, t: step_rewards(model, p, t))(table, traj)
    np.testing.assert_allclose(per_step, [0.0, 5.0, 10.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(trajectory_reward(model, table, traj), 15.0, rtol=1e-6)
    # a batch [2, H] directly and through an outer vmap agree with the per-trajectory values
    batch = jax.tree.map(
        lambda a, b: jnp.stack([a, b]), traj, traj_of([8, 8, 8, 8], [3, 3, 3, 3], [1, 1, 1, 1])
    )
    expected = [15.0, 4 * 35.0]
    np.testing.assert_allclose(trajectory_reward(model, table, batch), expected, rtol=1e-6)
    vmapped = jax.vmap(lambda t: trajectory_reward(model, table, t))(batch)
    np.testing.assert_allclose(vmapped, expected, rtol=1e-6)


def test_bad_input_raises_before_compilation(grid):
    with pytest.raises(ValueError, match="'quadratic'.*tabular, linear, mlp"):
        make_reward_model("quadratic", grid)
    env, env_params = make("CartPole-v1")
    with pytest.raises(ValueError, match="tabular reward model needs a finite"):
        make_reward_model("tabular", env, env_params)
    with pytest.raises(ValueError, match=r"shape \[9, F\]"):
        make_reward_model("linear", grid, features=np.ones((4, 2)))
    with pytest.raises(ValueError, match="hidden width"):
        make_reward_model("mlp", grid, hidden=(0,))
