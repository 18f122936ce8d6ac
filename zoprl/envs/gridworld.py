"""Stochastic GridWorld, the test bed of the zeroth-order preference methods (arXiv 2409.17401).

Pinned default (so that results are comparable): a 5 x 5 grid, start at the top-left cell, one
goal at the bottom-right cell, 4 actions (0 up, 1 right, 2 down, 3 left). A move into a wall
leaves the agent in place. With slip probability p (default 0.1) the chosen action is replaced by
one of the other three actions uniformly at random. Goals are absorbing. The reward of step h
depends on the cell s' reached by that step:

    distance (default):  r_h = 1 - manhattan(s', nearest goal) / (2 (n - 1))   (1 in a goal)
    sparse:              r_h = 1[s' is a goal]

plus ``trap_reward`` (default -1) whenever s' is a trap cell. Horizon H = 10. For the default
with slip 0.1 the uniform policy's value is about 2.14 and the optimal value about 5.95.

States are indexed s = row * n + col. Slip, start cell, goal and trap masks and the trap reward
are vmappable ``GridWorldParams``; grid size, horizon and reward kind are static.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

from zoprl.envs.finite import FiniteMDP, FiniteState, TabularModel
from zoprl.validation import check_int, check_probability

# (d_row, d_col) for up, right, down, left
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
REWARD_KINDS = ("distance", "sparse")


@struct.dataclass(kw_only=True)
class GridWorldParams(environment.EnvParams):
    slip: jax.Array
    start: jax.Array  # int, cell index of the start
    goal_mask: jax.Array  # [S] float, 1 for goal cells (absorbing)
    trap_mask: jax.Array  # [S] float, 1 for trap cells
    trap_reward: jax.Array  # reward added when the reached cell is a trap


class GridWorld(FiniteMDP):
    """n x n stochastic GridWorld with slip, absorbing goals and optional traps (see module doc)."""

    num_actions = 4

    def __init__(self, size: int = 5, horizon: int = 10, reward: str = "distance"):
        self.size = check_int("grid size", size, minimum=2)
        self.horizon = check_int("horizon", horizon)
        if reward not in REWARD_KINDS:
            raise ValueError(
                f"unknown GridWorld reward {reward!r}; valid: {', '.join(REWARD_KINDS)}"
            )
        self.reward_kind = reward
        self.num_states = self.size * self.size
        rows, cols = np.divmod(np.arange(self.num_states), self.size)
        coords = np.stack([rows, cols], axis=-1)
        nxt = np.clip(coords[:, None, :] + MOVES[None], 0, self.size - 1)
        self._next_cell = nxt[..., 0] * self.size + nxt[..., 1]  # [S, A]
        self._manhattan = np.abs(coords[:, None] - coords[None]).sum(-1)  # [S, S]

    @property
    def name(self) -> str:
        return "GridWorld"

    def cell(self, row: int, col: int) -> int:
        for v, what in ((row, "row"), (col, "column")):
            if not 0 <= int(v) < self.size:
                raise ValueError(
                    f"GridWorld {what} {v} is outside the {self.size}x{self.size} grid"
                )
        return int(row) * self.size + int(col)

    def _mask(self, cells: Iterable[Sequence[int]]) -> np.ndarray:
        mask = np.zeros(self.num_states, np.float32)
        for rc in cells:
            if len(rc) != 2:
                raise ValueError(f"GridWorld cells are (row, col) pairs, got {rc!r}")
            mask[self.cell(*rc)] = 1.0
        return mask

    def make_params(
        self,
        slip: float = 0.1,
        start: Sequence[int] = (0, 0),
        goals: Iterable[Sequence[int]] | None = None,
        traps: Iterable[Sequence[int]] = (),
        trap_reward: float = -1.0,
    ) -> GridWorldParams:
        """Validated parameters; ``goals`` defaults to the bottom-right cell."""
        check_probability("slip", slip)
        goals = [(self.size - 1, self.size - 1)] if goals is None else list(goals)
        if not goals:
            raise ValueError("GridWorld needs at least one goal cell, got none")
        goal_mask, trap_mask = self._mask(goals), self._mask(traps)
        if np.any(goal_mask * trap_mask):
            raise ValueError("a GridWorld cell cannot be both a goal and a trap")
        if not np.isfinite(trap_reward):
            raise ValueError(f"trap_reward must be finite, got {trap_reward}")
        return GridWorldParams(
            max_steps_in_episode=self.horizon,
            slip=jnp.float32(slip),
            start=jnp.int32(self.cell(*start)),
            goal_mask=jnp.asarray(goal_mask),
            trap_mask=jnp.asarray(trap_mask),
            trap_reward=jnp.float32(trap_reward),
        )

    @property
    def default_params(self) -> GridWorldParams:
        return self.make_params()

    # reward and dynamics ------------------------------------------------------------------------
    def cell_reward(self, params: GridWorldParams) -> jax.Array:
        """Reward for reaching each cell s', [S]."""
        if self.reward_kind == "distance":
            manhattan = jnp.asarray(self._manhattan, params.goal_mask.dtype)
            dist = jnp.min(jnp.where(params.goal_mask[None] > 0, manhattan, jnp.inf), axis=1)
            base = 1.0 - dist / (2.0 * (self.size - 1))
        else:
            base = params.goal_mask
        return base + params.trap_reward * params.trap_mask

    def model(self, params: GridWorldParams) -> TabularModel:
        """The tables, in the floating dtype of the params (float64 params: float64 tables)."""
        dtype = jnp.result_type(params.slip, params.goal_mask)
        nxt = jax.nn.one_hot(self._next_cell, self.num_states, dtype=dtype)  # [S, A, S]
        others = (jnp.sum(nxt, axis=1, keepdims=True) - nxt) / 3.0
        moved = (1.0 - params.slip) * nxt + params.slip * others
        stay = jnp.eye(self.num_states, dtype=dtype)[:, None, :]
        transition = jnp.where(params.goal_mask[:, None, None] > 0, stay, moved)
        reward = jnp.broadcast_to(self.cell_reward(params), transition.shape)
        start = jax.nn.one_hot(params.start, self.num_states, dtype=dtype)
        return TabularModel(transition, reward, start)

    def reset_env(self, key, params):
        state = FiniteState(time=jnp.int32(0), state=params.start.astype(jnp.int32))
        return state.state, state

    def step_env(self, key, state, action, params):
        s_next, reward = self.step_from_uniform(
            jax.random.uniform(key), state.state, action, params
        )
        return self._advance(state, s_next, reward)

    def reset_from_uniform(self, u, params):
        return jnp.broadcast_to(params.start.astype(jnp.int32), jnp.shape(u))

    def step_from_uniform(self, u, s, action, params):
        """Direct simulation with a single uniform u: the action slips iff u < p, and then
        u / p (uniform on [0, 1) given a slip) picks one of the other three actions.
        Elementwise in (u, s, action), any common batch shape."""
        slipped = u < params.slip
        offset = jnp.minimum(jnp.floor(3.0 * u / jnp.maximum(params.slip, 1e-12)), 2.0)
        taken = jnp.where(slipped, (action + 1 + offset.astype(jnp.int32)) % 4, action)
        s_next = jnp.asarray(self._next_cell, jnp.int32)[s, taken]
        s_next = jnp.where(params.goal_mask[s] > 0, s, s_next).astype(jnp.int32)
        return s_next, self.cell_reward(params)[s_next].astype(jnp.float32)
