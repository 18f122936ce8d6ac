"""PPO on a reward function: the policy optimiser of the RLHF baseline, and a true-reward ceiling.

Proximal policy optimisation (Schulman et al. 2017, arXiv 1707.06347) with GAE (Schulman et al.
2016, arXiv 1506.02438). One iteration (``update``):

  1. collect experience of the current policy pi_old, in one of two ways (static):
     - whole episodes (default): E = ``num_envs`` trajectories of H steps; per-step rewards
       r_h = valid_h reward_fn(reward_params, tau)_h (default: the true latent reward);
     - segments (``segment_length`` = T; true reward only): E environments that run on between
       iterations (their state lives in ``PPOState.envs``); each iteration takes the next T
       steps of each, episodes ending and auto-resetting inside (PureJaxRL's collection,
       ``zoprl.algorithms.segments``);
  2. advantages A and value targets by GAE(gamma, lambda) under the critic V(s, h): whole
     episodes with no bootstrapping past the horizon or a terminated step
     (``policy_gradient``); segments bootstrapped with V at the observation after the segment,
     the done flags cutting the bootstrap (``segments``);
  3. ``num_epochs`` passes over the batch, each shuffled into ``num_minibatches`` minibatches
     (of whole trajectories; of single steps with segments, as PureJaxRL); on each minibatch one
     Adam step (global-norm clipped, learning rate alpha_i) on the loss, means over valid steps:

       L = -mean_h min(rho_h A_h, clip(rho_h, 1 - eps, 1 + eps) A_h)         (clipped surrogate)
           + c_V mean_h (V(s_h, h) - target_h)^2 / 2 - c_H mean_h entropy(pi(. | s_h, h)),

     rho_h = pi_theta(a_h | s_h, h) / pi_old(a_h | s_h, h), and A normalised to mean 0 and
     standard deviation 1 over the minibatch's valid steps (``normalize_advantages``).

The learning rate of iteration i (0-based: the ``iteration`` the algorithm's step receives) is
alpha_i = ``step_size``, or with ``anneal_iterations`` = U the linear annealing
alpha_i = step_size max(1 - i / U, 0) (PureJaxRL's ``ANNEAL_LR``, U its number of updates).

Policy and critic share one Adam state (their parameters are disjoint, so Adam's per-coordinate
scaling makes c_V matter mainly through the gradient clipping). Counts, no queries: whole
episodes count E trajectories per iteration; segments count the episodes that ended during the
iteration (one in flight counts in the iteration it ends in), so that ``trajectories`` means
episodes sampled in both modes. The ``env_steps`` diagnostic is cumulative: the valid steps of
the whole episodes, or E T per iteration with segments. With ``reward_fn=None`` the algorithm
reads the latent reward: it is a ceiling, named "ppo_true_reward" and not reward-free.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.algorithms.policy_gradient import (
    Critic,
    critic_values,
    descent_step,
    episode_steps,
    generalized_advantages,
    init_actor_critic,
    log_probs_and_entropy,
    make_collect,
    make_critic,
    make_optimizer,
    masked_mean,
    true_reward,
    updater_algorithm,
)
from zoprl.algorithms.segments import SegmentRollout, make_segment_rollout, segment_advantages
from zoprl.oracles.accounting import Counts
from zoprl.policies.base import check_compatible
from zoprl.trajectory import Trajectory
from zoprl.validation import check_int, make_hparams


class PPOHparams(NamedTuple):
    """Sweepable scalars: step_size (Adam, > 0), clip_eps (> 0), gae_lambda and discount (in
    [0, 1]), value_coef and entropy_coef (>= 0)."""

    step_size: jax.Array
    clip_eps: jax.Array
    gae_lambda: jax.Array
    discount: jax.Array
    value_coef: jax.Array
    entropy_coef: jax.Array


class PPOState(NamedTuple):
    params: Any  # the policy's
    critic_params: Any
    opt_state: Any  # Adam's, over (params, critic_params)
    counts: Counts
    env_steps: jax.Array  # int32: environment steps taken so far (module doc)
    envs: Any = None  # segments: the environments between iterations (EnvCarry); else None


class PPOInfo(NamedTuple):
    """Means over the iteration's epochs and minibatches; mean_return: whole episodes, the mean
    reward_fn return of the iteration's trajectories; segments, the mean over environments of
    each one's latest completed episode's return (PureJaxRL's logged ``returned_episode_returns``;
    0 before one completes)."""

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # mean of (rho - 1) - log rho, an estimate of KL(pi_old || pi_theta)
    clip_fraction: jax.Array  # fraction of valid steps with |rho - 1| > eps
    mean_return: jax.Array
    env_steps: jax.Array  # cumulative, after this iteration (int32)


class PPOUpdate(NamedTuple):
    init: Callable  # (key, policy_params=None, env_params=None) -> PPOState
    update: Callable  # (key, state, hp, env_params, reward_params, iteration=0) -> (state, info)
    hparams: Callable  # (**overrides) -> PPOHparams


class PPOBatch(NamedTuple):
    """What the epochs learn from. Leading axis: the units minibatches are drawn from (whole
    trajectories, leaves [E, H, ...]; or the single steps of segments, leaves [E T, ...])."""

    traj: Trajectory  # observations, actions, pi_old's log-probabilities, validity
    steps: jax.Array  # h: each step's index within its episode
    advantages: jax.Array
    targets: jax.Array


def clipped_surrogate_loss(log_ratio, advantages, valid, clip_eps):
    """-mean over valid steps of min(rho A, clip(rho, 1 - eps, 1 + eps) A), rho = exp(log_ratio)."""
    chex.assert_equal_shape([log_ratio, advantages, valid])
    ratio = jnp.exp(log_ratio)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -masked_mean(jnp.minimum(ratio * advantages, clipped * advantages), valid)


def standardize_advantages(advantages, valid):
    """(A - mean) / (std + 1e-8), both over valid steps; 0 at invalid steps."""
    mean = masked_mean(advantages, valid)
    std = jnp.sqrt(masked_mean((advantages - mean) ** 2, valid))
    return valid * (advantages - mean) / (std + 1e-8)


def annealed_step_size(step_size, iteration, anneal_iterations: int | None):
    """alpha_i = step_size max(1 - i / U, 0) for U = ``anneal_iterations`` (module doc), or
    ``step_size`` when U is None; i = ``iteration`` (0-based)."""
    if anneal_iterations is None:
        return step_size
    left = jnp.maximum(anneal_iterations - jnp.asarray(iteration, jnp.int32), 0)  # exact
    return step_size * (left.astype(jnp.float32) / anneal_iterations)


def ppo_loss(policy, critic: Critic, normalize: Callable, joint, batch: PPOBatch, hp: PPOHparams):
    """(L, (policy loss, value loss, entropy, approx KL, clip fraction)) of the module doc on a
    minibatch at joint = (policy, critic) params."""
    params, critic_params = joint
    traj, steps = batch.traj, batch.steps
    valid = traj.valid
    log_prob, entropy = log_probs_and_entropy(policy, params, traj, steps)
    log_ratio = (log_prob - traj.log_prob) * valid
    policy_loss = clipped_surrogate_loss(
        log_ratio, normalize(batch.advantages, valid), valid, hp.clip_eps
    )
    values = critic_values(critic, critic_params, traj, steps)
    value_loss = 0.5 * masked_mean((values - batch.targets) ** 2, valid)
    entropy = masked_mean(entropy, valid)
    total = policy_loss + hp.value_coef * value_loss - hp.entropy_coef * entropy
    ratio = jnp.exp(log_ratio)
    approx_kl = masked_mean(ratio - 1.0 - log_ratio, valid)
    clip_fraction = masked_mean((jnp.abs(ratio - 1.0) > hp.clip_eps).astype(ratio.dtype), valid)
    return total, (policy_loss, value_loss, entropy, approx_kl, clip_fraction)


class PPOSetup(NamedTuple):
    """The static pieces one PPO variant is wired from (built by ``make_ppo_update``)."""

    policy: Any
    critic: Critic
    optimizer: Any
    collect: Callable | None  # whole episodes (None with segments)
    normalize: Callable
    num_envs: int
    num_epochs: int
    num_minibatches: int
    segments: SegmentRollout | None = None  # segments (None: whole episodes)
    anneal_iterations: int | None = None
    default_env_params: Any = None  # what segments reset with when init gets no env params


def ppo_hparams(
    default_step: float,
    step_size=None,
    clip_eps=0.2,
    gae_lambda=0.95,
    discount=1.0,
    value_coef=0.5,
    entropy_coef=0.0,
) -> PPOHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape (step size:
    ``default_step`` unless given)."""
    return make_hparams(
        PPOHparams,
        positive=("step_size", "clip_eps"),
        unit=("gae_lambda", "discount"),
        nonnegative=("value_coef", "entropy_coef"),
        step_size=default_step if step_size is None else step_size,
        clip_eps=clip_eps,
        gae_lambda=gae_lambda,
        discount=discount,
        value_coef=value_coef,
        entropy_coef=entropy_coef,
    )


