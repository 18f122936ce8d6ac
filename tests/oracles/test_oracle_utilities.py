"""Utilities: hand-computed totals, temperature scaling, myopic weights with validity masks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from oracle_testing import make_traj

from zoprl.oracles import myopic_utility, oracle_params, scaled_utility, total_return, utility
from zoprl.oracles.utilities import myopic_weights

REWARDS = [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 5.0, 7.0], [-1.0, 0.0, 0.0, 0.0]]
VALID = [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]]
TRAJ = make_traj(REWARDS, VALID)  # latent_reward = rewards * valid


def test_total_and_scaled():
    np.testing.assert_allclose(jax.jit(total_return)(TRAJ), [10.0, 3.0, -1.0])
    np.testing.assert_allclose(jax.jit(scaled_utility)(TRAJ, 0.5), [5.0, 1.5, -0.5])


def test_myopic_hand_values():
    g = 0.5
    # weights g^(valid steps after h): the last *valid* step has weight 1
    expected = [g**3 * 1 + g**2 * 2 + g * 3 + 4, g * 1 + 2, -(g**3)]
    np.testing.assert_allclose(jax.jit(myopic_utility)(TRAJ, g), expected, rtol=1e-6)
    np.testing.assert_allclose(myopic_weights(jnp.ones(3), 0.9), [0.81, 0.9, 1.0], rtol=1e-6)
    np.testing.assert_allclose(myopic_utility(TRAJ, 1.0), total_return(TRAJ))
    by_weights = np.sum(myopic_weights(TRAJ.valid, g) * TRAJ.latent_reward, axis=-1)
    np.testing.assert_allclose(myopic_utility(TRAJ, g), by_weights, rtol=1e-6)


def test_utility_combines_beta_and_gamma_and_vmaps():
    params = oracle_params("myopic", beta=[2.0, 3.0]).model  # leaves of shape [2]
    out = jax.jit(jax.vmap(utility, in_axes=(None, 0)))(TRAJ, params)  # [2 params, 3 trajs]
    base = np.asarray(myopic_utility(TRAJ, 0.9))
    np.testing.assert_allclose(out, np.array([[2.0], [3.0]]) * base, rtol=1e-6)
    per_traj = jax.vmap(utility, in_axes=(0, None))(TRAJ, oracle_params("myopic", beta=2.0).model)
    np.testing.assert_allclose(per_traj, 2.0 * base, rtol=1e-6)


def test_infinite_beta_has_no_nan():
    traj = make_traj([[1.0, 0.0], [0.0, 0.0], [0.0, -2.0]])
    out = jax.jit(scaled_utility)(traj, jnp.inf)
    np.testing.assert_array_equal(out, [math.inf, 0.0, -math.inf])
    out = utility(traj, oracle_params("oracle").model)
    np.testing.assert_array_equal(out, [math.inf, 0.0, -math.inf])
