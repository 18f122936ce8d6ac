"""The RLHF baseline (reward inference + PPO): online beats offline when the behaviour policy
covers the goal poorly, query and trajectory accounting, the online schedule under vmap, the
reward-free guarantee, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms import make_chunked_run, make_run, vmap_runs
from zoprl.algorithms.rlhf import RLHFHparams, RLHFState, rlhf
from zoprl.envs import Bandit
from zoprl.oracles import make_oracle, oracle_params
from zoprl.policies import tabular_softmax

# GridWorld experiment: T = 100 iterations, online collection every k = 10 iterations of N = 64
# pairs (10 collections, counting the one in init), M = 4 votes per pair; the offline variant
# gets all D = 640 pairs at once, so both ask 2560 queries and sample 2 x 640 + 100 x 64 = 7680
# trajectories.
T, K, N, M, ENVS = 100, 10, 64, 4, 64
COLLECTIONS = 1 + (T - 1) // K
BIAS = 3.0  # behaviour logits: +3 on "up" and "left", 0 on "right" and "down"


def biased_behaviour(env):
    """pi_b(up) = pi_b(left) = 0.48 in every cell: from the top-left start it rarely leaves the
    corner (J(pi_b) = 0.28 against 2.14 for the uniform policy and J* = 5.95)."""
    return jnp.zeros((env.num_states, env.num_actions)).at[:, 0].set(BIAS).at[:, 3].set(BIAS)


@pytest.mark.slow  # about a minute on 2 cores: T = 100 iterations of two learners
def test_online_beats_offline_when_the_behaviour_policy_misses_the_goal(gridworld):
    """Same query budget (2560), same trajectories (7680), same key, PPO step size 0.02 from the
    uniform policy. The offline reward model only knows the top-left corner, so PPO on it settles
    on a poor deterministic policy; the online one follows the current policy towards the goal.
    Measured at key 0 (after the bulk-uniform rollouts of issue 8): online J = 5.11, offline
    J = 3.03 (J* = 5.95; at keys 1-5 online 4.72, 5.36, 5.75, 5.46, 4.32 and offline 2.87-3.31,
    so the margin holds at every key, the 0.85 J* bar at key 0 by 0.05). Required: online J >=
    offline J + 1.5 and online J >= 0.85 J*."""
    env, env_params, policy = gridworld
    oracle = make_oracle("logistic", M)
    common = dict(
        num_envs=ENVS,
        fit_steps=100,
        initial_fit_steps=500,
        batch_size=64,
        behaviour_params=biased_behaviour(env),
    )
    offline = rlhf(env, policy, oracle, num_pairs=N * COLLECTIONS, **common)
    online = rlhf(
        env,
        policy,
        oracle,
        num_pairs=N,
        online=True,
        refit_every=K,
        buffer_capacity=N * COLLECTIONS,
        **common,
    )
    results = {}
    for algo in (offline, online):
        hp = algo.hparams(step_size=0.02, reward_step_size=0.05)
        _, metrics = jax.jit(make_run(algo, T))(
            jax.random.key(0), hp, env_params, oracle_params("noisy")
        )
        results[algo.name] = {k: np.asarray(v) for k, v in metrics.items()}
    off, on = results["rlhf_ppo_offline"], results["rlhf_ppo_online"]
    j_star = on["value"][-1] + on["value_gap"][-1]
    for m in (off, on):
        assert int(m["queries"][-1]) == N * COLLECTIONS * M
        assert int(m["trajectories"][-1]) == 2 * N * COLLECTIONS + T * ENVS
    assert on["value"][-1] >= off["value"][-1] + 1.5, (on["value"][-1], off["value"][-1])
    assert on["value"][-1] >= 0.85 * j_star


@pytest.fixture(scope="module")
def bandit():
    env = Bandit(4)
    return env, env.make_params(np.array([[0.0, 1.0, 2.0, 3.0]])), tabular_softmax(1, 4)


def test_online_schedule_accounting_and_vmap_over_seeds(bandit):
    """Collections at init and before the updates of iterations 3 and 6 (k = 3, T = 7, counted
    from 0; metrics entry i + 1 is after iteration i, entry 0 the initial state): per
    collection 2 N trajectories and N M queries, plus PPO's rollouts; the buffer fills and wraps.
    vmap over two seeds equals the runs one by one; diagnostics are NaN at iteration 0."""
    env, env_params, policy = bandit
    algo = rlhf(
        env,
        policy,
        make_oracle("logistic", 3),
        num_pairs=5,
        num_envs=8,
        online=True,
        refit_every=3,
        buffer_capacity=12,
        fit_steps=5,
        batch_size=4,
        num_minibatches=2,
        num_epochs=1,
    )
    assert algo.name == "rlhf_ppo_online" and not algo.reads_latent_reward
    run = make_run(algo, 7)
    hp = algo.hparams()
    keys = jax.random.split(jax.random.key(0), 2)
    final, metrics = jax.jit(jax.vmap(run, (0, None, None, None)))(
        keys, hp, env_params, oracle_params("noisy")
    )
    assert {"reward_loss", "policy_loss", "clip_fraction", "mean_return"} <= set(metrics)
    pairs = np.array([5, 5, 5, 5, 10, 10, 10, 15])
    np.testing.assert_array_equal(metrics["queries"], np.tile(3 * pairs, (2, 1)))
    np.testing.assert_array_equal(
        metrics["trajectories"], np.tile(2 * pairs + 8 * np.arange(8), (2, 1))
    )
    assert np.isnan(metrics["pairs_collected"][:, 0]).all()
    np.testing.assert_array_equal(metrics["pairs_collected"][0, 1:], [0, 0, 0, 5, 0, 0, 5])
    np.testing.assert_array_equal(metrics["buffer_size"][0, 1:], [5, 5, 5, 10, 10, 10, 12])
    np.testing.assert_array_equal(final.buffer.position, [3, 3])
    jax.tree.map(np.testing.assert_array_equal, final.params, final.ppo_state.params)
    one, single = jax.jit(run)(keys[1], hp, env_params, oracle_params("noisy"))
    np.testing.assert_allclose(single["value"], metrics["value"][1], atol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b[1], atol=1e-5),
        one.reward_params,
        final.reward_params,
    )


def test_offline_collects_once_and_sweeps_reward_hparams(bandit):
    """Offline: D pairs charged in init, none after; the reward model stays frozen. A grid of two
    reward step sizes runs in one program and broadcasts PPO's scalars to the grid."""
    env, env_params, policy = bandit
    algo = rlhf(
        env,
        policy,
        make_oracle("logistic", 2),
        num_pairs=16,
        num_envs=8,
        reward_model="linear",
        fit_steps=20,
        batch_size=8,
        num_minibatches=2,
    )
    assert algo.name == "rlhf_ppo_offline" and not algo.reads_latent_reward
    hp = algo.hparams(reward_step_size=[0.01, 0.1], reward_l2=0.01)
    assert isinstance(hp, RLHFHparams) and hp.reward_l2.shape == (2,)
    assert all(np.shape(x) == (2,) for x in hp.ppo)
    run = jax.jit(jax.vmap(make_run(algo, 3), (None, 0, None, None)))
    final, metrics = run(jax.random.key(1), hp, env_params, oracle_params("noisy"))
    assert isinstance(final, RLHFState)
    np.testing.assert_array_equal(metrics["queries"], 32)
    np.testing.assert_array_equal(metrics["trajectories"], [[32, 40, 48, 56]] * 2)
    np.testing.assert_array_equal(metrics["pairs_collected"][:, 1:], 0)
    # the larger step size moved the linear reward model further from zero
    norms = np.linalg.norm(np.asarray(final.reward_params).reshape(2, -1), axis=1)
    assert norms[1] > norms[0] > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(reward_model="quadratic"), "'quadratic'.*tabular, linear, mlp"),
        (dict(reward_features=3), "reward_features applies to the reward model kinds"),
        (dict(buffer_capacity=8, batch_size=16), "buffer_capacity 8 is smaller than batch_size 16"),
        (dict(buffer_capacity=8, num_pairs=10), "buffer_capacity 8 is smaller than num_pairs 10"),
        (dict(num_pairs=0), "num_pairs must be >= 1, got 0"),
        (dict(refit_every=0), "refit_every must be >= 1, got 0"),
        (dict(fit_steps=-1), "fit_steps must be >= 1, got -1"),
        (dict(batch_size=2.5), "batch_size must be an integer"),
    ],
)
def test_bad_construction_raises(kwargs, message, bandit):
    env, _, policy = bandit
    settings = dict(num_pairs=8, num_envs=4, batch_size=4, online=True)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rlhf(env, policy, make_oracle("logistic", 1), **settings)


