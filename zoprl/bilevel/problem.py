"""The data of a bilevel RLHF problem on a finite MDP, and the reward parametrisations r_nu.

Bilevel online RLHF (arXiv 2410.15610) learns reward parameters nu whose KL-regularised optimal
policy generates the very trajectory pairs on which nu is fitted. On a finite MDP the problem is
fixed by the tables below (``BilevelParams``, a pytree: vmap over instances with in_axes=0) and a
reward parametrisation ``reward_fn(nu) -> r_nu`` ([S, A], or [H, S, A] for a time-dependent
model), which is static (closed over or passed as a static argument):

  transition P [S, A, S], start rho [S]   the environment;
  true_reward r [S, A]                    the latent reward the teacher scores trajectories with,
                                          r(tau) = sum_h r(s_h, a_h) (for a reward R(s, a, s')
                                          that depends on s', pass its expectation, e.g.
                                          ``TabularModel.expected_reward()``);
  reference pi_ref [H, S, A]              the reference policy of the KL regulariser; its leading
                                          axis carries the horizon H (``make_bilevel_params``
                                          repeats an [S, A] table);
  kl_coef c > 0, teacher_beta beta > 0,   the KL weight, the Bradley-Terry temperature of the
  ridge rho >= 0                          teacher and the ridge weight on nu (scalars);
  preference P [N, N] or None             optionally, the teacher given by its answer
                                          probabilities over the enumerated trajectories
                                          (``zoprl.enumeration`` order): P[i, j] = Pr(tau_j is
                                          preferred to tau_i). When given, it replaces the
                                          Bradley-Terry teacher sigma(beta (r(tau_j) - r(tau_i)))
                                          in the exact upper objective (any oracle: links,
                                          mistakes, ties; ``oracle_bilevel_params``).

Reward parametrisations: ``tabular_reward`` (r_nu = nu, nu [S, A]), ``linear_reward(features)``
(r_nu(s, a) = phi(s, a)^T nu) and ``reward_model_table(model, S, A)`` for any
``zoprl.reward_models.RewardModel`` (tabular, linear or MLP; nu is then its parameter pytree).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from zoprl.envs.finite import TabularModel
from zoprl.envs.tabular import random_mdp_params
from zoprl.reward_models.models import make_reward_model
from zoprl.soft_value import KLRegularisedMDP, floating_dtype, per_step
from zoprl.validation import check_int, check_nonnegative, check_positive

RewardFn = Callable[..., jax.Array]


class BilevelParams(NamedTuple):
    """Tables and scalars of a bilevel RLHF instance (see the module doc)."""

    transition: jax.Array
    start: jax.Array
    true_reward: jax.Array
    reference: jax.Array
    kl_coef: jax.Array
    teacher_beta: jax.Array
    ridge: jax.Array
    preference: jax.Array | None = None

    @property
    def horizon(self) -> int:
        return self.reference.shape[-3]

    @property
    def num_states(self) -> int:
        return self.transition.shape[-3]

    @property
    def num_actions(self) -> int:
        return self.transition.shape[-2]


def check_bilevel_params(params: BilevelParams) -> tuple[int, int, int]:
    """Assert the shapes of one instance; returns (S, A, H)."""
    s, a, h = params.num_states, params.num_actions, params.horizon
    chex.assert_shape(params.transition, (s, a, s))
    chex.assert_shape(params.start, (s,))
    chex.assert_shape(params.true_reward, (s, a))
    chex.assert_shape(params.reference, (h, s, a))
    chex.assert_rank([params.kl_coef, params.teacher_beta, params.ridge], 0)
    if params.preference is not None:
        n = (s * a) ** h
        chex.assert_shape(params.preference, (n, n))
    return s, a, h


def make_bilevel_params(
    transition,
    start,
    true_reward,
    reference,
    horizon: int,
    *,
    kl_coef=1.0,
    teacher_beta=1.0,
    ridge=1e-2,
) -> BilevelParams:
    """``BilevelParams`` from tables; ``reference`` [S, A] is repeated for every step. The
    scalars are checked in Python when concrete (c > 0, beta > 0, ridge >= 0); the dtype of the
    tables is kept."""
    check_int("horizon", horizon)
    check_positive("kl_coef", kl_coef)
    check_positive("teacher_beta", teacher_beta)
    check_nonnegative("ridge", ridge)
    transition = jnp.asarray(transition)
    dtype = transition.dtype
    return BilevelParams(
        transition,
        jnp.asarray(start, dtype),
        jnp.asarray(true_reward, dtype),
        per_step(jnp.asarray(reference, dtype), horizon),
        jnp.asarray(kl_coef, dtype),
        jnp.asarray(teacher_beta, dtype),
        jnp.asarray(ridge, dtype),
    )


def random_bilevel_params(
    key,
    num_states: int,
    num_actions: int,
    horizon: int,
    *,
    branching: int | None = None,
    reference_scale=0.5,
    kl_coef=1.0,
    teacher_beta=1.0,
    ridge=1e-2,
) -> BilevelParams:
    """A random instance: a Garnet MDP from ``zoprl.envs.tabular.random_mdp_params`` (rewards
    uniform in [0, 1], uniform start, ``branching`` next states per (s, a), default all of them)
    and a time-homogeneous reference softmax(reference_scale * N(0, 1) logits) (uniform for
    scale 0). Sizes are static; vmappable over ``key`` (and over the scalars)."""
    branching = num_states if branching is None else branching
    k_mdp, k_ref = jax.random.split(key)
    mdp = random_mdp_params(k_mdp, num_states, num_actions, branching, horizon=horizon)
    model = TabularModel(mdp.transition, mdp.reward, mdp.start)
    dtype = mdp.transition.dtype
    logits = reference_scale * jax.random.normal(k_ref, (num_states, num_actions), dtype)
    reference = jnp.broadcast_to(
        jax.nn.softmax(logits, axis=-1), (horizon, num_states, num_actions)
    )
    scalar = lambda x: jnp.asarray(x, dtype)
    return BilevelParams(
        mdp.transition,
        mdp.start,
        model.expected_reward(),
        reference,
        scalar(kl_coef),
        scalar(teacher_beta),
        scalar(ridge),
    )


def oracle_bilevel_params(
    transition, start, reference, kl_coef, ridge, preference
) -> BilevelParams:
    """An instance whose teacher is given by its preference matrix P [N, N] over the enumerated
    trajectories (module doc), with reference tables [H, S, A]. The reward and temperature
    slots hold NaN: nothing that reads them (the Monte Carlo upper objective) gives a number."""
    transition = jnp.asarray(transition)
    dtype = floating_dtype(transition, preference)
    nan = jnp.asarray(jnp.nan, dtype)
    s, a = transition.shape[0], transition.shape[1]
    return BilevelParams(
        transition.astype(dtype),
        jnp.asarray(start, dtype),
        jnp.full((s, a), jnp.nan, dtype),
        jnp.asarray(reference, dtype),
        jnp.asarray(kl_coef, dtype),
        nan,
        jnp.asarray(ridge, dtype),
        jnp.asarray(preference, dtype),
    )


# reward parametrisations -------------------------------------------------------------------------
def tabular_reward(nu: jax.Array) -> jax.Array:
    """r_nu(s, a) = nu[s, a]."""
    chex.assert_rank(nu, 2)
    return nu


def linear_reward(features) -> RewardFn:
    """r_nu(s, a) = phi(s, a)^T nu for a feature table phi [S, A, F] (nu [F])."""
    features = jnp.asarray(features)
    chex.assert_rank(features, 3)

    def reward(nu):
        chex.assert_shape(nu, (features.shape[-1],))
        return jnp.einsum("saf,f->sa", features.astype(jnp.result_type(features, nu)), nu)

    return reward


def reward_model_table(model, num_states: int, num_actions: int) -> RewardFn:
    """The table r_nu(s, a) = model.apply(nu, s, a) [S, A] of a ``RewardModel`` whose
    observation is the state index (tabular, linear and MLP models of a finite environment)."""
    states = jnp.arange(check_int("num_states", num_states))
    actions = jnp.arange(check_int("num_actions", num_actions))
    per_action = jax.vmap(model.apply, in_axes=(None, None, 0))
    table = jax.vmap(per_action, in_axes=(None, 0, None))
    return lambda nu: table(nu, states, actions)


def resolve_reward_model(env, reward_model: str | None, reward_hidden: Sequence[int]):
    """The ``zoprl.reward_models`` RewardModel of kind ``reward_model`` (None: tabular on finite
    environments, else mlp) with MLP widths ``reward_hidden``: the bilevel learners' and the
    bilevel evaluator's (the same settings give the same model)."""
    if reward_model is None:
        reward_model = "tabular" if getattr(env, "is_finite", False) else "mlp"
    return make_reward_model(reward_model, env, hidden=reward_hidden)


