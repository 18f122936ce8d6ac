"""A deliberately poor feature map: random Gaussian features of the one-hot state.

For the reward-misspecification experiments a reward model class must be too small for the task.
``random_state_features`` draws a fixed table G [S, F] with i.i.d. N(0, 1 / F) entries from a fixed
key, and f(s) = G^T e_s = G[s] is the random projection of the state's one-hot vector e_s onto F
dimensions. With F much smaller than S the linear model r_phi(s, a) = f(s)^T phi[:, a] spans only
an F-dimensional subspace of the functions of the state for each action (F A parameters against
the S A of a table), and because the projection ignores the environment's geometry (neighbouring
cells get unrelated features) the subspace is unlikely to hold a reward whose greedy policy is
good. The features are fixed: the same key for every seed and run, so that the class, not the
draw, is what varies between experiments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.reward_models.models import RewardModel, make_reward_model
from zoprl.validation import check_int

FEATURES_SEED = 0
"""The fixed seed of the random feature table."""


def random_state_features(num_states: int, num_features: int, seed: int = FEATURES_SEED):
    """G [S, F] with i.i.d. N(0, 1 / F) entries drawn from ``key(seed)`` (module doc)."""
    num_states = check_int("num_states", num_states)
    num_features = check_int("reward_features", num_features)
    draw = jax.random.normal(jax.random.key(seed), (num_states, num_features), jnp.float32)
    return draw / jnp.sqrt(jnp.float32(num_features))


def build_reward_model(reward_model, env, reward_features: int | None = None) -> RewardModel:
    """A reward model from a kind name (with the random features of dimension
    ``reward_features`` for "linear" or "mlp" on a finite environment) or a built RewardModel
    (then ``reward_features`` must be None). ValueError for combinations that do not fit."""
    if not isinstance(reward_model, (str, RewardModel)):
        raise ValueError(f"reward_model must be a kind name or a RewardModel, got {reward_model!r}")
    if reward_features is None:
        if isinstance(reward_model, RewardModel):
            return reward_model
        return make_reward_model(reward_model, env)
    if isinstance(reward_model, RewardModel) or reward_model == "tabular":
        raise ValueError(
            "reward_features applies to the reward model kinds 'linear' and 'mlp', "
            f"not to {reward_model if isinstance(reward_model, str) else 'a built model'!r}"
        )
    if not getattr(env, "is_finite", False):
        raise ValueError(
            f"reward_features are random features of the one-hot state: {env.name!r} has no "
            "finite state space"
        )
    features = random_state_features(env.num_states, reward_features)
    return make_reward_model(reward_model, env, features=features)


__all__ = ["FEATURES_SEED", "build_reward_model", "random_state_features"]
