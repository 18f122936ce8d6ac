"""Learned reward models r_phi(s, a) and the per-trajectory reward they induce (docs/methods.md, 4).

A reward model is a NamedTuple of pure functions (optax style) built by a factory that closes
over the static settings (sizes, feature map, network):

    model = make_reward_model(kind, env, ...)
    phi = model.init(key)
    r = model.apply(phi, obs, action)          # a scalar, for one (s, a)

Kinds (Christiano et al. 2017; Ouyang et al. 2022 use a network, the tabular and linear kinds are
the classical special cases):

  tabular   r_phi(s, a) = phi[s, a], phi in R^{S x A} (finite environments, obs = state index)
  linear    r_phi(s, a) = psi(s, a)^T phi with psi(s, a) = f(s) (x) e_a, the feature map f(s) [F]
            times the one-hot e_a of the action (phi in R^{F x A}), or a given joint feature
            function psi(obs, action) -> [F] (phi in R^F)
  mlp       r_phi(s, a) = MLP_phi([f(s), e_a]) (flax.linen; continuous actions: the action vector
            in place of e_a)

f defaults to the one-hot of the state index on finite environments (then "linear" is "tabular")
and to the flattened observation otherwise. All parameters start at zero except the MLP's hidden
layers, so every model starts as r_phi = 0.

The reward of a trajectory is r_phi(tau) = sum_h valid_h r_phi(s_h, a_h) (``trajectory_reward``);
``step_rewards`` gives the per-step terms valid_h r_phi(s_h, a_h). Both read only ``obs``,
``action`` and ``valid``: a learned reward never looks at the environment's reward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from zoprl.networks import MLP
from zoprl.validation import check_int

REWARD_MODEL_KINDS = ("tabular", "linear", "mlp")


class RewardModel(NamedTuple):
    """init(key) -> phi; apply(phi, obs, action) -> r_phi(s, a), a float32 scalar."""

    init: Callable
    apply: Callable
    kind: str


def _finite(env) -> bool:
    return bool(getattr(env, "is_finite", False))


def _observation_features(env, env_params, features):
    """(f: obs -> [F], F) from a table [S, F], a function (with ``num_features`` known from a
    trace) or None (one-hot state index on finite environments, else the flattened obs)."""
    if callable(features):
        obs = jax.eval_shape(lambda: _example_obs(env, env_params))
        shape = jax.eval_shape(features, obs).shape
        return features, int(math.prod(shape))
    if features is not None:
        table = jnp.asarray(features, jnp.float32)
        if table.ndim != 2 or (_finite(env) and table.shape[0] != env.num_states):
            want = f"[{env.num_states}, F]" if _finite(env) else "[S, F]"
            raise ValueError(f"feature table must have shape {want}, got {tuple(table.shape)}")
        return (lambda obs: table[obs]), int(table.shape[1])
    if _finite(env):
        return (lambda obs: jax.nn.one_hot(obs, env.num_states)), env.num_states
    dim = int(math.prod(env.observation_space(_params(env, env_params)).shape))
    return (lambda obs: jnp.asarray(obs, jnp.float32).reshape(dim)), dim


def _params(env, env_params):
    return env.default_params if env_params is None else env_params


def _example_obs(env, env_params):
    return env.reset(jax.random.key(0), _params(env, env_params))[0]


def _action_encoding(env, env_params):
    """(e: action -> [E], E, discrete?) for the environment's action space."""
    if _finite(env):
        return (lambda a: jax.nn.one_hot(a, env.num_actions)), env.num_actions, True
    space = env.action_space(_params(env, env_params))
    if isinstance(space, spaces.Discrete):
        n = int(space.n)
        return (lambda a: jax.nn.one_hot(a, n)), n, True
    dim = int(math.prod(space.shape))
    return (lambda a: jnp.asarray(a, jnp.float32).reshape(dim)), dim, False


def make_reward_model(
    kind: str,
    env,
    env_params=None,
    *,
    features=None,
    joint_features: Callable | None = None,
    hidden: Sequence[int] = (64, 64),
) -> RewardModel:
    """A reward model of ``kind`` ("tabular", "linear" or "mlp") for ``env``.

    features: the observation feature map f for "linear" and "mlp": a table [S, F] indexed by the
      state, a function obs -> [F], or None (see the module doc).
    joint_features: for "linear" only, a function (obs, action) -> [F] used as psi(s, a) directly.
    hidden: the MLP's hidden widths (tanh).
    Raises ValueError, before any compilation, for an unknown kind or a kind that does not fit.
    """
    if kind not in REWARD_MODEL_KINDS:
        raise ValueError(
            f"unknown reward model kind {kind!r}; valid kinds: {', '.join(REWARD_MODEL_KINDS)}"
        )
    if kind == "tabular":
        if not _finite(env):
            raise ValueError(
                f"a tabular reward model needs a finite environment; {env.name!r} "
                "is not finite: use kind 'linear' or 'mlp'"
            )
        s, a = env.num_states, env.num_actions
        return RewardModel(lambda key: jnp.zeros((s, a)), lambda phi, obs, act: phi[obs, act], kind)
    if kind == "linear" and joint_features is not None:
        obs = jax.eval_shape(lambda: _example_obs(env, env_params))
        act = jax.ShapeDtypeStruct((), jnp.int32)
        dim = int(math.prod(jax.eval_shape(joint_features, obs, act).shape))
        return RewardModel(
            lambda key: jnp.zeros((dim,)),
            lambda phi, o, a: jnp.reshape(joint_features(o, a), (dim,)) @ phi,
            kind,
        )
    f, num_features = _observation_features(env, env_params, features)
    encode, num_codes, discrete = _action_encoding(env, env_params)
    if kind == "linear":
        if not discrete:
            raise ValueError(
                "a linear reward model with one-hot actions needs discrete actions; "
                "pass joint_features or use kind 'mlp'"
            )
        return RewardModel(
            lambda key: jnp.zeros((num_features, num_codes)),
            lambda phi, o, a: f(o) @ phi[:, a],
            kind,
        )
    hidden = tuple(check_int("hidden width", w) for w in hidden)
    net = MLP(hidden, 1)

    def init(key):
        return net.init(key, jnp.zeros((num_features + num_codes,)))

    def apply(phi, obs, action):
        return net.apply(phi, jnp.concatenate([f(obs), encode(action)]))[0]

    return RewardModel(init, apply, kind)


def step_rewards(model: RewardModel, phi, traj) -> jax.Array:
    """valid_h r_phi(s_h, a_h) for every step: shape [..., H] (any batch axes in front of H)."""
    apply = model.apply
    for _ in range(np.ndim(traj.valid)):  # one vmap per batch / horizon axis (trace time only)
        apply = jax.vmap(apply, in_axes=(None, 0, 0))
    return apply(phi, traj.obs, traj.action) * traj.valid


def trajectory_reward(model: RewardModel, phi, traj) -> jax.Array:
    """r_phi(tau) = sum_h valid_h r_phi(s_h, a_h); shape = batch shape of ``traj``."""
    return jnp.sum(step_rewards(model, phi, traj), axis=-1)
