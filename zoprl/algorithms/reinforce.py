"""REINFORCE with a baseline (Williams 1992) on a reward function; a true-reward ceiling.

One iteration (``update``): collect E = ``num_envs`` trajectories of pi_theta, per-step rewards
r_h = valid_h reward_fn(reward_params, tau)_h (default: the true latent reward), returns-to-go
G_h = sum_{k >= h} gamma^{k-h} r_k, and one Adam step (global-norm clipped, learning rate
``step_size``) on

    L = -(1/E) sum_n sum_h valid_h log pi_theta(a_h | s_h, h) (G_h - b_h)
        + c_V mean_h (V(s_h, h) - G_h)^2 / 2,

whose first term's gradient is, for gamma = 1 and any b_h not depending on a_h, a_{h+1}, ...,
an unbiased estimate of -grad J(theta) (the policy-gradient theorem with causality). Baselines:

  "critic"  b_h = V(s_h, h), the learned critic of ``policy_gradient`` (fitted by the second
            term, on the same Adam step; gradients do not flow from b into the policy term);
  "mean"    b_{n,h} = (1 / (E - 1)) sum_{m != n} G_{m,h}, the leave-one-out batch mean at step h
            (unbiased, since it does not depend on trajectory n); no critic is trained.

Counts: E trajectories per iteration, no queries. With ``reward_fn=None`` the algorithm reads the
latent reward: it is a ceiling, named "reinforce_true_reward" and not reward-free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm, descent_step
from zoprl.algorithms.policy_gradient import (
    Critic,
    critic_values,
    discounted_returns,
    init_actor_critic,
    leave_one_out_mean,
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

BASELINES = ("critic", "mean")


class ReinforceHparams(NamedTuple):
    """Sweepable scalars: step_size (Adam, > 0), discount (in [0, 1]), value_coef (>= 0)."""

    step_size: jax.Array
    discount: jax.Array
    value_coef: jax.Array


class ReinforceState(NamedTuple):
    params: Any  # the policy's
    critic_params: Any  # None with the "mean" baseline
    opt_state: Any  # Adam's, over (params, critic_params)
    counts: Counts


class ReinforceInfo(NamedTuple):
    policy_loss: jax.Array  # the surrogate's value (its gradient is the estimate)
    value_loss: jax.Array  # 0 with the "mean" baseline
    entropy: jax.Array  # mean policy entropy over valid steps
    mean_return: jax.Array  # of the reward_fn rewards


class ReinforceUpdate(NamedTuple):
    init: Callable  # (key, policy_params=None, env_params=None) -> ReinforceState
    update: Callable  # (key, state, hp, env_params, reward_params, iteration=0) -> (state, info)
    hparams: Callable  # (**overrides) -> ReinforceHparams


def make_reinforce_update(
    env,
    policy,
    *,
    num_envs: int,
    reward_fn: Callable | None = None,
    baseline: str = "critic",
    critic: str | Critic | None = None,
    max_grad_norm: float | None = None,
) -> ReinforceUpdate:
    """REINFORCE's (init, update, hparams) for a static setting (module doc).

    reward_fn: (reward_params, traj) -> per-step rewards [num_envs, H]; None: the true reward.
    baseline: "critic" (learned V(s, h)) or "mean" (leave-one-out batch mean; num_envs >= 2).
    critic: a Critic, "tabular", "mlp", or None (the environment's default; see policy_gradient).
    """
    check_compatible(policy, env)
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
    num_envs = check_int("num_envs", num_envs, minimum=2 if baseline == "mean" else 1)
    critic = make_critic(env, critic) if baseline == "critic" else None
    optimizer = make_optimizer(max_grad_norm)
    collect = make_collect(env, policy, num_envs, reward_fn)
    returns_to_go = jax.vmap(discounted_returns, (0, 0, None))
    default_step = 0.1 if getattr(env, "is_finite", False) else 1e-3

    def hparams(step_size=None, discount=1.0, value_coef=0.5) -> ReinforceHparams:
        """Validated hyperparameters; scalars or grids, broadcast to one common shape. Default
        step size: 0.1 on finite environments (tabular policies), 1e-3 otherwise."""
        return make_hparams(
            ReinforceHparams,
            positive=("step_size",),
            unit=("discount",),
            nonnegative=("value_coef",),
            step_size=default_step if step_size is None else step_size,
            discount=discount,
            value_coef=value_coef,
        )

    def init(key, policy_params=None, env_params=None) -> ReinforceState:
        """env_params: unused (the updater protocol of ``updater_algorithm``)."""
        params, critic_params, opt_state = init_actor_critic(
            key, policy, critic, optimizer, policy_params
        )
        return ReinforceState(params, critic_params, opt_state, Counts.zero())

    def loss(joint, traj, returns, hp: ReinforceHparams):
        params, critic_params = joint
        valid = traj.valid
        log_prob, entropy = log_probs_and_entropy(policy, params, traj)
        if critic is None:
            baseline_values, value_loss = leave_one_out_mean(returns), jnp.zeros(())
        else:
            values = critic_values(critic, critic_params, traj)
            baseline_values = jax.lax.stop_gradient(values)
            value_loss = 0.5 * masked_mean((values - returns) ** 2, valid)
        advantages = (returns - baseline_values) * valid
        policy_loss = -jnp.mean(jnp.sum(log_prob * advantages, axis=-1))
        total = policy_loss + hp.value_coef * value_loss
        return total, (policy_loss, value_loss, masked_mean(entropy, valid))

    def update(
        key, state: ReinforceState, hp: ReinforceHparams, env_params, reward_params, iteration=0
    ):
        """One update; ``iteration`` is unused (no schedule)."""
        traj, rewards = collect(key, state.params, env_params, reward_params)
        returns = returns_to_go(rewards, traj.valid, hp.discount)
        joint = (state.params, state.critic_params)
        grads, stats = jax.grad(loss, has_aux=True)(joint, traj, returns, hp)
        (params, critic_params), opt_state = descent_step(
            optimizer, grads, state.opt_state, joint, hp.step_size
        )
        info = ReinforceInfo(*stats, jnp.mean(jnp.sum(rewards, axis=-1)))
        counts = state.counts.add(trajectories=num_envs)
        return ReinforceState(params, critic_params, opt_state, counts), info

    return ReinforceUpdate(init, update, hparams)


def reinforce(
    env,
    policy,
    reward_fn: Callable | None = None,
    *,
    num_envs: int = 128,
    baseline: str = "critic",
    critic: str | Critic | None = None,
    max_grad_norm: float | None = None,
) -> Algorithm:
    """REINFORCE as an Algorithm: "reinforce_true_reward" (a ceiling) when ``reward_fn`` is None,
    else "reinforce" on ``reward_fn(None, traj)``."""
    updater = make_reinforce_update(
        env,
        policy,
        num_envs=num_envs,
        reward_fn=reward_fn,
        baseline=baseline,
        critic=critic,
        max_grad_norm=max_grad_norm,
    )
    return updater_algorithm("reinforce", env, policy, updater, reward_fn)
