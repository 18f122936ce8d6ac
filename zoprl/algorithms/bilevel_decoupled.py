"""Decoupled RLHF on the KL-regularised objective of bilevel RLHF: the online and offline
baselines of the penalty method (arXiv 2410.15610, ``docs/methods.md`` section 7).

Both alternate a reward step and a policy step and ignore that the data distribution depends on
the reward (the term (d theta* / d nu)^T grad_theta f of the hypergradient):

  reward  ``fit_steps`` gradient steps of nu on the preference loss
              (1/N) sum_n answered_n l(R_nu(tau_n1) - R_nu(tau_n0), p_hat_n) + (rho / 2) ||nu||^2
          (maximum likelihood under Bradley-Terry with a ridge; ``zoprl.bilevel.estimators``);
  policy  one step z <- z + gamma_z g_z J_c(nu, z), the unbiased score-function estimate of the
          regularised lower-level gradient from E = ``num_envs`` fresh trajectories of pi_z.

  online   each iteration labels N = ``num_pairs`` fresh pairs of the current policy pi_z (both
           members i.i.d.; one batch of 2N + E trajectories gives the pairs and, disjoint from
           them, the E of the policy step) and fits on them: the decoupled online RLHF of the
           paper, zoprl's online RLHF generalised to the regularised objective (policy-gradient
           steps on J_c in place of PPO on the unregularised return).
  offline  ``init`` labels D = ``num_pairs`` pairs of pi_ref once; every reward step uses a
           minibatch of ``minibatch_size`` distinct pairs of that data set (all by default).

The reward and policy iterates start from the reward model's init and pi_ref. Counts: online,
2N + E trajectories and N M queries per iteration; offline, 2D trajectories and D M queries at
``init`` and E trajectories per iteration. Nothing here reads the latent reward.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm, ascent_update, descent_step
from zoprl.algorithms.bilevel_common import check_reference_logits, decayed, initial_reference
from zoprl.algorithms.dpo import random_minibatch
from zoprl.algorithms.optimizers import Optimizer, resolve_optimizer
from zoprl.bilevel.estimators import lower_surrogate, on_policy_pairs, pair_losses
from zoprl.bilevel.problem import resolve_reward_model, ridge_penalty
from zoprl.oracles.accounting import Counts
from zoprl.policies.base import check_compatible
from zoprl.preference_data import PreferenceBatch
from zoprl.reward_models.models import RewardModel
from zoprl.rollout import make_batch_rollout
from zoprl.validation import check_int, make_hparams


class DecoupledHparams(NamedTuple):
    """Sweepable scalars: the policy's and the reward's step sizes (> 0), the step-size decay
    exponent (>= 0), the KL weight c (> 0) and the ridge rho (>= 0)."""

    policy_step_size: jax.Array
    reward_step_size: jax.Array
    step_decay: jax.Array
    kl_coef: jax.Array
    ridge: jax.Array


class DecoupledState(NamedTuple):
    params: Any  # z, the policy
    reward_params: Any  # nu
    reference_params: Any  # pi_ref
    opt_state: Any  # (z's, nu's)
    data: PreferenceBatch | None  # offline: the data set; online: None
    counts: Counts


class DecoupledInfo(NamedTuple):
    upper_loss: jax.Array  # the reward loss on the iteration's first batch, before the fit
    lower_value: jax.Array  # the estimate of J_c(nu, z) (after the reward steps)


class DecoupledSetup(NamedTuple):
    """The static pieces of one variant (built by ``bilevel_decoupled``)."""

    policy: Any
    model: RewardModel
    oracle: Any
    rollout: Callable  # per iteration: online 2N + E trajectories of pi_z (pairs, then E), else E
    data_rollout: Callable | None  # offline: the 2D trajectories of pi_ref in ``init``
    optimizer: Any
    online: bool
    num_pairs: int
    batch_size: int
    fit_steps: int
    reference_logits: tuple | None


def reward_loss(model: RewardModel, nu, batch: PreferenceBatch, ridge) -> jax.Array:
    """The mean answered preference loss of r_nu on ``batch`` plus (rho / 2) ||nu||^2."""
    return jnp.mean(pair_losses(model, nu, batch)) + ridge_penalty(nu, ridge)


def fit_reward(setup: DecoupledSetup, key, nu, opt_state, data, hp, step_size):
    """``fit_steps`` gradient steps of nu on minibatches of ``data`` (``batch_size`` distinct
    pairs each, DPO's ``random_minibatch``)."""
    grad = jax.grad(functools.partial(reward_loss, setup.model))

    def one(carry, k):
        nu, opt_state = carry
        descent = grad(nu, random_minibatch(setup, k, data), hp.ridge)
        return descent_step(setup.optimizer, descent, opt_state, nu, step_size), None

    keys = jax.random.split(key, setup.fit_steps)
    return jax.lax.scan(one, (nu, opt_state), keys)[0]


def decoupled_init(setup: DecoupledSetup, key, hp, env_params, oracle_params):
    """z = pi_ref, nu from the reward model's init; offline, the data set of pi_ref."""
    k_policy, k_reward, k_data = jax.random.split(key, 3)
    reference = initial_reference(setup.policy, k_policy, setup.reference_logits)
    nu = setup.model.init(k_reward)
    data, counts = None, Counts.zero()
    if not setup.online:
        data, _, counts = on_policy_pairs(
            k_data,
            setup.data_rollout,
            setup.oracle,
            setup.num_pairs,
            reference,
            env_params,
            oracle_params,
        )
    opt_state = (setup.optimizer.init(reference), setup.optimizer.init(nu))
    return DecoupledState(reference, nu, reference, opt_state, data, counts)


def decoupled_step(
    setup: DecoupledSetup, key, state: DecoupledState, hp, env_params, oracle_params, iteration
):
    """The reward steps, then one regularised policy-gradient step (module doc)."""
    k_data, k_fit = jax.random.split(key)
    if setup.online:
        data, traj, new = on_policy_pairs(
            k_data,
            setup.rollout,
            setup.oracle,
            setup.num_pairs,
            state.params,
            env_params,
            oracle_params,
        )
    else:
        data, traj = state.data, setup.rollout(k_data, state.params, env_params)
        new = Counts.zero().add(traj.valid.shape[0])
    counts = state.counts.add(new.trajectories, new.queries)
    z_opt, nu_opt = state.opt_state
    first_batch = random_minibatch(setup, jax.random.split(k_fit, setup.fit_steps)[0], data)
    loss = reward_loss(setup.model, state.reward_params, first_batch, hp.ridge)
    reward_step = decayed(hp.reward_step_size, hp.step_decay, iteration)
    nu, nu_opt = fit_reward(setup, k_fit, state.reward_params, nu_opt, data, hp, reward_step)
    lower = functools.partial(lower_surrogate, setup.policy, setup.model)
    grad, value = jax.grad(lower, has_aux=True)(
        state.params, state.reference_params, nu, traj, hp.kl_coef
    )
    policy_step = decayed(hp.policy_step_size, hp.step_decay, iteration)
    z, z_opt = ascent_update(setup.optimizer, grad, z_opt, state.params, policy_step)
    new_state = DecoupledState(z, nu, state.reference_params, (z_opt, nu_opt), state.data, counts)
    return new_state, DecoupledInfo(loss, value)


def decoupled_hparams(
    policy_step_size=0.5, reward_step_size=0.5, step_decay=0.0, kl_coef=0.1, ridge=0.01
) -> DecoupledHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        DecoupledHparams,
        nonnegative=("step_decay", "ridge"),
        policy_step_size=policy_step_size,
        reward_step_size=reward_step_size,
        step_decay=step_decay,
        kl_coef=kl_coef,
        ridge=ridge,
    )


