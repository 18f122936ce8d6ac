"""zoprl's environment registry: ``make(name, **kwargs) -> (env, env_params)`` as in gymnax.

Registered: GridWorld (the pinned default of arXiv 2409.17401), GridWorld-sparse, RandomMDP
(Garnet instances keyed by ``seed``), Bandit, ContextualBandit, Chain (a distractor and a distant
goal: the distribution-shift MDP of the bilevel experiments), and every gymnax environment
(CartPole-v1, Acrobot-v1, MountainCar-v0, Pendulum-v1, ...) through the adapter, except
MNISTBandit-bsuite, which downloads a data set when built.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnax
import jax

from zoprl.envs.chain import Chain
from zoprl.envs.gridworld import GridWorld
from zoprl.envs.gymnax_adapter import GymnaxEnv
from zoprl.envs.tabular import ContextualBandit, TabularMDP, random_bandit_params, random_mdp_params

_REGISTRY: dict[str, Callable] = {}


def register(name: str, factory: Callable) -> None:
    """Register ``factory(**kwargs) -> (env, env_params)`` under ``name``."""
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    _REGISTRY[name] = factory


def registered_envs() -> list[str]:
    return sorted(_REGISTRY)


def make(name: str, **kwargs):
    """Build a registered environment and its default (validated) params."""
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown environment {name!r}; registered: {', '.join(registered_envs())}"
        )
    return _REGISTRY[name](**kwargs)


def _gridworld(size=5, horizon=10, reward="distance", **params):
    env = GridWorld(size=size, horizon=horizon, reward=reward)
    return env, env.make_params(**params)


def _random_mdp(num_states=10, num_actions=3, branching=3, horizon=5, seed=0):
    env = TabularMDP(num_states, num_actions, horizon)
    return env, random_mdp_params(jax.random.key(seed), num_states, num_actions, branching, horizon)


def _contextual_bandit(num_contexts=4, num_actions=5, seed=0):
    env = ContextualBandit(num_contexts, num_actions)
    return env, random_bandit_params(jax.random.key(seed), num_contexts, num_actions)


def _bandit(num_actions=10, seed=0):
    return _contextual_bandit(1, num_actions, seed)


def _chain(num_states=3, horizon=3, **params):
    env = Chain(num_states, horizon)
    return env, env.make_params(**params)


def _gymnax(gymnax_name):
    def factory(horizon=None, **env_kwargs):
        env, params = gymnax.make(gymnax_name, **env_kwargs)
        adapter = GymnaxEnv(env, params, horizon)
        return adapter, params

    return factory


register("GridWorld", _gridworld)
register("GridWorld-sparse", lambda **kw: _gridworld(reward="sparse", **kw))
register("RandomMDP", _random_mdp)
register("ContextualBandit", _contextual_bandit)
register("Bandit", _bandit)
register("Chain", _chain)
# MNISTBandit-bsuite downloads MNIST when it is built, so it is left out: zoprl never fetches data.
for _name in gymnax.registered_envs:
    if _name != "MNISTBandit-bsuite":
        register(_name, _gymnax(_name))
