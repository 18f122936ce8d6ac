"""PPO, REINFORCE and OpenAI-ES on a reward function: the true-reward ceilings learn the default
GridWorld; GAE, returns and the clipped loss against hand-computed values; sweeps compile once;
the reward_fn contract of the RLHF pipeline; validation before compilation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms.evolution import evolution_strategies
from zoprl.algorithms.policy_gradient import discounted_returns, generalized_advantages, make_critic
from zoprl.algorithms.ppo import clipped_surrogate_loss, make_ppo_update, ppo
from zoprl.algorithms.reinforce import make_reinforce_update, reinforce
from zoprl.algorithms.run import make_run
from zoprl.envs import TabularMDP, make, random_mdp_params
from zoprl.evaluators import monte_carlo_policy_evaluator
from zoprl.policies import mlp_categorical, tabular_softmax

J_STAR = 5.948  # default GridWorld (slip 0.1, H = 10); the uniform policy has J = 2.1446

# Budgets (trajectories = iterations x per-iteration rollouts), at key 0; a few seconds of CPU
# each, compile included. Measured fractions of J*: PPO 0.983, REINFORCE 0.980, OpenAI-ES 0.951.
LEARNING = {
    # name: (factory, T, required fraction of J*)
    "ppo": (lambda env, pol: ppo(env, pol, num_envs=32), 50, 0.95),  # 1600
    "reinforce": (lambda env, pol: reinforce(env, pol, num_envs=32), 100, 0.9),  # 3200
    "es": (
        lambda env, pol: evolution_strategies(env, pol, population_size=16, rollouts_per_member=2),
        100,
        0.85,
    ),  # 3200
}


@pytest.mark.parametrize("name", sorted(LEARNING))
def test_true_reward_ceiling_learns_default_gridworld(name, gridworld):
    env, env_params, policy = gridworld
    factory, iterations, fraction = LEARNING[name]
    algo = factory(env, policy)
    assert algo.name == f"{name}_true_reward" and algo.reads_latent_reward
    _, metrics = jax.jit(make_run(algo, iterations))(
        jax.random.key(0), algo.hparams(), env_params, None
    )
    value, gap = np.asarray(metrics["value"]), np.asarray(metrics["value_gap"])
    np.testing.assert_allclose(value[-1] + gap[-1], J_STAR, atol=1e-3)
    np.testing.assert_allclose(value[0], 2.1446, atol=1e-3)
    assert value[-1] >= fraction * J_STAR, (name, value[-1] / J_STAR)
    per_iteration = int(metrics["trajectories"][1])
    np.testing.assert_array_equal(
        metrics["trajectories"], np.arange(iterations + 1) * per_iteration
    )
    assert per_iteration == 32 and not np.any(metrics["queries"])


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_returns_and_gae_against_hand_computed_values(transform):
    """H = 4, the episode ends after step 2 (valid = 1, 1, 0, 0): the garbage rewards and values of
    the invalid steps are never used, and step 2 does not bootstrap."""
    rewards = jnp.array([1.0, 2.0, 7.0, 5.0])
    values = jnp.array([0.5, 1.0, 3.0, 4.0])
    valid = jnp.array([1.0, 1.0, 0.0, 0.0])
    returns = transform(discounted_returns)(rewards, valid, 0.9)
    np.testing.assert_allclose(returns, [1 + 0.9 * 2, 2, 0, 0], rtol=1e-6)
    # delta_2 = 2 - 1 = 1; delta_1 = 1 + 0.9 * 1 - 0.5 = 1.4; A_1 = 1.4 + 0.9 * 0.5 * 1 = 1.85
    adv, targets = transform(generalized_advantages)(rewards, values, valid, 0.9, 0.5)
    np.testing.assert_allclose(adv, [1.85, 1.0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(targets, [2.35, 2.0, 0, 0], rtol=1e-6)
    # no mask; lambda = 1: A = G - V; lambda = 0: one-step TD errors (V_{H+1} = 0)
    r, v, ones = jnp.array([1.0, 0.0, 2.0]), jnp.array([1.0, 2.0, 3.0]), jnp.ones(3)
    batched = jax.jit(jax.vmap(generalized_advantages, (None, None, None, None, 0)))
    adv, _ = batched(r, v, ones, 1.0, jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(adv, [[2, 0, -1], [2, 1, -1]], rtol=1e-6)


def test_clipped_surrogate_loss_against_hand_computed_value():
    """rho = 1.5, 0.5, 1.1, 2.0; A = 1, -2, 3, 10; eps = 0.2; the last step is invalid:
    min(1.5, 1.2) = 1.2, min(-1.0, -1.6) = -1.6, min(3.3, 3.3) = 3.3, so L = -(2.9 / 3)."""
    log_ratio = jnp.log(jnp.array([1.5, 0.5, 1.1, 2.0]))
    advantages = jnp.array([1.0, -2.0, 3.0, 10.0])
    valid = jnp.array([1.0, 1.0, 1.0, 0.0])
    loss = jax.jit(clipped_surrogate_loss)(log_ratio, advantages, valid, 0.2)
    np.testing.assert_allclose(loss, -2.9 / 3, rtol=1e-6)
    grid = jax.vmap(clipped_surrogate_loss, (None, None, None, 0))(
        log_ratio, advantages, valid, jnp.array([0.2, 10.0])
    )
    np.testing.assert_allclose(grid[1], -(1.5 - 1.0 + 3.3) / 3, rtol=1e-6)  # no clipping


@pytest.fixture(scope="module")
def small():
    env = TabularMDP(4, 3, 3)
    env_params = random_mdp_params(jax.random.key(0), 4, 3, 2, horizon=3)
    return env, env_params, tabular_softmax(4, 3)


SWEEPS = {
    # name: (factory, hparams grid of 2 points)
    "ppo": (
        lambda e, p: ppo(e, p, num_envs=8, num_epochs=2, num_minibatches=2),
        dict(step_size=[0.01, 0.1], clip_eps=[0.1, 0.3]),
    ),
    "ppo-segments": (
        lambda e, p: ppo(
            e, p, num_envs=2, num_epochs=1, num_minibatches=2, segment_length=5, anneal_iterations=3
        ),
        dict(step_size=[0.01, 0.1], clip_eps=[0.1, 0.3]),
    ),
    "reinforce-mean": (
        lambda e, p: reinforce(e, p, num_envs=8, baseline="mean"),
        dict(step_size=[0.01, 0.1], discount=[1.0, 0.9]),
    ),
    "es": (
        lambda e, p: evolution_strategies(e, p, population_size=4, rollouts_per_member=2),
        dict(learning_rate=[0.05, 0.2], sigma=[0.3, 1.0]),
    ),
}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_sweep_over_seeds_and_grid_compiles_once(small, name):
    """3 seeds x 2 grid points in one program (PPO, with whole episodes or with the environments
    carried between segments: equal to a single run)."""
    env, env_params, policy = small
    factory, grid = SWEEPS[name]
    algo = factory(env, policy)
    run = make_run(algo, 4)
    chex.clear_trace_counter()  # counts are kept per code object
    counted = chex.assert_max_traces(run, n=1)  # a second trace raises
    sweep = jax.jit(jax.vmap(jax.vmap(counted, (0, None, None, None)), (None, 0, None, None)))
    hp, keys = algo.hparams(**grid), jax.random.split(jax.random.key(1), 3)
    _, metrics = sweep(keys, hp, env_params, None)
    sweep(jax.random.split(jax.random.key(2), 3), hp, env_params, None)
    assert sweep._cache_size() == 1
    assert metrics["value"].shape == (2, 3, 5)
    assert np.all(np.isfinite(metrics["value"]))
    if name.startswith("ppo"):  # one single run (another compile): the plumbing is shared
        _, m = jax.jit(run)(keys[2], jax.tree.map(lambda x: x[1], hp), env_params, None)
        for field in ("value", "mean_return", "approx_kl"):
            np.testing.assert_allclose(metrics[field][1, 2], m[field], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "factory",
    [
        lambda e, p, f: make_ppo_update(e, p, num_envs=8, num_minibatches=2, reward_fn=f),
        lambda e, p, f: make_reinforce_update(e, p, num_envs=8, reward_fn=f),
    ],
    ids=["ppo", "reinforce"],
)
def test_update_reads_rewards_only_through_reward_fn(small, factory):
    """The RLHF contract: with a reward model phi[s, a] the update does not depend on what the
    environment pays, mean_return is the model's, and one update costs num_envs rollouts."""
    env, env_params, policy = small
    updater = factory(env, policy, lambda phi, traj: phi[traj.obs, traj.action])
    phi = jax.random.normal(jax.random.key(3), (4, 3))
    start = updater.init(jax.random.key(0), policy_params=jnp.ones((4, 3)))
    np.testing.assert_array_equal(start.params, jnp.ones((4, 3)))
    update = jax.jit(updater.update)
    outs = [
        update(jax.random.key(1), start, updater.hparams(), env_params.replace(reward=r), phi)
        for r in (env_params.reward, 100.0 * env_params.reward - 7.0)
    ]
    (state, _), (other, _) = outs
    jax.tree.map(np.testing.assert_array_equal, state.params, other.params)
    assert not np.allclose(state.params, start.params)
    assert int(state.counts.trajectories) == 8 and int(state.counts.queries) == 0
    _, info = update(jax.random.key(1), start, updater.hparams(), env_params, jnp.full((4, 3), 2.0))
    np.testing.assert_allclose(info.mean_return, 2.0 * 3, rtol=1e-6)  # r = 2 at each of H = 3


