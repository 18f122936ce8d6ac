"""PPO on a reward function: the policy optimiser of the RLHF baseline, and a true-reward ceiling.

Proximal policy optimisation (Schulman et al. 2017, arXiv 1707.06347) with GAE (Schulman et al.
2016, arXiv 1506.02438). One iteration (``update``):

  1. collect E = ``num_envs`` trajectories of the current policy pi_old; per-step rewards
     r_h = valid_h reward_fn(reward_params, tau)_h (default: the true latent reward);
  2. advantages A_h and value targets by GAE(gamma, lambda) under the critic V(s, h), with no
     bootstrapping past the horizon or a terminated step (``policy_gradient``);
  3. ``num_epochs`` passes over the E trajectories, each shuffled into ``num_minibatches``
     minibatches; on each minibatch one Adam step (global-norm clipped, learning rate
     ``step_size``) on the loss, means taken over valid steps only:

       L = -mean_h min(rho_h A_h, clip(rho_h, 1 - eps, 1 + eps) A_h)         (clipped surrogate)
           + c_V mean_h (V(s_h, h) - target_h)^2 / 2 - c_H mean_h entropy(pi(. | s_h, h)),

     rho_h = pi_theta(a_h | s_h, h) / pi_old(a_h | s_h, h), and A normalised to mean 0 and
     standard deviation 1 over the minibatch's valid steps (``normalize_advantages``).

Policy and critic share one Adam state (their parameters are disjoint, so Adam's per-coordinate
scaling makes c_V matter mainly through the gradient clipping). Counts: E trajectories per
iteration, no queries. With ``reward_fn=None`` the algorithm reads the latent reward: it is a
ceiling, named "ppo_true_reward" and not reward-free.
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
    generalized_advantages,
    init_actor_critic,
    log_probs_and_entropy,
    make_collect,
    make_critic,
    make_optimizer,
    masked_mean,
    updater_algorithm,
)
from zoprl.oracles.accounting import Counts
from zoprl.policies.base import check_compatible
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


class PPOInfo(NamedTuple):
    """Means over the iteration's epochs and minibatches (mean_return: of the reward_fn rewards
    of the iteration's trajectories)."""

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # mean of (rho - 1) - log rho, an estimate of KL(pi_old || pi_theta)
    clip_fraction: jax.Array  # fraction of valid steps with |rho - 1| > eps
    mean_return: jax.Array


class PPOUpdate(NamedTuple):
    init: Callable  # (key, policy_params=None) -> PPOState
    update: Callable  # (key, state, hp, env_params, reward_params) -> (PPOState, PPOInfo)
    hparams: Callable  # (**overrides) -> PPOHparams


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


def ppo_loss(policy, critic: Critic, normalize: Callable, joint, batch, hp: PPOHparams):
    """(L, (policy loss, value loss, entropy, approx KL, clip fraction)) of the module doc on a
    minibatch (trajectories, advantages, value targets) at joint = (policy, critic) params."""
    params, critic_params = joint
    traj, advantages, targets = batch
    valid = traj.valid
    log_prob, entropy = log_probs_and_entropy(policy, params, traj)
    log_ratio = (log_prob - traj.log_prob) * valid
    policy_loss = clipped_surrogate_loss(
        log_ratio, normalize(advantages, valid), valid, hp.clip_eps
    )
    value_loss = 0.5 * masked_mean(
        (critic_values(critic, critic_params, traj) - targets) ** 2, valid
    )
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
    collect: Callable
    normalize: Callable
    num_envs: int
    num_epochs: int
    num_minibatches: int


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


def ppo_init(setup: PPOSetup, key, policy_params=None) -> PPOState:
    params, critic_params, opt_state = init_actor_critic(
        key, setup.policy, setup.critic, setup.optimizer, policy_params
    )
    return PPOState(params, critic_params, opt_state, Counts.zero())


def ppo_update(setup: PPOSetup, key, state: PPOState, hp: PPOHparams, env_params, reward_params):
    """One PPO iteration (module doc): collect, GAE, epochs x minibatches of Adam steps."""
    k_collect, k_shuffle = jax.random.split(key)
    traj, rewards = setup.collect(k_collect, state.params, env_params, reward_params)
    values = critic_values(setup.critic, state.critic_params, traj)
    gae = jax.vmap(generalized_advantages, (0, 0, 0, None, None))
    advantages, targets = gae(rewards, values, traj.valid, hp.discount, hp.gae_lambda)
    batch = (traj, advantages, targets)

    def minibatch_step(carry, minibatch):
        joint, opt_state = carry
        grads, stats = jax.grad(ppo_loss, argnums=3, has_aux=True)(
            setup.policy, setup.critic, setup.normalize, joint, minibatch, hp
        )
        joint, opt_state = descent_step(setup.optimizer, grads, opt_state, joint, hp.step_size)
        return (joint, opt_state), stats

    def epoch(carry, k):
        order = jax.random.permutation(k, setup.num_envs)
        split = lambda x: x[order].reshape(setup.num_minibatches, -1, *x.shape[1:])
        return jax.lax.scan(minibatch_step, carry, jax.tree.map(split, batch))

    carry = ((state.params, state.critic_params), state.opt_state)
    ((params, critic_params), opt_state), stats = jax.lax.scan(
        epoch, carry, jax.random.split(k_shuffle, setup.num_epochs)
    )
    info = PPOInfo(*(jnp.mean(s) for s in stats), jnp.mean(jnp.sum(rewards, axis=-1)))
    counts = state.counts.add(trajectories=setup.num_envs)
    return PPOState(params, critic_params, opt_state, counts), info


def make_ppo_update(
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
) -> PPOUpdate:
    """PPO's (init, update, hparams) for a static setting (module doc).

    reward_fn: (reward_params, traj) -> per-step rewards [num_envs, H]; None: the true reward.
    critic: a Critic, "tabular", "mlp", or None (tabular on finite environments, else MLP).
    max_grad_norm: global-norm clip of the joint gradient (None: no clipping).
    num_minibatches must divide num_envs (minibatches are sets of whole trajectories).
    Default step size: 0.03 on finite environments (tabular policies), 3e-4 otherwise.
    """
    check_compatible(policy, env)
    num_envs = check_int("num_envs", num_envs)
    num_minibatches = check_int("num_minibatches", num_minibatches)
    if num_envs % num_minibatches:
        raise ValueError(f"num_minibatches {num_minibatches} must divide num_envs {num_envs}")
    setup = PPOSetup(
        policy,
        make_critic(env, critic),
        make_optimizer(max_grad_norm),
        make_collect(env, policy, num_envs, reward_fn),
        standardize_advantages if normalize_advantages else (lambda a, v: a),
        num_envs,
        check_int("num_epochs", num_epochs),
        num_minibatches,
    )
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
) -> Algorithm:
    """PPO as an Algorithm: "ppo_true_reward" (a ceiling) when ``reward_fn`` is None, else "ppo"
    on ``reward_fn(None, traj)`` (Python only). The rest: see ``make_ppo_update``."""
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
    )
    return updater_algorithm("ppo", env, policy, updater, reward_fn)
