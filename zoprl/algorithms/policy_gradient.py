"""Shared pieces of the policy-gradient baselines (PPO, REINFORCE): rewards, returns, GAE, critics.

Conventions (one trajectory, leaves [H]; callers batch with vmap): ``valid_h`` is 1 for steps
taken before the episode ended and 0 after (``zoprl.trajectory``); rewards r_h are already
multiplied by it. A reward function is ``reward_fn(reward_params, traj) -> [..., H]``;
``true_reward`` reads the environment's latent reward (the "ceiling" baselines use it on purpose;
the RLHF pipeline passes a learned reward model instead).

Returns-to-go (finite horizon, discount gamma):  G_h = sum_{k >= h} gamma^{k - h} r_k.

Generalised advantage estimation (Schulman et al. 2016, arXiv 1506.02438, eq. 16), with no
bootstrapping past the horizon or through a terminated step:

    delta_h = r_h + gamma valid_{h+1} V(s_{h+1}, h+1) - V(s_h, h),      (valid_{H+1} = 0)
    A_h     = delta_h + gamma lambda valid_{h+1} A_{h+1},               A_h <- valid_h A_h,

and the critic's regression target is A_h + V(s_h, h) (the lambda-return). lambda = 1 gives
A_h = G_h - V(s_h, h); lambda = 0 the one-step TD error.

Critics V(obs, h) are time-dependent because the return-to-go of a finite-horizon episode
depends on the steps left: a table [H, S] for finite environments (obs = state index), or an MLP
(flax.linen) on the flattened observation and h / H for gymnax environments; a stationary MLP
V(obs) (PureJaxRL's) is the option for discounted objectives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from zoprl.algorithms.base import Algorithm
from zoprl.algorithms.base import descent_step as descent_step  # its former home (ppo imports it)
from zoprl.estimators.baselines import leave_one_out_mean as leave_one_out_mean
from zoprl.networks import MLP
from zoprl.rollout import make_batch_rollout
from zoprl.trajectory import Trajectory
from zoprl.validation import check_int, check_positive


def true_reward(reward_params, traj: Trajectory) -> jax.Array:
    """The environment's latent per-step reward [..., H]: for the ceiling baselines only."""
    return traj.latent_reward


def make_collect(env, policy, num_envs: int, reward_fn: Callable | None) -> Callable:
    """collect(key, params, env_params, reward_params) -> (traj [E, H], rewards [E, H]).

    E = ``num_envs`` i.i.d. trajectories of pi_params and their per-step rewards
    valid_h * reward_fn(reward_params, traj)_h (``reward_fn`` None: the true reward)."""
    reward_fn = true_reward if reward_fn is None else reward_fn
    rollout = make_batch_rollout(env, policy, num_envs)

    def collect(key, params, env_params, reward_params):
        traj = rollout(key, params, env_params)
        rewards = reward_fn(reward_params, traj)
        if rewards.shape != traj.valid.shape:
            raise ValueError(
                f"reward_fn must return per-step rewards of shape "
                f"{traj.valid.shape}, got {rewards.shape}"
            )
        return traj, rewards * traj.valid

    return collect


# returns and advantages (one trajectory; vmap for batches) -------------------------------------
def discounted_returns(rewards: jax.Array, valid: jax.Array, discount) -> jax.Array:
    """G_h = sum_{k >= h} gamma^{k-h} valid_k r_k for one trajectory, [H] -> [H] (0 once ended)."""
    chex.assert_rank([rewards, valid], 1)
    chex.assert_equal_shape([rewards, valid])

    def backward(g_next, x):
        r, v = x
        g = v * (r + discount * g_next)
        return g, g

    _, returns = jax.lax.scan(
        backward, jnp.zeros((), rewards.dtype), (rewards, valid), reverse=True
    )
    return returns


