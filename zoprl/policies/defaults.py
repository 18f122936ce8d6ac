"""A sensible default policy for any registered environment.

Finite environments get a tabular softmax (the parametrisation of arXiv 2409.17401); gymnax
environments with discrete actions an MLP categorical policy on the flattened observation; with
continuous (Box) actions a diagonal Gaussian MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gymnax.environments import spaces

from zoprl.policies.base import Policy
from zoprl.policies.mlp import mlp_categorical, mlp_gaussian
from zoprl.policies.tabular import tabular_softmax


def default_policy(env, env_params=None, hidden: Sequence[int] = (64, 64)) -> Policy:
    if getattr(env, "is_finite", False):
        return tabular_softmax(env.num_states, env.num_actions)
    params = env.default_params if env_params is None else env_params
    obs_dim = int(math.prod(env.observation_space(params).shape))
    action_space = env.action_space(params)
    if isinstance(action_space, spaces.Discrete):
        return mlp_categorical(obs_dim, int(action_space.n), hidden)
    if isinstance(action_space, spaces.Box):
        return mlp_gaussian(obs_dim, int(math.prod(action_space.shape)), hidden)
    raise ValueError(
        f"no default policy for the action space {type(action_space).__name__} of "
        f"{env.name!r}: build one from zoprl.policies"
    )