def ppo_init(setup: PPOSetup, key, policy_params=None, env_params=None) -> PPOState:
    """Policy, critic, Adam; with segments also the E environments, reset (``env_params``
    default: the environment's)."""
    if setup.segments is None:
        params, critic_params, opt_state = init_actor_critic(
            key, setup.policy, setup.critic, setup.optimizer, policy_params
        )
        return PPOState(params, critic_params, opt_state, Counts.zero(), jnp.int32(0))
    k_init, k_envs = jax.random.split(key)
    params, critic_params, opt_state = init_actor_critic(
        k_init, setup.policy, setup.critic, setup.optimizer, policy_params
    )
    env_params = setup.default_env_params if env_params is None else env_params
    envs = setup.segments.reset(k_envs, env_params)
    return PPOState(params, critic_params, opt_state, Counts.zero(), jnp.int32(0), envs)


def episode_batch(setup: PPOSetup, key, state: PPOState, hp, env_params, reward_params):
    """Whole episodes and their GAE -> (PPOBatch [E, H], state with counts, mean return)."""
    traj, rewards = setup.collect(key, state.params, env_params, reward_params)
    values = critic_values(setup.critic, state.critic_params, traj)
    gae = jax.vmap(generalized_advantages, (0, 0, 0, None, None))
    advantages, targets = gae(rewards, values, traj.valid, hp.discount, hp.gae_lambda)
    batch = PPOBatch(traj, episode_steps(traj), advantages, targets)
    state = state._replace(
        counts=state.counts.add(trajectories=setup.num_envs),
        env_steps=state.env_steps + jnp.sum(traj.valid).astype(jnp.int32),
    )
    return batch, state, jnp.mean(jnp.sum(rewards, axis=-1))