def generalized_advantages(rewards, values, valid, discount, gae_lambda):
    """(A [H], targets A + V [H]) by GAE for one trajectory (module doc); V has shape [H]."""
    chex.assert_rank([rewards, values, valid], 1)
    chex.assert_equal_shape([rewards, values, valid])
    next_valid = jnp.append(valid[1:], 0.0)
    next_values = jnp.append(values[1:], 0.0) * next_valid
    deltas = rewards + discount * next_values - values

    def backward(a_next, x):
        delta, v, nv = x
        a = v * (delta + discount * gae_lambda * nv * a_next)
        return a, a

    _, advantages = jax.lax.scan(
        backward, jnp.zeros((), rewards.dtype), (deltas, valid, next_valid), reverse=True
    )
    return advantages, (advantages + values) * valid


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """sum(mask x) / max(sum(mask), 1): the mean over valid steps (0 when there are none)."""
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def episode_steps(traj: Trajectory) -> jax.Array:
    """The step index h of every step of whole episodes: 0, ..., H - 1 along the last axis."""
    return jnp.broadcast_to(jnp.arange(traj.valid.shape[-1]), traj.valid.shape)


def log_probs_and_entropy(policy, params, traj: Trajectory, steps=None):
    """(log pi(a_h | s_h, h), entropy of pi(. | s_h, h)), both of the shape of ``traj.valid``,
    under ``params``; h = ``steps`` (default: ``episode_steps``; segments of continuing
    environments pass each sample's step within its episode).

    Categorical policies give the exact entropy; others (no logits) the one-sample estimate
    -log pi(a_h | s_h, h), unbiased for the entropy of the policy that sampled a_h."""
    steps = episode_steps(traj) if steps is None else steps
    batch_dims = traj.valid.ndim

    def one(obs, h, action):
        if policy.logits is None:
            lp = policy.log_prob(params, obs, h, action)
            return lp, -lp
        log_pi = jax.nn.log_softmax(policy.logits(params, obs, h))
        return log_pi[action], -jnp.sum(jnp.exp(log_pi) * log_pi)

    for _ in range(batch_dims):
        one = jax.vmap(one)
    return one(traj.obs, steps, traj.action)


# critics ---------------------------------------------------------------------------------------
class Critic(NamedTuple):
    """A time-dependent value function: ``init(key) -> params``, ``value(params, obs, h) -> V``."""

    init: Callable
    value: Callable
    name: str = "critic"


def tabular_critic(num_states: int, horizon: int) -> Critic:
    """V(s, h) = table[h, s], table in R^{H x S}, initialised at 0."""
    s = check_int("num_states", num_states)
    h = check_int("horizon", horizon)
    return Critic(
        lambda key: jnp.zeros((h, s)), lambda table, obs, t: table[t, obs], "tabular_critic"
    )


def mlp_critic(
    obs_dim: int,
    horizon: int,
    hidden: Sequence[int] = (64, 64),
    features: Callable | None = None,
    time_feature: bool = True,
) -> Critic:
    """V(o, h) = f([phi(o), h / H]), f a tanh MLP (flax.linen, zero output layer so V starts at 0);
    phi flattens the observation unless ``features`` maps it (e.g. one-hot of a state index).
    ``time_feature=False`` drops h / H: a stationary V(o) = f(phi(o)), PureJaxRL's critic, for
    discounted objectives whose values hardly depend on the steps left (on CartPole-v1 at
    gamma = 0.99 it learns more reliably than the time-aware critic: benchmarks/RESULTS.md)."""
    d = check_int("obs_dim", obs_dim)
    h = check_int("horizon", horizon)
    phi = features or (lambda obs: jnp.asarray(obs, jnp.float32).reshape(d))
    net = MLP(tuple(hidden), 1)
    if not time_feature:
        value = lambda params, obs, t: net.apply(params, phi(obs))[0]
        return Critic(lambda key: net.init(key, jnp.zeros((d,))), value, "stationary_mlp_critic")

    def value(params, obs, t):
        x = jnp.append(phi(obs), jnp.asarray(t, jnp.float32) / h)
        return net.apply(params, x)[0]

    return Critic(lambda key: net.init(key, jnp.zeros((d + 1,))), value, "mlp_critic")


