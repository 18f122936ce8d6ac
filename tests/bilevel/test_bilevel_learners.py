"""The bilevel RLHF learners (float64, see conftest): the sampled gradients of the penalty method
are unbiased for the exact ones (within 5 standard errors at fixed keys), the exact-gradient
mode reduces ||grad F|| by at least 100x with lambda growing, the double loop moves nu on every
K-th iteration only, every query and trajectory is counted, and the exact-hypergradient ceiling
descends F. Tiny MDPs (S = 3, A = 2, H = 2) keep the compiles short."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bilevel_testing import tiny_learner_setting

from zoprl.algorithms import bilevel_decoupled, bilevel_hypergradient, bilevel_penalty
from zoprl.algorithms.bilevel_penalty import exact_gradients, sampled_gradients
from zoprl.bilevel.finite import exact_problem
from zoprl.bilevel.hypergradient import hypergradient_unrolled
from zoprl.bilevel.problem import reward_model_table
from zoprl.envs import make
from zoprl.oracles import oracle_params
from zoprl.policies import tabular_softmax

S, A, H = 3, 2, 2
NUM_KEYS = 4000


@pytest.fixture(scope="module")
def setting():
    env, env_params, policy, oracle = tiny_learner_setting(S, A, H)
    return env, env_params, policy, oracle, oracle_params("noisy", mistake=0.1)


def random_state(algorithm, env_params, op, seed):
    """The penalty method's state with random z, theta, nu and a random reference."""
    hp = algorithm.hparams(kl_coef=0.7)
    state = algorithm.init(jax.random.key(seed), hp, env_params, op)
    keys = jax.random.split(jax.random.key(seed + 1), 4)
    draw = lambda k, x: x + 0.8 * jax.random.normal(k, x.shape, x.dtype)
    return hp, state._replace(
        params=draw(keys[0], state.params),
        penalty_params=draw(keys[1], state.params),
        reward_params=draw(keys[2], state.reward_params),
        reference_params=draw(keys[3], state.reference_params),
    )


def test_sampled_gradients_are_unbiased_for_the_exact_ones(setting):
    env, env_params, policy, oracle, op = setting
    algorithm = bilevel_penalty(env, policy, oracle, num_pairs=4, num_envs=4)
    setup = algorithm.step.args[0]
    exact_setup = setup._replace(reward_table=reward_model_table(setup.model, S, A))
    hp, state = random_state(algorithm, env_params, op, seed=3)
    exact = jax.jit(lambda: exact_gradients(exact_setup, None, state, hp, env_params, op))()
    sample = jax.vmap(lambda k: sampled_gradients(setup, k, state, hp, env_params, op))
    sampled = jax.jit(sample)(jax.random.split(jax.random.key(0), NUM_KEYS))
    assert int(sampled.counts.queries[0]) == 4 * 3 and int(sampled.counts.trajectories[0]) == 12
    for name in ("upper_theta", "upper_nu", "lower_theta", "lower_nu_at_theta", "lower_z",
                 "lower_nu_at_z"):  # fmt: skip
        draws, want = np.asarray(getattr(sampled, name)), np.asarray(getattr(exact, name))
        mean, se = draws.mean(0), draws.std(0, ddof=1) / np.sqrt(NUM_KEYS)
        z = np.abs(mean - want) / np.maximum(se, 1e-12)
        assert np.all(z < 5.0), (name, z.max(), mean, want)
    for name in ("upper_value", "lower_value_theta", "lower_value_z"):
        draws, want = np.asarray(getattr(sampled, name)), float(getattr(exact, name))
        assert abs(draws.mean() - want) < 5 * draws.std(ddof=1) / np.sqrt(NUM_KEYS), name


def hypergradient_norm(algorithm, env_params, op, state, hp):
    setup = algorithm.step.args[0]
    problem = exact_problem(
        setup.env, setup.policy, setup.oracle, env_params, op, state.reference_params,
        hp.kl_coef, hp.ridge,
    )  # fmt: skip
    reward_fn = reward_model_table(setup.model, S, A)
    grad = hypergradient_unrolled(reward_fn, problem, state.reward_params)
    return jnp.linalg.norm(grad)


