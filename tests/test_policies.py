"""Policies: log-probabilities, sampling frequencies, flattening, shape checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import GridWorld
from zoprl.policies import (
    action_probabilities,
    check_compatible,
    flatten_params,
    linear_softmax,
    mlp_categorical,
    mlp_gaussian,
    num_params,
    tabular_softmax,
)

CATEGORICAL = {
    "tabular": lambda: (tabular_softmax(3, 4), 2),
    "tabular_time": lambda: (tabular_softmax(3, 4, horizon=5), 2),
    "linear": lambda: (linear_softmax(3, 4, features=np.eye(3), init_scale=1.0), 1),
    "mlp": lambda: (mlp_categorical(3, 4, hidden=(8,), features=np.eye(3)), 0),
}


@pytest.mark.parametrize("name", sorted(CATEGORICAL))
def test_categorical_sampling_frequencies_match_probabilities(name):
    policy, obs = CATEGORICAL[name]()
    params = jax.tree.map(
        lambda x: x + 0.5 * jax.random.normal(jax.random.key(1), x.shape),
        policy.init(jax.random.key(0)),
    )
    n = 100_000
    actions, logps = jax.jit(jax.vmap(policy.sample, (0, None, None, None)))(
        jax.random.split(jax.random.key(2), n), params, obs, 3
    )
    probs = np.asarray(jax.nn.softmax(policy.logits(params, obs, 3)))
    freq = np.bincount(np.asarray(actions), minlength=4) / n
    assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs * (1 - probs) / n))
    np.testing.assert_allclose(logps, np.log(probs)[np.asarray(actions)], rtol=1e-5)
    np.testing.assert_allclose(policy.log_prob(params, obs, 3, 1), np.log(probs[1]), rtol=1e-5)


def test_time_dependent_policy_uses_the_step():
    policy = tabular_softmax(2, 2, horizon=3)
    params = jnp.zeros((3, 2, 2)).at[1, 0, 1].set(5.0)
    pi = action_probabilities(policy, params, jnp.arange(2), 3)
    assert pi.shape == (3, 2, 2)
    assert float(pi[1, 0, 1]) > 0.99 and float(pi[0, 0, 1]) == 0.5


def test_gaussian_log_prob_is_the_normal_density():
    policy = mlp_gaussian(3, 2, hidden=(8,))
    params = policy.init(jax.random.key(0))
    obs = jnp.array([0.1, -0.2, 0.3])
    action, logp = policy.sample(jax.random.key(1), params, obs, 0)
    std = np.exp(-0.5)
    mean = np.zeros(2)  # zero-initialised output layer
    expected = np.sum(
        -0.5 * ((np.asarray(action) - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    )
    np.testing.assert_allclose(logp, expected, rtol=1e-5)


def test_flatten_round_trip_and_dimension():
    policy = mlp_categorical(4, 2, hidden=(5,))
    params = policy.init(jax.random.key(0))
    vec, unflatten = flatten_params(params)
    assert vec.shape == (num_params(params),) == (4 * 5 + 5 + 5 * 2 + 2,)
    back = unflatten(vec + 1.0)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a + 1.0, b), params, back)


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="policy 'tabular_softmax' has 3 actions"):
        check_compatible(tabular_softmax(25, 3), GridWorld())
    with pytest.raises(ValueError, match="feature table must have shape"):
        linear_softmax(4, 2, features=np.eye(3))
    with pytest.raises(ValueError, match="num_actions must be >= 1, got 0"):
        tabular_softmax(3, 0)