@pytest.mark.parametrize("name", ["ppo", "es"])
def test_gymnax_environment_with_mlp_critic(name):
    """CartPole (early termination, Monte Carlo metrics): PPO picks the MLP critic by itself."""
    env, env_params = make("CartPole-v1", horizon=20)
    policy = mlp_categorical(4, 2, hidden=(8,))
    algo = {
        "ppo": lambda: ppo(env, policy, num_envs=4, num_minibatches=2),
        "es": lambda: evolution_strategies(
            env, policy, population_size=4, common_random_numbers=True
        ),
    }[name]()
    evaluator = monte_carlo_policy_evaluator(env, policy, eval_episodes=8)
    final, metrics = jax.jit(make_run(algo, 2, evaluator=evaluator))(
        jax.random.key(0), algo.hparams(), env_params, None
    )
    assert np.all((metrics["value"] > 0) & (metrics["value"] <= 20))
    assert np.isnan(metrics["mean_return"][0]) and np.all(np.isfinite(metrics["mean_return"][1:]))
    if name == "ppo":
        assert make_critic(env).name == "mlp_critic"
        assert isinstance(final.critic_params, dict)


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda e, p: ppo(e, p, num_envs=8).hparams(clip_eps=0.0), "clip_eps must be > 0, got 0"),
        (
            lambda e, p: ppo(e, p, num_envs=8).hparams(step_size=[0.1, -1.0]),
            "step_size must be > 0, got -1",
        ),
        (
            lambda e, p: ppo(e, p, num_envs=8).hparams(gae_lambda=1.5),
            r"gae_lambda must lie in \[0.0, 1.0\], got 1.5",
        ),
        (lambda e, p: ppo(e, p, num_envs=8).hparams(discount=-0.1), "discount must lie in"),
        (
            lambda e, p: ppo(e, p, num_envs=8).hparams(entropy_coef=-1.0),
            "entropy_coef must be >= 0, got -1",
        ),
        (lambda e, p: ppo(e, p, num_envs=0), "num_envs must be >= 1, got 0"),
        (
            lambda e, p: ppo(e, p, num_envs=8, num_minibatches=3),
            "num_minibatches 3 must divide num_envs 8",
        ),
        (lambda e, p: ppo(e, p, num_envs=8, num_epochs=0), "num_epochs must be >= 1, got 0"),
        (lambda e, p: ppo(e, p, num_envs=8, max_grad_norm=0.0), "max_grad_norm must be > 0, got 0"),
        (lambda e, p: ppo(e, p, num_envs=8, critic="linear"), "unknown critic 'linear'"),
        (lambda e, p: ppo(e, tabular_softmax(3, 3), num_envs=8), "is for 3 states"),
        (lambda e, p: reinforce(e, p, num_envs=8, baseline="zero"), "unknown baseline 'zero'"),
        (lambda e, p: reinforce(e, p, num_envs=1, baseline="mean"), "num_envs must be >= 2, got 1"),
        (lambda e, p: reinforce(e, p, num_envs=8).hparams(step_size=0.0), "step_size must be > 0"),
        (
            lambda e, p: evolution_strategies(e, p, population_size=1),
            "population_size must be >= 2",
        ),
        (lambda e, p: evolution_strategies(e, p, population_size=5), "must be even"),
        (
            lambda e, p: evolution_strategies(e, p, population_size=4, rollouts_per_member=0),
            "rollouts_per_member must be >= 1, got 0",
        ),
        (
            lambda e, p: evolution_strategies(e, p, population_size=4).hparams(sigma=0.0),
            "sigma must be > 0, got 0",
        ),
        (lambda e, p: make_critic(make("CartPole-v1")[0], "tabular"), "needs a finite environment"),
    ],
)
def test_bad_input_raises_before_compilation(small, bad, match):
    env, _, policy = small
    with pytest.raises(ValueError, match=match):
        bad(env, policy)