def segment_batch(setup: PPOSetup, key, state: PPOState, hp, env_params):
    """The next segment of every environment and its bootstrapped GAE -> (PPOBatch [E T] of
    single steps, state with the environments and counts, mean return)."""
    envs, seg = setup.segments.rollout(key, state.envs, state.params, env_params)
    values = critic_values(setup.critic, state.critic_params, seg.traj, seg.step)  # [E, T]
    bootstrap = jax.vmap(setup.critic.value, (None, 0, 0))(state.critic_params, envs.obs, envs.step)
    gae = jax.vmap(segment_advantages, (0, 0, 0, 0, None, None))
    rewards = true_reward(None, seg.traj)
    advantages, targets = gae(rewards, values, seg.done, bootstrap, hp.discount, hp.gae_lambda)
    steps_flat = lambda x: x.reshape(-1, *x.shape[2:])  # [E, T, ...] -> [E T, ...]
    batch = jax.tree.map(steps_flat, PPOBatch(seg.traj, seg.step, advantages, targets))
    state = state._replace(
        counts=state.counts.add(trajectories=jnp.sum(seg.done).astype(jnp.int32)),
        env_steps=state.env_steps + seg.done.size,
        envs=envs,
    )
    return batch, state, jnp.mean(envs.last_return)


def ppo_epochs(setup: PPOSetup, key, state: PPOState, batch: PPOBatch, hp, step_size):
    """``num_epochs`` shuffled passes of minibatch Adam steps -> ((params, critic params), Adam
    state, per-minibatch stats [epochs, minibatches])."""
    num_units = batch.advantages.shape[0]

    def minibatch_step(carry, minibatch):
        joint, opt_state = carry
        grads, stats = jax.grad(ppo_loss, argnums=3, has_aux=True)(
            setup.policy, setup.critic, setup.normalize, joint, minibatch, hp
        )
        joint, opt_state = descent_step(setup.optimizer, grads, opt_state, joint, step_size)
        return (joint, opt_state), stats

    def epoch(carry, k):
        order = jax.random.permutation(k, num_units)
        split = lambda x: x[order].reshape(setup.num_minibatches, -1, *x.shape[1:])
        return jax.lax.scan(minibatch_step, carry, jax.tree.map(split, batch))

    carry = ((state.params, state.critic_params), state.opt_state)
    (joint, opt_state), stats = jax.lax.scan(epoch, carry, jax.random.split(key, setup.num_epochs))
    return joint, opt_state, stats


def ppo_update(
    setup: PPOSetup, key, state: PPOState, hp: PPOHparams, env_params, reward_params, iteration=0
):
    """One PPO iteration (module doc): collect, GAE, epochs x minibatches of Adam steps at the
    (annealed) step size of ``iteration``."""
    k_collect, k_shuffle = jax.random.split(key)
    if setup.segments is None:
        batch, state, mean_return = episode_batch(
            setup, k_collect, state, hp, env_params, reward_params
        )
    else:
        batch, state, mean_return = segment_batch(setup, k_collect, state, hp, env_params)
    step_size = annealed_step_size(hp.step_size, iteration, setup.anneal_iterations)
    (params, critic_params), opt_state, stats = ppo_epochs(
        setup, k_shuffle, state, batch, hp, step_size
    )
    info = PPOInfo(*(jnp.mean(s) for s in stats), mean_return, state.env_steps)
    state = state._replace(params=params, critic_params=critic_params, opt_state=opt_state)
    return state, info