def test_exact_mode_reduces_the_hypergradient_by_100x(setting):
    env, env_params, policy, oracle, op = setting
    algorithm = bilevel_penalty(env, policy, oracle, num_pairs=2, num_envs=2, exact=True)
    assert algorithm.reads_latent_reward
    hp = algorithm.hparams(
        policy_step_size=5.0, penalty_step_size=5.0, reward_step_size=1.0, penalty=1.0,
        penalty_growth=0.5, kl_coef=1.0,
    )  # fmt: skip

    @jax.jit
    def run(key):
        state = algorithm.init(key, hp, env_params, op)
        start = hypergradient_norm(algorithm, env_params, op, state, hp)

        def body(state, k):
            return algorithm.step(jax.random.key(0), state, hp, env_params, op, k)[0], None

        state, _ = jax.lax.scan(body, state, jnp.arange(400))
        return start, hypergradient_norm(algorithm, env_params, op, state, hp), state

    start, end, state = run(jax.random.key(1))
    assert float(state.penalty) == pytest.approx(400**0.5, rel=1e-6)
    assert int(state.counts.queries) == 0 and int(state.counts.trajectories) == 0
    assert float(end) <= float(start) / 100, (float(start), float(end))


def test_double_loop_moves_nu_every_kth_iteration_and_counts(setting):
    env, env_params, policy, oracle, op = setting
    algorithm = bilevel_penalty(env, policy, oracle, num_pairs=4, num_envs=6, inner_steps=3)
    hp = algorithm.hparams(reward_step_size=0.1)

    @jax.jit
    def run(key):
        state = algorithm.init(key, hp, env_params, op)

        def body(state, k):
            new, info = algorithm.step(jax.random.fold_in(key, k), state, hp, env_params, op, k)
            moved = jnp.any(new.reward_params != state.reward_params)
            return new, (moved, info.reward_updated)

        return jax.lax.scan(body, state, jnp.arange(6))

    state, (moved, updated) = run(jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(moved), [False, False, True, False, False, True])
    np.testing.assert_array_equal(np.asarray(updated), [0, 0, 1, 0, 0, 1])
    assert int(state.counts.trajectories) == 6 * (2 * 4 + 6)
    assert int(state.counts.queries) == 6 * 4 * 3


def test_decoupled_counts_and_the_exact_ceiling_descends_f(setting):
    env, env_params, policy, oracle, op = setting
    online = bilevel_decoupled(env, policy, oracle, num_pairs=4, num_envs=5)
    offline = bilevel_decoupled(env, policy, oracle, num_pairs=8, num_envs=5, online=False)
    ceiling = bilevel_hypergradient(env, policy, oracle)
    assert (online.name, offline.name) == ("bilevel_decoupled_online", "bilevel_decoupled_offline")
    assert ceiling.reads_latent_reward and not online.reads_latent_reward

    def run(algorithm, hp, steps):
        def body(state, k):
            return algorithm.step(jax.random.key(k), state, hp, env_params, op, k)

        state = algorithm.init(jax.random.key(0), hp, env_params, op)
        return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)

    state, _ = run(online, online.hparams(), 2)
    assert (int(state.counts.trajectories), int(state.counts.queries)) == (2 * (8 + 5), 2 * 12)
    state, _ = run(offline, offline.hparams(), 2)
    assert (int(state.counts.trajectories), int(state.counts.queries)) == (16 + 2 * 5, 24)
    state, infos = run(ceiling, ceiling.hparams(reward_step_size=0.2, kl_coef=1.0), 3)
    values = np.asarray(infos.hyperobjective)
    assert values[2] < values[1] < values[0] and int(state.counts.queries) == 0


def test_bad_settings_raise(setting):
    env, _, policy, oracle, _ = setting
    with pytest.raises(ValueError, match="reference_action_logits"):
        bilevel_penalty(env, policy, oracle, num_pairs=2, num_envs=2, reference_action_logits=[1.0])
    with pytest.raises(ValueError, match="time-dependent"):
        bilevel_hypergradient(env, tabular_softmax(S, A), oracle)
    grid, _ = make("GridWorld")
    with pytest.raises(ValueError, match="2048 trajectories"):
        bilevel_penalty(grid, tabular_softmax(25, 4), oracle, num_pairs=2, num_envs=2, exact=True)
