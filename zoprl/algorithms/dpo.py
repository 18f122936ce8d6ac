"""DPO and IPO on trajectory pairs, offline and online (arXiv 2305.18290, 2310.12036).

The policy is fitted directly to the oracle's votes through the loss of ``preference_losses``
(soft label p = votes / M, margin h = logratio(tau_1) - logratio(tau_0)); no reward is inferred and
nothing here reads the latent reward. Per iteration:

  offline  the data set of D = ``num_pairs`` pairs, both members drawn from pi_ref (the initial
           policy) and labelled once by the oracle in ``init``, is reused: ``gradient_steps``
           optimiser steps, each on a minibatch of ``minibatch_size`` distinct pairs drawn at
           random (the whole data set by default).
  online   N = ``num_pairs`` fresh pairs from the current policy pi_theta (both members) are
           labelled, then the same minibatch optimisation runs on them.

Pairs share their start state (the "prompt"; ``shared_start=True``, the setting of DPO), their
actions and transitions being drawn independently given it; with ``shared_start=False`` the two
members are fully independent. Sharing matters: with independent starts a pair compares different
contexts, and the per-context normalisers log Z(s_1) no longer cancel, so the population optimum
is not pi_ref exp(r / beta). The DPO identity beta h = r(tau_1) - r(tau_0) at the optimum holds
for bandits and deterministic MDPs only; with stochastic transitions the fixed point differs.

Skipped pairs (answered = 0) carry zero weight: a minibatch loss is the mean over its answered
pairs. The reference pi_ref is the initial policy, or, with ``reference_update_every = k``, the
current policy copied after every k-th iteration. The optimiser (optax Adam by default) is built
with learning rate 1 and its update scaled by ``hparams.step_size`` (sweepable).

Counts: offline, 2 D trajectories and D M queries charged in ``init`` (visible from iteration 0 on),
nothing afterwards; online, 2 N trajectories and N M queries per iteration.

Diagnostics (``DPOInfo``), on the iteration's first minibatch (of the data set offline, of the
fresh batch online; all of it unless ``minibatch_size`` is set) at the parameters before the
iteration's update, so that their cost does not grow with the data set:
  loss                      the mean loss over answered pairs;
  implicit_reward_accuracy  fraction of answered, decided pairs with sign(h) = majority vote;
  kl_to_reference           mean over the pairs' trajectories of sum_h KL(pi_theta || pi_ref)(s_h)
                            (categorical policies; else the mean log-ratio). Online the
                            trajectories come from pi_theta, so this is an unbiased estimate of
                            KL(pi_theta(tau) || pi_ref(tau)); offline the states come from the
                            data (for bandits the context law does not depend on the policy, so
                            it is still unbiased for the expected per-context KL).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm, ascent_update
from zoprl.algorithms.optimizers import Optimizer, resolve_optimizer
from zoprl.algorithms.preference_losses import (
    PREFERENCE_LOSSES,
    implicit_reward_accuracy,
    trajectory_kl,
    trajectory_log_ratio,
    weighted_mean,
)
from zoprl.oracles.accounting import Counts
from zoprl.preference_data import PreferenceBatch, collect_preferences, labelled_batch
from zoprl.rollout import make_paired_rollout
from zoprl.validation import check_int, make_hparams


class DPOHparams(NamedTuple):
    """Sweepable scalars. step_size: optimiser step; beta: KL-regularisation strength."""

    step_size: jax.Array
    beta: jax.Array


class DPOState(NamedTuple):
    params: Any
    reference_params: Any
    opt_state: Any
    data: PreferenceBatch | None  # the offline data set (weight = answered); None online
    counts: Counts


class DPOInfo(NamedTuple):
    loss: jax.Array
    implicit_reward_accuracy: jax.Array
    kl_to_reference: jax.Array


class DPOSetup(NamedTuple):
    """The static pieces one DPO / IPO variant is wired from (built by ``dpo``)."""

    paired: Callable  # paired rollouts of N pairs
    oracle: Any
    pair_loss: Callable  # (h, p, beta) -> loss of one pair
    log_ratio: Callable  # (params, reference, traj [B]) -> [B]
    kl: Callable  # (params, reference, traj [B]) -> [B]
    optimizer: Any
    num_pairs: int
    batch_size: int
    gradient_steps: int
    online: bool
    reference_update_every: int | None


def margins(setup: DPOSetup, params, reference_params, data: PreferenceBatch):
    """h = logratio(tau_1) - logratio(tau_0) for every pair of ``data``."""
    return setup.log_ratio(params, reference_params, data.traj_1) - setup.log_ratio(
        params, reference_params, data.traj_0
    )


def data_loss(setup: DPOSetup, params, reference_params, data: PreferenceBatch, beta):
    """The mean pair loss over the answered pairs of ``data``."""
    h = margins(setup, params, reference_params, data)
    return weighted_mean(setup.pair_loss(h, data.label, beta), data.weight)


def diagnostics(setup: DPOSetup, params, reference_params, data: PreferenceBatch, beta) -> DPOInfo:
    """Loss, implicit-reward accuracy and KL to the reference on ``data`` (module doc)."""
    h = margins(setup, params, reference_params, data)
    kls = jnp.concatenate(
        [
            setup.kl(params, reference_params, data.traj_0),
            setup.kl(params, reference_params, data.traj_1),
        ]
    )
    return DPOInfo(
        weighted_mean(setup.pair_loss(h, data.label, beta), data.weight),
        implicit_reward_accuracy(h, data.label, data.weight),
        jnp.mean(kls),
    )


def random_minibatch(setup: DPOSetup, key, data: PreferenceBatch) -> PreferenceBatch:
    """``batch_size`` distinct pairs of ``data`` drawn at random (all of them by default): the
    batch_size largest of D uniforms, a uniformly random subset without the full sort (a
    permutation of D) that ``jax.random.choice(replace=False)`` costs."""
    if setup.batch_size == setup.num_pairs:
        return data
    index = jax.lax.top_k(jax.random.uniform(key, (setup.num_pairs,)), setup.batch_size)[1]
    return jax.tree.map(lambda x: x[index], data)


def optimise(setup: DPOSetup, keys, params, opt_state, reference_params, data, hp: DPOHparams):
    """``gradient_steps`` optimiser steps on minibatches of ``data``, one per key."""

    def gradient_step(carry, key):
        params, opt_state = carry
        batch = random_minibatch(setup, key, data)
        grad = jax.grad(functools.partial(data_loss, setup))(
            params, reference_params, batch, hp.beta
        )
        descent = jax.tree.map(jnp.negative, grad)
        return ascent_update(setup.optimizer, descent, opt_state, params, hp.step_size), None

    return jax.lax.scan(gradient_step, (params, opt_state), keys)[0]


def collect(setup: DPOSetup, key, params, env_params, oracle_params):
    """N fresh pairs from pi_params (both members), labelled: (PreferenceBatch, Counts)."""
    traj_0, traj_1, feedback, counts = collect_preferences(
        key, setup.paired, setup.oracle, params, params, env_params, oracle_params
    )
    return labelled_batch(traj_0, traj_1, feedback), counts


def dpo_init(setup: DPOSetup, policy, key, hp, env_params, oracle_params=None) -> DPOState:
    """pi_theta = pi_ref = the initial policy; offline, the data set is collected from it."""
    k_policy, k_data = jax.random.split(key)
    params = policy.init(k_policy)
    data, counts = (
        (None, Counts.zero())
        if setup.online
        else collect(setup, k_data, params, env_params, oracle_params)
    )
    return DPOState(params, params, setup.optimizer.init(params), data, counts)


def dpo_step(
    setup: DPOSetup, key, state: DPOState, hp: DPOHparams, env_params, oracle_params, iteration
):
    """One iteration (module doc); the reference is refreshed after every k-th iteration."""
    k_data, k_opt = jax.random.split(key)
    data, counts = state.data, state.counts
    if setup.online:
        data, new = collect(setup, k_data, state.params, env_params, oracle_params)
        counts = counts.add(new.trajectories, new.queries)
    keys = jax.random.split(k_opt, setup.gradient_steps)
    # diagnostics on the first optimiser step's minibatch: O(minibatch), not O(data set)
    info = diagnostics(
        setup, state.params, state.reference_params, random_minibatch(setup, keys[0], data), hp.beta
    )
    params, opt_state = optimise(
        setup, keys, state.params, state.opt_state, state.reference_params, data, hp
    )
    reference = state.reference_params
    if setup.reference_update_every is not None:
        refresh = (iteration + 1) % setup.reference_update_every == 0
        reference = jax.lax.cond(refresh, lambda: params, lambda: reference)
    return DPOState(params, reference, opt_state, state.data, counts), info


def dpo_hparams(step_size=0.01, beta=0.1) -> DPOHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(DPOHparams, step_size=step_size, beta=beta)


def dpo(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    online: bool = True,
    loss: str = "dpo",
    minibatch_size: int | None = None,
    gradient_steps: int = 1,
    reference_update_every: int | None = None,
    shared_start: bool = True,
    optimizer: Optimizer = None,
) -> Algorithm:
    """DPO / IPO as an Algorithm named "{loss}_{online|offline}" (see the module doc).

    num_pairs: D (offline data set) or N (fresh pairs per iteration); loss: "dpo" or "ipo";
    minibatch_size: pairs per optimiser step (default: all); gradient_steps: optimiser steps per
    iteration; reference_update_every: k, copy pi_theta into pi_ref after every k-th iteration
    (default: pi_ref fixed); optimizer: adam (default), sgd, momentum or an optax
    transformation with learning rate 1. All checked in Python, before compilation (ValueError
    naming the bad value).
    """
    if loss not in PREFERENCE_LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(PREFERENCE_LOSSES)}")
    num_pairs = check_int("num_pairs", num_pairs)
    batch_size = (
        num_pairs if minibatch_size is None else check_int("minibatch_size", minibatch_size)
    )
    if batch_size > num_pairs:
        raise ValueError(
            f"minibatch_size must be <= the data set size {num_pairs}, got {batch_size}"
        )
    if reference_update_every is not None:
        reference_update_every = check_int("reference_update_every", reference_update_every)
    log_ratio = jax.vmap(functools.partial(trajectory_log_ratio, policy), (None, None, 0))
    kl = (
        log_ratio
        if policy.logits is None
        else jax.vmap(functools.partial(trajectory_kl, policy), (None, None, 0))
    )
    setup = DPOSetup(
        make_paired_rollout(env, policy, num_pairs, shared_start=shared_start),
        oracle,
        PREFERENCE_LOSSES[loss],
        log_ratio,
        kl,
        resolve_optimizer(optimizer, "adam"),
        num_pairs,
        batch_size,
        check_int("gradient_steps", gradient_steps),
        online,
        reference_update_every,
    )
    name = f"{loss}_{'online' if online else 'offline'}"
    return Algorithm(
        name,
        functools.partial(dpo_init, setup, policy),
        functools.partial(dpo_step, setup),
        dpo_hparams,
        env,
        policy,
        reads_latent_reward=False,
    )