def ppo_setup(
    env,
    policy,
    *,
    num_envs: int,
    num_epochs: int = 4,
    num_minibatches: int = 4,
    reward_fn: Callable | None = None,
    critic: str | Critic | None = None,
    max_grad_norm: float | None = 0.5,
    normalize_advantages: bool = True,
    segment_length: int | None = None,
    anneal_iterations: int | None = None,
) -> PPOSetup:
    """The validated static pieces of ``make_ppo_update`` (its doc); raises ValueError."""
    check_compatible(policy, env)
    num_envs = check_int("num_envs", num_envs)
    num_minibatches = check_int("num_minibatches", num_minibatches)
    segments = None
    if segment_length is not None:
        if reward_fn is not None:
            raise ValueError("segment_length needs the true reward (reward_fn None)")
        segments = make_segment_rollout(env, policy, num_envs, segment_length)
    units = num_envs if segments is None else num_envs * segments.length
    if units % num_minibatches:
        what = "num_envs" if segments is None else "num_envs * segment_length"
        raise ValueError(f"num_minibatches {num_minibatches} must divide {what} {units}")
    if anneal_iterations is not None:
        anneal_iterations = check_int("anneal_iterations", anneal_iterations)
    return PPOSetup(
        policy,
        make_critic(env, _default_critic(env, critic, segments)),
        make_optimizer(max_grad_norm),
        make_collect(env, policy, num_envs, reward_fn) if segments is None else None,
        standardize_advantages if normalize_advantages else (lambda a, v: a),
        num_envs,
        check_int("num_epochs", num_epochs),
        num_minibatches,
        segments,
        anneal_iterations,
        getattr(env, "default_params", None),
    )


def _default_critic(env, critic, segments):
    """The critic kind: as given, else on segments of a continuing non-finite environment the
    observation-only MLP (PureJaxRL's; with the time feature 2 of 10 CartPole seeds stalled,
    benchmarks/RESULTS.md), else ``make_critic``'s default."""
    if critic is None and segments is not None and not getattr(env, "is_finite", False):
        return "stationary_mlp"
    return critic


def make_ppo_update(env, policy, **static) -> PPOUpdate:
    """PPO's (init, update, hparams) for a static setting (module doc). Keyword-only ``static``:

    num_envs: E (required); num_epochs, num_minibatches: 4 and 4.
    reward_fn: (reward_params, traj) -> per-step rewards [num_envs, H]; None: the true reward.
    critic: a Critic, "tabular", "mlp", or None (tabular on finite environments, else MLP).
    max_grad_norm: global-norm clip of the joint gradient (0.5; None: no clipping).
    normalize_advantages: per-minibatch standardisation of A (True).
    segment_length: T, collect segments of T steps of continuing environments instead of whole
      episodes (needs reward_fn None); None: whole episodes.
    anneal_iterations: U, anneal the step size linearly to 0 over U iterations; None: constant.
    num_minibatches must divide num_envs (minibatches of whole trajectories), or with segments
    num_envs * segment_length (minibatches of single steps).
    Default step size: 0.03 on finite environments (tabular policies), 3e-4 otherwise.
    """
    setup = ppo_setup(env, policy, **static)
    default_step = 0.03 if getattr(env, "is_finite", False) else 3e-4
    return PPOUpdate(
        functools.partial(ppo_init, setup),
        functools.partial(ppo_update, setup),
        functools.partial(ppo_hparams, default_step),
    )


def ppo(
    env,
    policy,
    reward_fn: Callable | None = None,
    *,
    num_envs: int = 128,
    num_epochs: int = 4,
    num_minibatches: int = 4,
    critic: str | Critic | None = None,
    max_grad_norm: float | None = 0.5,
    normalize_advantages: bool = True,
    segment_length: int | None = None,
    anneal_iterations: int | None = None,
) -> Algorithm:
    """PPO as an Algorithm: "ppo_true_reward" (a ceiling) when ``reward_fn`` is None, else "ppo"
    on ``reward_fn(None, traj)`` (Python only). The rest: see ``make_ppo_update``; PureJaxRL's
    CartPole-v1 PPO is ``num_envs=4, segment_length=128, anneal_iterations=976,
    critic="stationary_mlp"`` with ``hparams(step_size=2.5e-4, discount=0.99,
    entropy_coef=0.01)`` (benchmarks/bench_ppo_cartpole.py)."""
    updater = make_ppo_update(
        env,
        policy,
        num_envs=num_envs,
        num_epochs=num_epochs,
        num_minibatches=num_minibatches,
        reward_fn=reward_fn,
        critic=critic,
        max_grad_norm=max_grad_norm,
        normalize_advantages=normalize_advantages,
        segment_length=segment_length,
        anneal_iterations=anneal_iterations,
    )
    return updater_algorithm("ppo", env, policy, updater, reward_fn)
