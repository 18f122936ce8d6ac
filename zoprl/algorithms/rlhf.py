"""RLHF by reward inference: fit r_phi to the votes, then PPO on r_phi (docs/methods.md, 4).

The pipeline of Christiano et al. (2017) and Ouyang et al. (2022), with the simulated human of
``zoprl.oracles`` in place of labellers:

  1. collect N = ``num_pairs`` trajectory pairs, both members drawn independently from one policy;
  2. ask the oracle M votes per pair and store (tau_0, tau_1, votes / M, answered) in a
     fixed-capacity circular buffer (``zoprl.preference_data``);
  3. fit r_phi (tabular, linear or MLP) by maximum likelihood under the assumed link (default
     Bradley-Terry on r_phi(tau_1) - r_phi(tau_0), r_phi(tau) = sum_h valid_h r_phi(s_h, a_h)),
     Adam steps on minibatches drawn from the buffer (``zoprl.reward_models.fit``);
  4. each iteration runs one PPO update (Schulman et al. 2017; clipped ratio, GAE) on its own
     rollouts, with the per-step reward valid_h r_phi(s_h, a_h) in place of the environment's.

Variants:
  offline  steps 1-3 run once, in ``init``, on pairs from a behaviour policy (``behaviour_params``;
           default: the initial policy); every ``step`` is a PPO update on the frozen r_phi.
  online   ``init`` does the same; then, before the PPO update of iteration i = k, 2k, ...
           (k = ``refit_every``, i counted from 0), N fresh pairs come from the *current* policy,
           are labelled and added to the buffer, and r_phi is refit for ``fit_steps`` steps from
           its current value (warm start; the Adam state carries over). The "every k" is a
           ``lax.cond`` on the iteration index that the run passes to ``step``, the same for
           every run of a sweep and unbatched under vmap, so collection and refit run only on
           refresh iterations; only a collection that happened is charged.

After T iterations the online variant has labelled N (1 + floor((T - 1) / k)) pairs; an offline
run with ``num_pairs`` equal to that number has the same query budget.

Counts: every collection charges 2 N trajectories and N M queries (skipped pairs were asked);
every PPO update charges what PPO reports (its rollouts; no queries). The learner sees the
environment's reward only through the oracle's votes: nothing here reads it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.algorithms.base import Algorithm
from zoprl.algorithms.policy_gradient import Critic
from zoprl.algorithms.ppo import PPOHparams, PPOUpdate, make_ppo_update
from zoprl.oracles.accounting import Counts
from zoprl.oracles.oracle import resolve_assumed_link
from zoprl.policies.base import check_compatible
from zoprl.preference_data import (
    PreferenceBuffer,
    buffer_add,
    buffer_init,
    buffer_sample,
    collect_preferences,
)
from zoprl.reward_models.features import build_reward_model
from zoprl.reward_models.fit import (
    RewardFitHparams,
    fit_reward_model,
    init_reward_optimizer,
    preference_loss,
    reward_fit_hparams,
)
from zoprl.reward_models.models import RewardModel, step_rewards
from zoprl.rollout import make_paired_rollout
from zoprl.validation import check_int


class RLHFHparams(NamedTuple):
    """Sweepable scalars: PPO's (``PPOHparams``), the reward fit's Adam step size (> 0) and its
    L2 coefficient (>= 0)."""

    ppo: PPOHparams
    reward_step_size: jax.Array
    reward_l2: jax.Array


class RLHFState(NamedTuple):
    params: Any  # the policy's parameters (= ppo_state.params)
    ppo_state: Any
    reward_params: Any
    reward_opt_state: Any
    buffer: PreferenceBuffer
    counts: Counts  # preference pairs (2 trajectories, M queries each) + PPO rollouts


class RLHFInfo(NamedTuple):
    """Per-iteration diagnostics: the reward side, then PPO's ``PPOInfo`` fields (flattened, so
    that every metric is one array; ``mean_return`` is the return under the learned r_phi)."""

    reward_loss: jax.Array  # preference loss of r_phi on a minibatch of the buffer, after refit
    pairs_collected: jax.Array  # pairs labelled this iteration (online: N or 0; offline: 0)
    buffer_size: jax.Array
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array
    mean_return: jax.Array
    env_steps: jax.Array  # PPO's environment steps so far (cumulative; preference pairs apart)


class RLHFSetup(NamedTuple):
    """The static pieces one RLHF variant is wired from (built by ``rlhf``)."""

    model: RewardModel
    ppo: PPOUpdate
    paired: Callable
    oracle: Any
    online: bool
    refit_every: int
    capacity: int
    fit_steps: int
    initial_fit_steps: int
    batch_size: int
    behaviour_params: Any
    assumed_link: Any
    link_shape: float


def fit(setup: RLHFSetup, key, phi, opt_state, buffer, hp: RLHFHparams, num_steps: int):
    """``num_steps`` Adam steps of the reward fit on the buffer -> (phi, opt_state)."""
    fit_hp = RewardFitHparams(hp.reward_step_size, hp.reward_l2)
    return fit_reward_model(
        key,
        setup.model,
        phi,
        opt_state,
        buffer,
        fit_hp,
        num_steps,
        setup.batch_size,
        link=setup.assumed_link,
        link_shape=setup.link_shape,
    )[:2]


def rlhf_init(setup: RLHFSetup, key, hp: RLHFHparams, env_params, oracle_params) -> RLHFState:
    """Label N pairs of the behaviour policy, fit r_phi on them, start PPO."""
    k_ppo, k_reward, k_label, k_fit = jax.random.split(key, 4)
    ppo_state = setup.ppo.init(k_ppo)
    behaviour = ppo_state.params if setup.behaviour_params is None else setup.behaviour_params
    traj_0, traj_1, feedback, counts = collect_preferences(
        k_label, setup.paired, setup.oracle, behaviour, behaviour, env_params, oracle_params
    )
    buffer = buffer_add(buffer_init(setup.capacity, traj_0), traj_0, traj_1, feedback)
    phi = setup.model.init(k_reward)
    phi, opt_state = fit(
        setup, k_fit, phi, init_reward_optimizer(phi), buffer, hp, setup.initial_fit_steps
    )
    counts = counts.add(ppo_state.counts.trajectories, ppo_state.counts.queries)
    return RLHFState(ppo_state.params, ppo_state, phi, opt_state, buffer, counts)


def refresh(setup: RLHFSetup, key, state: RLHFState, hp, env_params, oracle_params):
    """Online: label N pairs from the current policy, add them, refit r_phi."""
    k_label, k_fit = jax.random.split(key)
    traj_0, traj_1, feedback, new = collect_preferences(
        k_label, setup.paired, setup.oracle, state.params, state.params, env_params, oracle_params
    )
    buffer = buffer_add(state.buffer, traj_0, traj_1, feedback)
    phi, opt_state = fit(
        setup, k_fit, state.reward_params, state.reward_opt_state, buffer, hp, setup.fit_steps
    )
    return buffer, phi, opt_state, new


def keep(setup: RLHFSetup, key, state: RLHFState, hp, env_params, oracle_params):
    """No collection: the reward side unchanged, nothing charged."""
    return state.buffer, state.reward_params, state.reward_opt_state, Counts.zero()


def rlhf_step(
    setup: RLHFSetup, key, state: RLHFState, hp: RLHFHparams, env_params, oracle_params, iteration
):
    """A refresh on iterations k, 2k, ... (online only), then one PPO update on r_phi."""
    k_refresh, k_ppo, k_loss = jax.random.split(key, 3)
    args = (k_refresh, state, hp, env_params, oracle_params)
    if setup.online:
        due = (iteration > 0) & (iteration % setup.refit_every == 0)
        buffer, phi, opt_state, new = jax.lax.cond(
            due, functools.partial(refresh, setup), functools.partial(keep, setup), *args
        )
    else:
        buffer, phi, opt_state, new = keep(setup, *args)
    ppo_state, ppo_info = setup.ppo.update(k_ppo, state.ppo_state, hp.ppo, env_params, phi)
    ppo_new = jax.tree.map(jnp.subtract, ppo_state.counts, state.ppo_state.counts)
    counts = state.counts.add(
        new.trajectories + ppo_new.trajectories, new.queries + ppo_new.queries
    )
    loss = preference_loss(
        setup.model,
        phi,
        buffer_sample(k_loss, buffer, setup.batch_size),
        setup.assumed_link,
        setup.link_shape,
    )
    info = RLHFInfo(loss, new.trajectories // 2, buffer.size, *ppo_info)
    return RLHFState(ppo_state.params, ppo_state, phi, opt_state, buffer, counts), info


def rlhf_hparams(ppo: PPOUpdate, reward_step_size=0.05, reward_l2=0.0, **ppo_values) -> RLHFHparams:
    """Validated hyperparameters: PPO's by name (see PPOHparams) and the reward fit's;
    scalars or grids, all broadcast to one common shape."""
    ppo_hp = ppo.hparams(**ppo_values)
    fit_hp = reward_fit_hparams(reward_step_size, reward_l2)
    shape = np.broadcast_shapes(*(np.shape(x) for x in (*ppo_hp, *fit_hp)))
    grow = lambda x: jnp.broadcast_to(x, shape)
    return RLHFHparams(jax.tree.map(grow, ppo_hp), grow(fit_hp.step_size), grow(fit_hp.l2))


def buffer_sizes(num_pairs: int, buffer_capacity, batch_size) -> tuple[int, int]:
    """(capacity, batch size) of the preference buffer: capacity N by default, at least N;
    batch size 64 or the capacity if smaller by default, at most the capacity."""
    capacity = (
        num_pairs if buffer_capacity is None else check_int("buffer_capacity", buffer_capacity)
    )
    if capacity < num_pairs:
        raise ValueError(f"buffer_capacity {capacity} is smaller than num_pairs {num_pairs}")
    batch_size = min(64, capacity) if batch_size is None else check_int("batch_size", batch_size)
    if capacity < batch_size:
        raise ValueError(f"buffer_capacity {capacity} is smaller than batch_size {batch_size}")
    return capacity, batch_size


def rlhf(
    env,
    policy,
    oracle,
    behaviour_params=None,
    *,
    num_pairs: int = 32,
    num_envs: int = 64,
    reward_model: str | RewardModel = "tabular",
    reward_features: int | None = None,
    online: bool = False,
    refit_every: int = 10,
    buffer_capacity: int | None = None,
    fit_steps: int = 100,
    initial_fit_steps: int | None = None,
    batch_size: int | None = None,
    assumed_link: str = "logistic",
    link_shape: float = 1.0,
    num_epochs: int = 4,
    num_minibatches: int = 4,
    critic: str | Critic | None = None,
) -> Algorithm:
    """The RLHF baseline as an Algorithm named "rlhf_ppo_offline" or "rlhf_ppo_online".

    behaviour_params: the policy that collects the pairs of ``init`` (default: the initial
      policy; Python only).
    num_pairs: N, pairs per collection (offline: the whole data set D).
    num_envs: PPO rollouts per iteration.
    reward_model: a kind ("tabular", "linear", "mlp"; default settings) or a built RewardModel.
    reward_features: F, for "linear" or "mlp" on a finite environment: the model sees F fixed
      random Gaussian features of the one-hot state instead of the state (a class too small for
      the task when F << S; ``zoprl.reward_models.features``). None: the kind's default features.
    refit_every: k, iterations between online collections.
    buffer_capacity: pairs the buffer keeps (default N; online, older pairs are overwritten).
    fit_steps / initial_fit_steps: Adam steps per refit / for the fit in ``init`` (default
      fit_steps); batch_size: pairs per Adam step (default: 64, or the buffer's capacity if
      smaller).
    assumed_link, link_shape: the link the reward fit assumes (static; "oracle": the oracle's).
    num_epochs, num_minibatches, critic: passed to PPO.
    All checks raise ValueError naming the bad value, before any compilation.
    """
    check_compatible(policy, env)
    num_pairs = check_int("num_pairs", num_pairs)
    capacity, batch_size = buffer_sizes(num_pairs, buffer_capacity, batch_size)
    model = build_reward_model(reward_model, env, reward_features)
    reward_fn = functools.partial(step_rewards, model)
    ppo_options = dict(num_epochs=num_epochs, num_minibatches=num_minibatches, critic=critic)
    fit_steps = check_int("fit_steps", fit_steps)
    initial = fit_steps if initial_fit_steps is None else initial_fit_steps
    setup = RLHFSetup(
        model=model,
        ppo=make_ppo_update(env, policy, num_envs=num_envs, reward_fn=reward_fn, **ppo_options),
        paired=make_paired_rollout(env, policy, num_pairs),
        oracle=oracle,
        online=online,
        refit_every=check_int("refit_every", refit_every),
        capacity=capacity,
        fit_steps=fit_steps,
        initial_fit_steps=check_int("initial_fit_steps", initial),
        batch_size=batch_size,
        behaviour_params=behaviour_params,
        assumed_link=resolve_assumed_link(assumed_link, oracle),
        link_shape=link_shape,
    )
    name = f"rlhf_ppo_{'online' if online else 'offline'}"
    return Algorithm(
        name,
        functools.partial(rlhf_init, setup),
        functools.partial(rlhf_step, setup),
        functools.partial(rlhf_hparams, setup.ppo),
        env,
        policy,
        reads_latent_reward=False,
    )