def bilevel_decoupled(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    num_envs: int = 64,
    online: bool = True,
    fit_steps: int = 1,
    minibatch_size: int | None = None,
    reward_model: str | None = None,
    reward_hidden: tuple[int, ...] = (64, 64),
    reference_action_logits: tuple[float, ...] | None = None,
    optimizer: Optimizer = None,
) -> Algorithm:
    """Decoupled RLHF as an Algorithm named "bilevel_decoupled_online" or
    "bilevel_decoupled_offline" (module doc).

    num_pairs: N fresh pairs per iteration (online) or the data set D (offline), default 64;
    num_envs: E trajectories per policy step (>= 2, default 64); fit_steps: reward steps per
    iteration; minibatch_size: pairs per reward step (default: all); reward_model, reward_hidden,
    reference_action_logits: see ``bilevel_common``; optimizer: sgd (default), momentum, adam
    or an optax transformation with learning rate 1. Checked in Python (ValueError).
    """
    check_compatible(policy, env)
    if policy.logits is None:
        raise ValueError(f"decoupled RLHF needs a categorical policy, got {policy.name!r}")
    num_pairs = check_int("num_pairs", num_pairs)
    batch_size = (
        num_pairs if minibatch_size is None else check_int("minibatch_size", minibatch_size)
    )
    if batch_size > num_pairs:
        raise ValueError(f"minibatch_size must be <= num_pairs {num_pairs}, got {batch_size}")
    num_envs = check_int("num_envs", num_envs, minimum=2)
    setup = DecoupledSetup(
        policy=policy,
        model=resolve_reward_model(env, reward_model, reward_hidden),
        oracle=oracle,
        rollout=make_batch_rollout(env, policy, num_envs + (2 * num_pairs if online else 0)),
        data_rollout=None if online else make_batch_rollout(env, policy, 2 * num_pairs),
        optimizer=resolve_optimizer(optimizer, "sgd"),
        online=bool(online),
        num_pairs=num_pairs,
        batch_size=batch_size,
        fit_steps=check_int("fit_steps", fit_steps),
        reference_logits=check_reference_logits(policy, reference_action_logits),
    )
    return Algorithm(
        f"bilevel_decoupled_{'online' if online else 'offline'}",
        functools.partial(decoupled_init, setup),
        functools.partial(decoupled_step, setup),
        decoupled_hparams,
        env,
        policy,
        reads_latent_reward=False,
    )


__all__ = [
    "DecoupledHparams",
    "DecoupledInfo",
    "DecoupledState",
    "bilevel_decoupled",
    "decoupled_hparams",
    "reward_loss",
]