def test_bad_hparams_raise(bandit):
    env, _, policy = bandit
    algo = rlhf(env, policy, make_oracle("logistic", 1), num_pairs=8, num_envs=4, batch_size=4)
    with pytest.raises(ValueError, match="reward step_size must be > 0, got 0"):
        algo.hparams(reward_step_size=0.0)
    with pytest.raises(ValueError, match="reward l2 must be >= 0, got -0.5"):
        algo.hparams(reward_l2=-0.5)
    with pytest.raises(ValueError, match="step_size must be > 0, got -1"):
        algo.hparams(step_size=-1.0)


def test_refresh_runs_only_on_refresh_iterations_under_a_vmapped_sweep(bandit):
    """The engine vmaps runs with the iteration unbatched, so the refresh branch (collection and
    refit) executes on iterations k, 2k, ... only, not on every iteration as a select would: an
    oracle that counts its calls is called 2 times in 9 iterations at k = 3, for 4 runs at once."""
    env, env_params, policy = bandit
    base = make_oracle("logistic", 2)
    calls = []

    def counting_query(key, traj_a, traj_b, params):
        jax.debug.callback(lambda: calls.append(1))
        return base.query(key, traj_a, traj_b, params)

    oracle = base._replace(query=counting_query)
    algo = rlhf(
        env,
        policy,
        oracle,
        num_pairs=4,
        num_envs=4,
        online=True,
        refit_every=3,
        fit_steps=2,
        batch_size=4,
        num_minibatches=2,
        num_epochs=1,
    )
    start, advance = vmap_runs(make_chunked_run(algo, records_per_chunk=9))
    runs = 4
    grow = lambda tree: jax.tree.map(lambda x: jnp.broadcast_to(x, (runs,) + jnp.shape(x)), tree)
    args = (grow(algo.hparams()), env_params, grow(oracle_params("noisy")))
    carry, _ = jax.jit(start)(jax.random.split(jax.random.key(0), runs), *args)
    jax.effects_barrier()
    calls.clear()
    carry, metrics = jax.jit(advance)(carry, *args)
    jax.effects_barrier()
    assert len(calls) == 2
    np.testing.assert_array_equal(metrics["pairs_collected"][0], [0, 0, 0, 4, 0, 0, 4, 0, 0])
    assert int(carry.iteration) == 9
