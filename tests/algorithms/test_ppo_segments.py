"""PPO on segments of continuing environments (PureJaxRL's collection) and the annealed step size:
GAE over a segment and the segment rollout against hand-computed values (done flags, the
bootstrap at the segment end, environments carried over between iterations), the schedule, and
both options reached from a spec."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms.policy_gradient import Critic, generalized_advantages, make_critic
from zoprl.algorithms.ppo import (
    annealed_step_size,
    make_ppo_update,
    ppo,
    ppo_hparams,
    ppo_init,
    ppo_setup,
    segment_batch,
)
from zoprl.algorithms.run import make_chunked_run
from zoprl.algorithms.segments import make_segment_rollout, segment_advantages
from zoprl.envs import make
from zoprl.evaluators import monte_carlo_policy_evaluator
from zoprl.experiment import build_cells, spec_from_dict
from zoprl.policies import mlp_categorical, tabular_softmax

sys.path.insert(0, str(Path(__file__).parents[1] / "experiment"))
from sweep_testing import tiny_raw  # noqa: E402


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_segment_advantages_against_hand_computed_values(transform):
    """T = 4, gamma = 0.9, lambda = 0.5; the episode ends at step 1 (no bootstrap through it),
    the one in flight at the end bootstraps from V_T = 10:
    A_3 = 4 + 0.9 * 10 - 2 = 11;  A_2 = (3 + 0.9 * 2 - 1.5) + 0.45 * 11 = 8.25;
    A_1 = 2 - 1 = 1;  A_0 = (1 + 0.9 * 1 - 0.5) + 0.45 * 1 = 1.85."""
    rewards = jnp.array([1.0, 2.0, 3.0, 4.0])
    values = jnp.array([0.5, 1.0, 1.5, 2.0])
    dones = jnp.array([0.0, 1.0, 0.0, 0.0])
    adv, targets = transform(segment_advantages)(rewards, values, dones, 10.0, 0.9, 0.5)
    np.testing.assert_allclose(adv, [1.85, 1.0, 8.25, 11.0], rtol=1e-6)
    np.testing.assert_allclose(targets, [2.35, 2.0, 9.75, 13.0], rtol=1e-6)
    # a whole episode (done at its last step) ignores the bootstrap: the episodic GAE
    end = jnp.array([0.0, 0.0, 0.0, 1.0])
    whole, _ = segment_advantages(rewards, values, end, 1e6, 0.9, 0.5)
    episodic, _ = generalized_advantages(rewards, values, jnp.ones(4), 0.9, 0.5)
    np.testing.assert_allclose(whole, episodic, rtol=1e-6)
    batched = jax.jit(jax.vmap(segment_advantages, (None, None, None, 0, None, None)))
    adv, _ = batched(rewards, values, dones, jnp.array([10.0, 0.0]), 0.9, 0.5)
    np.testing.assert_allclose(adv[:, 3], [11.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(adv[:, :2], [[1.85, 1.0], [1.85, 1.0]], rtol=1e-6)


@pytest.fixture(scope="module")
def cartpole():
    """CartPole cut at H = 3: a random policy never falls within 3 steps, so every episode
    ends at the horizon (the rollout's own reset) and pays 1 per step."""
    env, env_params = make("CartPole-v1", horizon=3)
    return env, env_params, mlp_categorical(4, 2, hidden=(4,))


def test_segment_rollout_carries_episodes_across_segments(cartpole):
    env, env_params, policy = cartpole
    seg_rollout = make_segment_rollout(env, policy, num_envs=2, length=4)
    params = policy.init(jax.random.key(0))
    rollout = jax.jit(seg_rollout.rollout)
    carry = seg_rollout.reset(jax.random.key(1), env_params)
    carry, first = rollout(jax.random.key(2), carry, params, env_params)
    np.testing.assert_array_equal(first.step, [[0, 1, 2, 0]] * 2)
    np.testing.assert_array_equal(first.done, [[0, 0, 1, 0]] * 2)
    np.testing.assert_array_equal(first.traj.latent_reward, np.ones((2, 4)))
    np.testing.assert_array_equal(carry.step, [1, 1])
    np.testing.assert_array_equal(carry.last_return, [3.0, 3.0])
    np.testing.assert_array_equal(carry.episode_return, [1.0, 1.0])
    obs = np.asarray(first.traj.obs)  # [E, T, 4]
    assert np.all(np.abs(obs[:, [0, 3]]) <= 0.05)  # fresh starts (reset within +-0.05)
    assert np.any(np.abs(obs[:, [1, 2]]) > 0.05)  # not reset mid-episode (x_dot moves)
    carry_2, second = rollout(jax.random.key(3), carry, params, env_params)
    np.testing.assert_array_equal(second.step, [[1, 2, 0, 1]] * 2)
    np.testing.assert_array_equal(second.traj.obs[:, 0], carry.obs)  # continues where it was
    np.testing.assert_array_equal(carry_2.step, [2, 2])


def test_segment_batch_bootstraps_at_the_segment_end(cartpole):
    """A critic V(s, h) = 10 + h, gamma = 0.9, lambda = 0.5, rewards 1, episodes of 3 steps.
    Segment 1 (h = 0, 1, 2, 0; bootstrap V(s_4, 1) = 11): deltas 0.9, 0.8, 1 - 12 = -11 (done),
    0.9, so A = (0.9 + 0.45 A_1, 0.8 + 0.45 * -11, -11, 0.9) = (-0.9675, -4.15, -11, 0.9).
    Segment 2 (h = 1, 2, 0, 1; bootstrap 12): A = (-4.15, -11, 0.9 + 0.45 * 0.8, 0.8)."""
    env, env_params, policy = cartpole
    critic = Critic(lambda key: jnp.zeros(()), lambda p, obs, h: 10.0 + h + p)
    setup = ppo_setup(env, policy, num_envs=2, segment_length=4, num_minibatches=2, critic=critic)
    hp = ppo_hparams(3e-4, discount=0.9, gae_lambda=0.5)
    state = ppo_init(setup, jax.random.key(0), env_params=env_params)
    batch_fn = jax.jit(lambda k, s: segment_batch(setup, k, s, hp, env_params))
    batch, state, mean_return = batch_fn(jax.random.key(1), state)
    expected = np.array([-0.9675, -4.15, -11.0, 0.9])
    np.testing.assert_allclose(batch.advantages, np.tile(expected, 2), atol=1e-5)
    np.testing.assert_allclose(batch.targets, batch.advantages + 10.0 + batch.steps, atol=1e-5)
    assert batch.traj.obs.shape == (8, 4)  # single steps, E T of them
    assert int(state.counts.trajectories) == 2 and int(state.env_steps) == 8
    np.testing.assert_allclose(mean_return, 3.0)
    batch, state, _ = batch_fn(jax.random.key(2), state)
    expected = np.array([-4.15, -11.0, 1.26, 0.8])
    np.testing.assert_allclose(batch.advantages, np.tile(expected, 2), atol=1e-5)
    assert int(state.counts.trajectories) == 4 and int(state.env_steps) == 16


def test_annealed_step_size_follows_the_schedule():
    """alpha_i = alpha max(1 - i / U, 0): PureJaxRL's linear annealing over U = 976 updates."""
    iterations = jnp.array([0, 1, 488, 975, 976, 2000])
    anneal = jax.jit(jax.vmap(lambda i: annealed_step_size(2.5e-4, i, 976)))
    np.testing.assert_allclose(
        anneal(iterations), 2.5e-4 * np.array([1, 975 / 976, 0.5, 1 / 976, 0, 0]), rtol=1e-6
    )
    assert annealed_step_size(2.5e-4, 10**6, None) == 2.5e-4


def test_the_update_takes_the_annealed_step(small_tabular):
    """Iteration 0 of an annealed PPO is the constant-step update; at i >= U it does not move."""
    env, env_params, policy = small_tabular
    static = dict(num_envs=4, num_epochs=1, num_minibatches=2)
    constant = make_ppo_update(env, policy, **static)
    annealed = make_ppo_update(env, policy, **static, anneal_iterations=3)
    state, hp, key = constant.init(jax.random.key(0)), constant.hparams(), jax.random.key(1)
    first, _ = jax.jit(constant.update)(key, state, hp, env_params, None)
    update = jax.jit(annealed.update)
    at_0, _ = update(key, state, hp, env_params, None, 0)
    at_3, _ = update(key, state, hp, env_params, None, 3)
    np.testing.assert_array_equal(at_0.params, first.params)
    np.testing.assert_array_equal(at_3.params, state.params)
    assert not np.allclose(at_0.params, state.params)


@pytest.fixture(scope="module")
def small_tabular():
    env, env_params = make("GridWorld", size=3, horizon=3)
    return env, env_params, tabular_softmax(env.num_states, env.num_actions)


def test_segments_and_annealing_are_reachable_from_a_spec():
    raw = tiny_raw(
        environment={"name": "CartPole-v1", "horizon": 8},
        grid={},
        algorithms=[
            {
                "name": "ppo_true_reward",
                "static": {
                    "num_envs": 2,
                    "segment_length": 4,
                    "num_minibatches": 2,
                    "anneal_iterations": 4,
                    "critic": "stationary_mlp",
                    "policy.hidden": [8],
                },
            }
        ],
    )
    (cell,) = build_cells(spec_from_dict(raw))
    assert cell.columns["static.segment_length"].tolist() == [4]
    assert cell.columns["static.anneal_iterations"].tolist() == [4]
    state = cell.algorithm.init(jax.random.key(0), None, cell.env_params, None)
    assert state.envs.step.shape == (2,) and int(state.env_steps) == 0
    assert state.critic_params["params"]["Dense_0"]["kernel"].shape == (4, 64)  # no h / H input


def test_stationary_critic_ignores_the_step(cartpole):
    env, _, _ = cartpole
    critic, timed = make_critic(env, "stationary_mlp"), make_critic(env)
    assert (critic.name, timed.name) == ("stationary_mlp_critic", "mlp_critic")
    shift = lambda params: jax.tree.map(lambda x: x + 0.1, params)  # a non-zero output layer
    obs = jnp.array([0.01, 0.2, -0.03, 0.1])
    params, timed_params = (
        shift(critic.init(jax.random.key(0))),
        shift(timed.init(jax.random.key(0))),
    )
    assert critic.value(params, obs, 0) == critic.value(params, obs, 2) != 0.0
    assert timed.value(timed_params, obs, 0) != timed.value(timed_params, obs, 2)


@pytest.mark.parametrize(
    "static, match",
    [
        (dict(segment_length=0), "segment_length must be >= 1, got 0"),
        (dict(segment_length=3, num_minibatches=4), "must divide num_envs \\* segment_length 6"),
        (dict(anneal_iterations=0), "anneal_iterations must be >= 1, got 0"),
    ],
)
def test_bad_segment_settings_raise_before_compilation(cartpole, static, match):
    env, _, policy = cartpole
    with pytest.raises(ValueError, match=match):
        ppo(env, policy, num_envs=2, **{"num_minibatches": 2, **static})
    with pytest.raises(ValueError, match="needs the true reward"):
        make_ppo_update(env, policy, num_envs=2, reward_fn=lambda p, t: t.valid, segment_length=2)


@pytest.mark.slow
def test_ppo_on_segments_solves_cartpole_at_purejaxrl_settings():
    """PureJaxRL's CartPole-v1 settings (benchmarks/bench_ppo_cartpole.py; over its 10 seeds the
    final returns were 479-500): two seeds end above 450 (Monte Carlo, 32 episodes, of 500)."""
    env, env_params = make("CartPole-v1")
    policy = mlp_categorical(4, 2)
    algo = ppo(
        env,
        policy,
        num_envs=4,
        segment_length=128,
        anneal_iterations=976,
        critic="stationary_mlp",
    )
    hp = algo.hparams(step_size=2.5e-4, discount=0.99, entropy_coef=0.01)
    evaluator = monte_carlo_policy_evaluator(env, policy, eval_episodes=32)
    chunked = make_chunked_run(algo, records_per_chunk=1, eval_every=976, evaluator=evaluator)

    def final_value(key):
        carry, _ = chunked.start(key, hp, env_params, None)
        return chunked.advance(carry, hp, env_params, None)[1]["value"][-1]

    values = jax.jit(jax.vmap(final_value))(jax.random.split(jax.random.key(0), 2))
    assert np.all(np.asarray(values) > 450), values