def model_reward(reward_fn: RewardFn, params: BilevelParams, nu) -> jax.Array:
    """r_nu for every step, [H, S, A] (an [S, A] table is repeated)."""
    s, a, h = check_bilevel_params(params)
    table = reward_fn(nu)
    chex.assert_shape(table, (..., s, a))
    return per_step(table, h)


def regularised_mdp(params: BilevelParams, reward: jax.Array) -> KLRegularisedMDP:
    """The KL-regularised MDP of the lower level with per-step reward ``reward`` [H, S, A]."""
    return KLRegularisedMDP(
        params.transition, params.start, reward, params.reference, params.kl_coef
    )


def tree_squared_norm(tree) -> jax.Array:
    """||tree||^2, the sum of the squares of every leaf of a pytree of arrays."""
    return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree))


def ridge_penalty(nu, ridge) -> jax.Array:
    """(ridge / 2) ||nu||^2, summed over the leaves of the pytree nu."""
    return 0.5 * ridge * tree_squared_norm(nu)


__all__ = [
    "BilevelParams",
    "RewardFn",
    "check_bilevel_params",
    "linear_reward",
    "make_bilevel_params",
    "model_reward",
    "oracle_bilevel_params",
    "random_bilevel_params",
    "regularised_mdp",
    "resolve_reward_model",
    "reward_model_table",
    "ridge_penalty",
    "tabular_reward",
    "tree_squared_norm",
]
