"""The too-small reward class: fixed random Gaussian features of the one-hot state, the linear
model on them against hand-computed values, RLHF-PPO built with it, and the combinations that do
not fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms import rlhf
from zoprl.envs import GridWorld, make
from zoprl.oracles import make_oracle, oracle_params
from zoprl.policies import tabular_softmax
from zoprl.reward_models.features import build_reward_model, random_state_features


def test_the_features_are_fixed_gaussian_with_variance_one_over_f():
    table = random_state_features(2000, 4)
    assert table.shape == (2000, 4) and table.dtype == jnp.float32
    np.testing.assert_array_equal(table, random_state_features(2000, 4))  # a fixed key
    np.testing.assert_allclose(np.var(np.asarray(table)), 1 / 4, rtol=0.05)
    assert not np.allclose(random_state_features(2000, 4, seed=1), table)


def test_the_linear_model_on_random_features_is_f_by_a_and_reads_the_table():
    env = GridWorld(size=3, horizon=4)
    model = build_reward_model("linear", env, reward_features=2)
    phi = model.init(jax.random.key(0))
    assert phi.shape == (2, env.num_actions)
    phi = jnp.arange(8.0).reshape(2, 4)
    table = random_state_features(env.num_states, 2)
    r = jax.jit(jax.vmap(model.apply, (None, 0, 0)))(phi, jnp.array([5, 7]), jnp.array([1, 3]))
    np.testing.assert_allclose(r, [table[5] @ phi[:, 1], table[7] @ phi[:, 3]], rtol=1e-6)
    assert build_reward_model("tabular", env).init(None).shape == (9, 4)


@pytest.mark.parametrize(
    "reward_model, env_name, message",
    [
        ("tabular", "GridWorld", "applies to the reward model kinds 'linear' and 'mlp'"),
        ("linear", "CartPole-v1", "has no finite state space"),
    ],
)
def test_features_that_do_not_fit_are_refused(reward_model, env_name, message):
    env, _ = make(env_name)
    with pytest.raises(ValueError, match=message):
        build_reward_model(reward_model, env, reward_features=3)


def test_rlhf_fits_a_reward_of_f_times_a_parameters():
    env, params = make("GridWorld", size=3, horizon=4)
    policy = tabular_softmax(env.num_states, env.num_actions)
    algo = rlhf(
        env,
        policy,
        make_oracle("logistic", 2),
        num_pairs=4,
        num_envs=4,
        reward_model="linear",
        reward_features=3,
        fit_steps=2,
        batch_size=4,
    )
    state = jax.eval_shape(algo.init, jax.random.key(0), algo.hparams(), params, oracle_params())
    assert state.reward_params.shape == (3, env.num_actions)
