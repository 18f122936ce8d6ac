"""ZPG, ZBCPG and ZSPO: learning on the default GridWorld, sweeps, accounting, validation and
the reward-free guarantee."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms import make_run, zbcpg, zpg, zspo
from zoprl.envs import TabularMDP, make, random_mdp_params
from zoprl.evaluators import monte_carlo_policy_evaluator
from zoprl.oracles import Feedback, Oracle, make_oracle, oracle_params, utility_model
from zoprl.policies import mlp_categorical, tabular_softmax

# Budgets: N = 256 pairs, M = 10 queries per pair, T iterations: T = 1000 is 512k trajectories
# and 2.56M queries. About 15 s of CPU each (compile included) on the 2-core CI machine.
# Measured at these keys: ZPG 0.96, ZBCPG 0.95, ZSPO (probit oracle) 0.94 of J*.
LEARNING = {
    # name: (factory, extra kwargs, oracle link, hparams, T, required fraction of J*)
    "zpg": (zpg, {}, "logistic", dict(step_size=0.1, mu=2.0, clip_range=3.0), 1000, 0.9),
    "zbcpg": (
        zbcpg,
        {"block_size": 20},
        "logistic",
        dict(step_size=0.1, mu=2.0, clip_range=3.0),
        1000,
        0.9,
    ),
    "zspo-probit": (zspo, {}, "probit", dict(step_size=0.8, mu=3.0), 2000, 0.8),
}


@pytest.mark.parametrize("name", sorted(LEARNING))
def test_learns_default_gridworld(name, gridworld):
    """From the uniform policy (J = 2.14) to a fraction of J* = 5.95 on the stochastic GridWorld
    (slip 0.1) with a Bradley-Terry (beta = 1) oracle; ZSPO's oracle uses a probit link that it
    is never told about (link mismatch)."""
    env, env_params, policy = gridworld
    factory, kwargs, link, hp, iterations, fraction = LEARNING[name]
    algo = factory(env, policy, make_oracle(link, 10), num_pairs=256, **kwargs)
    _, metrics = jax.jit(make_run(algo, iterations))(
        jax.random.key(0), algo.hparams(**hp), env_params, oracle_params("noisy")
    )
    value, gap = np.asarray(metrics["value"]), np.asarray(metrics["value_gap"])
    j_star = value[-1] + gap[-1]
    np.testing.assert_allclose(value[0], 2.1446, atol=1e-3)
    assert value[-1] >= fraction * j_star, (name, value[-1], j_star)
    assert int(metrics["queries"][-1]) == iterations * 256 * 10
    assert int(metrics["trajectories"][-1]) == iterations * 2 * 256


@pytest.fixture(scope="module")
def small():
    env = TabularMDP(4, 3, 3)
    env_params = random_mdp_params(jax.random.key(0), 4, 3, 2, horizon=3)
    return env, env_params, tabular_softmax(4, 3)


def test_sweep_compiles_once_and_matches_single_runs(small):
    """8 seeds x a 2x2 grid of (step size, mu) in one program, equal to the 32 runs one by one."""
    env, env_params, policy = small
    algo = zpg(env, policy, make_oracle("logistic", 4), num_pairs=8)
    run = make_run(algo, 6)
    grid = list(itertools.product([0.05, 0.2], [0.1, 0.5]))
    hp = algo.hparams(step_size=[g[0] for g in grid], mu=[g[1] for g in grid])
    keys = jax.random.split(jax.random.key(1), 8)
    oracle = oracle_params("noisy")
    chex.clear_trace_counter()  # counts are kept per code object
    counted = chex.assert_max_traces(run, n=1)  # a second trace raises
    sweep = jax.jit(jax.vmap(jax.vmap(counted, (0, None, None, None)), (None, 0, None, None)))
    _, metrics = sweep(keys, hp, env_params, oracle)
    _, again = sweep(jax.random.split(jax.random.key(2), 8), hp, env_params, oracle)
    assert sweep._cache_size() == 1
    assert metrics["value"].shape == (4, 8, 7)

    single = jax.jit(run)
    for g, s in itertools.product(range(4), range(8)):
        _, m = single(keys[s], jax.tree.map(lambda x, g=g: x[g], hp), env_params, oracle)
        for field in ("value", "grad_norm_sq", "value_gap", "value_difference_estimate"):
            np.testing.assert_allclose(metrics[field][g, s], m[field], atol=1e-5, rtol=0)
        np.testing.assert_array_equal(metrics["queries"][g, s], m["queries"])


@pytest.mark.parametrize(
    "options",
    [
        dict(num_directions=3),
        dict(two_sided=True, common_random_numbers=True),
        dict(direction="gaussian"),
        dict(direction="rademacher", num_directions=2),
    ],
)
def test_options_account_for_every_trajectory_and_query(small, options):
    env, env_params, policy = small
    algo = zpg(env, policy, make_oracle("logistic", 5), num_pairs=4, **options)
    _, metrics = jax.jit(make_run(algo, 3))(
        jax.random.key(0), algo.hparams(), env_params, oracle_params("skip")
    )
    k = options.get("num_directions", 1)
    np.testing.assert_array_equal(metrics["trajectories"], np.arange(4) * 2 * k * 4)
    np.testing.assert_array_equal(metrics["queries"], np.arange(4) * k * 4 * 5)  # skips count
    assert np.all(np.isfinite(metrics["value"]))


def test_common_random_numbers_reduce_estimate_variance(small):
    """With CRN the two members of a pair share their noise, so D varies less across keys."""
    env, env_params, policy = small
    spread = {}
    for crn in (False, True):
        algo = zpg(
            env, policy, make_oracle("logistic", 1000), num_pairs=32, common_random_numbers=crn
        )
        state = algo.init(jax.random.key(0), None, env_params, None)
        steps = jax.jit(jax.vmap(algo.step, (0, None, None, None, None, None)))
        _, info = steps(
            jax.random.split(jax.random.key(1), 400),
            state,
            algo.hparams(mu=0.05),
            env_params,
            oracle_params("noisy"),
            0,
        )
        spread[crn] = float(np.std(info.value_difference_estimate))
    assert spread[True] < 0.5 * spread[False], spread


def test_monte_carlo_metrics_on_gymnax_environment():
    env, env_params = make("CartPole-v1", horizon=30)
    policy = mlp_categorical(4, 2, hidden=(8,))
    algo = zspo(env, policy, make_oracle("logistic", 3), num_pairs=4)
    evaluator = monte_carlo_policy_evaluator(env, policy, eval_episodes=16)
    _, metrics = jax.jit(make_run(algo, 2, evaluator=evaluator))(
        jax.random.key(0), algo.hparams(), env_params, oracle_params("noisy")
    )
    assert set(metrics) >= {"value", "value_stderr", "queries", "trajectories"}
    assert "grad_norm_sq" not in metrics
    assert np.all((metrics["value"] > 0) & (metrics["value"] <= 30))


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda a: a.hparams(mu=0.0), "mu must be > 0, got 0"),
        (lambda a: a.hparams(step_size=[0.1, -1.0]), "step_size must be > 0, got -1"),
        (lambda a: a.hparams(clip_range=-1.0), "clip_range must be >= 0"),
        (lambda a: a.hparams(mu=1e-46), "mu must be > 0"),  # 0 once cast to float32
        (lambda a: a.hparams(step_size=1e39), "step_size must be > 0, got inf"),
        (lambda a: zpg(a.env, a.policy, make_oracle("logistic", 1), num_pairs=0), "num_pairs"),
        (lambda a: make_oracle("logistic", 0), "num_queries"),
        (
            lambda a: zbcpg(
                a.env, a.policy, make_oracle("logistic", 1), num_pairs=2, block_size=13
            ),
            r"block_size must lie in \[1, d = 12\], got 13",
        ),
        (
            lambda a: zbcpg(a.env, a.policy, make_oracle("logistic", 1), num_pairs=2, block_size=0),
            "block_size must be >= 1",
        ),
        (
            lambda a: zbcpg(
                a.env,
                a.policy,
                make_oracle("logistic", 1),
                num_pairs=2,
                block_size=5,
                block_law="partition",
            ),
            "must divide d = 12",
        ),
        (
            lambda a: zpg(
                a.env, a.policy, make_oracle("logistic", 1), num_pairs=2, direction="cube"
            ),
            "unknown direction law 'cube'",
        ),
        (
            lambda a: zpg(
                a.env, a.policy, make_oracle("logistic", 1), num_pairs=2, assumed_link="tanh"
            ),
            "tanh",
        ),
    ],
)
def test_bad_input_raises_before_compilation(small, bad, match):
    env, _, policy = small
    algo = zpg(env, policy, make_oracle("logistic", 2), num_pairs=2)
    with pytest.raises(ValueError, match=match):
        bad(algo)


def test_reward_free_step_depends_on_rewards_only_through_the_oracle(small):
    """An oracle that ignores rewards gives the same update whatever the environment pays."""
    env, env_params, policy = small

    def query(key, traj_a, traj_b, params):  # a batch of pairs, one key
        votes = jnp.sum(traj_b.action == 0, axis=-1).astype(jnp.float32)  # a reward-blind rule
        ones = jnp.ones_like(votes)
        return Feedback(votes, 3.0 * ones, ones, jnp.zeros(votes.shape, bool))

    blind = Oracle(lambda a, b, p: 0.5, query, 3, utility_model("logistic"))
    teacher = oracle_params("noisy")
    for make_algo in (
        lambda: zpg(env, policy, blind, num_pairs=8),
        lambda: zspo(env, policy, blind, num_pairs=8),
    ):
        algo = make_algo()
        assert not algo.reads_latent_reward
        state = algo.init(jax.random.key(0), None, env_params, None)
        step = jax.jit(algo.step)
        outs = [
            step(
                jax.random.key(1),
                state,
                algo.hparams(clip_range=3.0),
                env_params.replace(reward=r),
                teacher,
                0,
            )[0].params
            for r in (env_params.reward, 100.0 * env_params.reward - 7.0)
        ]
        np.testing.assert_array_equal(outs[0], outs[1])
        assert not np.allclose(outs[0], state.params)
