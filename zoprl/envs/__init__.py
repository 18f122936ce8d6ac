"""Environments with the gymnax API; finite ones carry an exact tabular model."""

from zoprl.envs.chain import Chain
from zoprl.envs.finite import FiniteMDP, FiniteState, TabularModel
from zoprl.envs.gridworld import GridWorld, GridWorldParams
from zoprl.envs.gymnax_adapter import GymnaxEnv
from zoprl.envs.registry import make, register, registered_envs
from zoprl.envs.tabular import (
    Bandit,
    ContextualBandit,
    TabularMDP,
    TabularParams,
    random_bandit_params,
    random_mdp_params,
)

__all__ = [
    "Bandit",
    "Chain",
    "ContextualBandit",
    "FiniteMDP",
    "FiniteState",
    "GridWorld",
    "GridWorldParams",
    "GymnaxEnv",
    "TabularMDP",
    "TabularModel",
    "TabularParams",
    "make",
    "random_bandit_params",
    "random_mdp_params",
    "register",
    "registered_envs",
]