CRITIC_KINDS = ("tabular", "mlp", "stationary_mlp")


def make_critic(env, critic: str | Critic | None = None, env_params=None) -> Critic:
    """The critic for ``env``: a Critic as given, a kind ("tabular", "mlp", "stationary_mlp": an
    MLP without the time feature), or None for the default (tabular when ``env.is_finite``, else
    the time-aware MLP on the observations)."""
    if isinstance(critic, Critic):
        return critic
    finite = getattr(env, "is_finite", False)
    kind = ("tabular" if finite else "mlp") if critic is None else critic
    if kind not in CRITIC_KINDS:
        raise ValueError(f"unknown critic {kind!r}; valid: {', '.join(CRITIC_KINDS)} or a Critic")
    if kind == "tabular":
        if not finite:
            raise ValueError(f"a tabular critic needs a finite environment; {env.name!r} is not")
        return tabular_critic(env.num_states, env.horizon)
    time_feature = kind == "mlp"
    if finite:
        one_hot = lambda obs: jax.nn.one_hot(obs, env.num_states)
        return mlp_critic(env.num_states, env.horizon, features=one_hot, time_feature=time_feature)
    params = env.default_params if env_params is None else env_params
    obs_dim = int(math.prod(env.observation_space(params).shape))
    return mlp_critic(obs_dim, env.horizon, time_feature=time_feature)


def critic_values(critic: Critic, critic_params, traj: Trajectory, steps=None) -> jax.Array:
    """V(s_h, h) for every step of ``traj``, of the shape of ``traj.valid``; h = ``steps``
    (default: ``episode_steps``)."""
    steps = episode_steps(traj) if steps is None else steps
    value = lambda obs, h: critic.value(critic_params, obs, h)
    for _ in range(traj.valid.ndim):
        value = jax.vmap(value)
    return value(traj.obs, steps)


def init_actor_critic(key, policy, critic: Critic | None, optimizer, policy_params=None):
    """(policy params, critic params, the optimiser's state over both): the policy's from
    ``policy.init`` unless given, the critic's None when there is no critic."""
    k_policy, k_critic = jax.random.split(key)
    params = policy.init(k_policy) if policy_params is None else policy_params
    critic_params = None if critic is None else critic.init(k_critic)
    return params, critic_params, optimizer.init((params, critic_params))


# optimiser and hyperparameters -----------------------------------------------------------------
def make_optimizer(max_grad_norm: float | None) -> optax.GradientTransformation:
    """Adam with learning rate 1 after clipping the global gradient norm (None: no clipping);
    the step size is applied by ``descent_step`` so that it stays a sweepable hyperparameter."""
    if max_grad_norm is None:
        return optax.adam(1.0)
    check_positive("max_grad_norm", max_grad_norm)
    return optax.chain(optax.clip_by_global_norm(float(max_grad_norm)), optax.adam(1.0))


def updater_algorithm(name: str, env, policy, updater, reward_fn) -> Algorithm:
    """An Algorithm whose step is one ``updater.update(key, state, hp, env_params, None,
    iteration)`` (reward_params None: its reward_fn needs none) and whose init is
    ``updater.init(key, env_params=env_params)`` (hparams and oracle params ignored). Without a
    ``reward_fn`` it optimises the true reward: a ceiling named "<name>_true_reward" that
    ``reads_latent_reward``."""
    reads_latent_reward = reward_fn is None
    name = f"{name}_true_reward" if reads_latent_reward else name

    def init(key, hp, env_params, oracle_params=None):
        return updater.init(key, env_params=env_params)

    def step(key, state, hp, env_params, oracle_params, iteration):
        return updater.update(key, state, hp, env_params, None, iteration)

    return Algorithm(name, init, step, updater.hparams, env, policy, reads_latent_reward)
