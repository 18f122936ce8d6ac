"""A chain MDP with a nearby distractor and a distant goal: a small finite environment where the
trajectories of a reference that hesitates to move and those of the optimal policy differ
strongly (the distribution-shift experiment of bilevel RLHF, arXiv 2410.15610).

States 0, ..., S - 1 on a line, start at 0, two actions: 0 "back" (s -> max(s - 1, 0)) and
1 "forward" (s -> s + 1, capped at S - 1, with probability 1 - slip; else s stays). The reward is
``home_reward`` for "back" in state 0 (staying home) and ``goal_reward`` for any action in the
last state; 0 elsewhere. With S = 3 and H = 3, staying home earns 3 home_reward and going
forward twice earns goal_reward once (at h = 3): with the defaults (0.4 and 2.0) the goal is
optimal, but a reference with pi_ref(forward) = 0.1 reaches it in 1% of its trajectories, so
pairs of pi_ref say almost nothing about the goal's reward.
"""

from __future__ import annotations

import numpy as np

from zoprl.envs.tabular import TabularMDP, TabularParams
from zoprl.validation import check_in_range, check_int


class Chain(TabularMDP):
    """The chain of the module doc: S states, 2 actions, horizon H (static)."""

    def __init__(self, num_states: int = 3, horizon: int = 3):
        super().__init__(check_int("num_states", num_states, minimum=2), 2, horizon)

    @property
    def name(self) -> str:
        return "Chain"

    def make_params(  # type: ignore[override]
        self, slip: float = 0.0, home_reward: float = 0.4, goal_reward: float = 2.0
    ) -> TabularParams:
        """Validated tables of the chain (module doc)."""
        check_in_range("slip", slip, 0.0, 1.0)
        s = self.num_states
        states, eye = np.arange(s), np.eye(s)
        back = eye[np.maximum(states - 1, 0)]  # [S, S]: s -> max(s - 1, 0)
        forward = (1.0 - slip) * eye[np.minimum(states + 1, s - 1)] + slip * eye
        transition = np.stack([back, forward], axis=1)  # [S, 2, S]
        reward = np.zeros((s, 2))
        reward[0, 0] = home_reward
        reward[s - 1, :] = goal_reward
        start = np.eye(s)[0]
        return super().make_params(transition, reward, start)

    @property
    def default_params(self) -> TabularParams:
        return self.make_params()


__all__ = ["Chain"]
