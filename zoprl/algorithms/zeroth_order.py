"""The shared iteration of the zeroth-order preference methods ZPG, ZBCPG and ZSPO.

One iteration (arXiv 2409.17401 and 2506.03066):
  1. draw K directions v_k (law static: sphere, gaussian, rademacher or random block);
  2. for each k, N trajectory pairs: tau_{n,0} ~ pi_{theta} (or pi_{theta - mu v_k} when
     two-sided), tau_{n,1} ~ pi_{theta + mu v_k}; common random numbers or a shared start state
     optionally couple them;
  3. the oracle answers M queries per pair (one call on the whole [K, N] batch with one key);
  4. "gradient" update (ZPG, ZBCPG): g = mean_k (c / mu) D_k v_k with D_k the per-pair inverted
     and averaged preference (``preference_value_difference``) under the *assumed* link, which
     estimates J(theta + mu v_k) - J(theta); "sign" update (ZSPO): g = mean_k s_k v_k, s_k the
     majority-vote sign;
  5. theta <- theta + step_size * U(g) (U: the optax optimiser, plain SGD ascent by default).

The clip range R of the inversion defaults to the largest utility gap the teacher can express on
the environment actually run (``clip_range = 0``: R = beta H (max r - min r) for the utility
oracle, from the env and oracle params of the run; ``PreferenceModel.max_logit``); the R used is
recorded as the diagnostic ``clip_range``.

Counts per iteration: 2 K N trajectories, K N M queries (skipped queries were still asked).
On finite environments the rollouts take zoprl.rollout's bulk-uniform path.
The learner sees trajectories only through the oracle: nothing here reads the latent reward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from zoprl.algorithms.base import Algorithm, PolicyState, ascent_update
from zoprl.algorithms.optimizers import Optimizer, resolve_optimizer
from zoprl.estimators.zeroth_order import (
    majority_sign,
    preference_value_difference,
    zeroth_order_gradient,
)
from zoprl.oracles.accounting import Counts, feedback_queries
from zoprl.oracles.oracle import Feedback, resolve_assumed_link
from zoprl.policies.base import check_compatible
from zoprl.rollout import make_paired_rollout
from zoprl.validation import check_int, make_hparams

UPDATES = ("gradient", "sign")


class ZerothOrderHparams(NamedTuple):
    """Sweepable scalars. step_size: alpha > 0; mu: perturbation distance > 0; clip_range: R > 0
    of the inverse link, or 0 for the default of the module doc (ignored by ZSPO); link_shape:
    shape parameter > 0 of the assumed link."""

    step_size: jax.Array
    mu: jax.Array
    clip_range: jax.Array
    link_shape: jax.Array


class ZerothOrderInfo(NamedTuple):
    value_difference_estimate: jax.Array  # mean_k D_k, estimates J(theta + mu v) - J(theta)
    gradient_norm: jax.Array  # ||g||
    clip_range: jax.Array  # the R the inversion used


class PreferenceEstimate(NamedTuple):
    """One iteration's estimate: g [d], the per-direction D_k or s_k [K], the oracle's Feedback
    (leaves [K, N]) and the clip range R used."""

    gradient: jax.Array
    per_direction: jax.Array
    feedback: Feedback
    clip_range: jax.Array


class SignInfo(NamedTuple):
    majority_sign: jax.Array  # mean_k s_k
    gradient_norm: jax.Array  # ||g||


def make_preference_gradient(
    env,
    policy,
    oracle,
    *,
    num_pairs: int,
    scale: float,
    update: str = "gradient",
    two_sided: bool = False,
    common_random_numbers: bool = False,
    shared_start: bool = False,
    assumed_link="logistic",
) -> Callable:
    """estimate(key, params, directions [K, d], hparams, env_params, oracle_params)
    -> PreferenceEstimate (g, per-direction D_k or s_k, the Feedback, the clip range R).

    Steps 2-4 of the module doc for given directions, so that tests can hold v fixed.
    """
    check_compatible(policy, env)
    num_pairs = check_int("num_pairs (N)", num_pairs)
    if update not in UPDATES:
        raise ValueError(f"unknown update {update!r}; valid: {', '.join(UPDATES)}")
    link = resolve_assumed_link(assumed_link, oracle)
    paired = make_paired_rollout(
        env,
        policy,
        num_pairs,
        common_random_numbers=common_random_numbers,
        shared_start=shared_start,
    )
    inverted_gaps = jax.vmap(preference_value_difference, (0, None, None, None))

    def clip_range(hp: ZerothOrderHparams, env_params, oracle_params):
        default = oracle.model.max_logit(oracle_params.model, env_params, link, hp.link_shape)
        return jnp.where(hp.clip_range > 0, hp.clip_range, default)

    def estimate(key, params, v, hp: ZerothOrderHparams, env_params, oracle_params):
        k_roll, k_oracle = jax.random.split(key)
        theta, unflatten = ravel_pytree(params)
        plus = theta + hp.mu * v  # [K, d]
        base = theta - hp.mu * v if two_sided else jnp.broadcast_to(theta, v.shape)
        rollout = lambda k, a, b: paired(k, unflatten(a), unflatten(b), env_params)
        traj_0, traj_1 = jax.vmap(rollout)(jax.random.split(k_roll, v.shape[0]), base, plus)
        feedback = oracle.query(k_oracle, traj_0, traj_1, oracle_params)  # leaves [K, N]
        radius = clip_range(hp, env_params, oracle_params)
        if update == "gradient":
            gaps = inverted_gaps(feedback, link, radius, hp.link_shape)
            grads = zeroth_order_gradient(gaps[:, None], v, hp.mu, scale, two_sided)
        else:
            gaps = jax.vmap(majority_sign)(feedback)
            grads = gaps[:, None] * v
        return PreferenceEstimate(jnp.mean(grads, axis=0), gaps, feedback, radius)

    return estimate


def make_zeroth_order(
    name: str,
    env,
    policy,
    oracle,
    *,
    direction: Callable,
    scale: float,
    update: str,
    num_pairs: int,
    num_directions: int = 1,
    two_sided: bool = False,
    common_random_numbers: bool = False,
    shared_start: bool = False,
    assumed_link="logistic",
    optimizer: Optimizer = None,
) -> Algorithm:
    """Build a zeroth-order algorithm; ``direction(key, dim) -> v`` is the direction law."""
    num_directions = check_int("num_directions (K)", num_directions)
    estimate = make_preference_gradient(
        env,
        policy,
        oracle,
        num_pairs=num_pairs,
        scale=scale,
        update=update,
        two_sided=two_sided,
        common_random_numbers=common_random_numbers,
        shared_start=shared_start,
        assumed_link=assumed_link,
    )
    optimizer = resolve_optimizer(optimizer, "sgd")

    def hparams(step_size=0.1, mu=0.1, clip_range=0.0, link_shape=1.0) -> ZerothOrderHparams:
        """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
        return make_hparams(
            ZerothOrderHparams,
            nonnegative=("clip_range",),
            step_size=step_size,
            mu=mu,
            clip_range=clip_range,
            link_shape=link_shape,
        )

    def init(key, hp, env_params, oracle_params=None) -> PolicyState:
        params = policy.init(key)
        return PolicyState(params, optimizer.init(params), Counts.zero())

    def step(key, state: PolicyState, hp: ZerothOrderHparams, env_params, oracle_params, iteration):
        del iteration  # no schedule
        k_dir, k_est = jax.random.split(key)
        theta, unflatten = ravel_pytree(state.params)
        v = jax.vmap(direction, (0, None))(jax.random.split(k_dir, num_directions), theta.size)
        g, gaps, feedback, radius = estimate(
            k_est, state.params, v, hp, env_params, oracle_params
        )  # a PreferenceEstimate
        params, opt_state = ascent_update(
            optimizer, unflatten(g), state.opt_state, state.params, hp.step_size
        )
        counts = state.counts.add(
            trajectories=2 * num_directions * num_pairs, queries=feedback_queries(feedback)
        )
        norm = jnp.linalg.norm(g)
        info = (
            ZerothOrderInfo(jnp.mean(gaps), norm, radius)
            if update == "gradient"
            else SignInfo(jnp.mean(gaps), norm)
        )
        return PolicyState(params, opt_state, counts), info

    return Algorithm(name, init, step, hparams, env, policy, reads_latent_reward=False)
