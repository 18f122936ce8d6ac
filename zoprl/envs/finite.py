"""Base class for finite-horizon MDPs with finite state and action spaces.

A finite environment exposes its model as tables (docs/methods.md section 1):

    P[s, a, s']  transition probabilities,  R[s, a, s']  reward of the step s -a-> s',
    rho[s]       start distribution,        H            horizon (static).

The exact evaluator (``zoprl.evaluation``) reads only these tables; ``step`` samples from the same
model (subclasses may simulate the dynamics directly when that is cheaper, and tests check that
the two agree). Observations are the integer state index; policies that need features map the
index themselves (``zoprl.policies``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


def inverse_cdf(probs, u) -> jax.Array:
    """Index i ~ probs (last axis) from a uniform u in [0, 1): i = #{j < n - 1 : F(j) <= u}, F the
    cumulative sum of ``probs``. Batch shapes of ``probs[..., :]`` and ``u`` broadcast; int32."""
    cdf = jnp.cumsum(probs, axis=-1)[..., :-1]
    return jnp.sum(cdf <= jnp.asarray(u)[..., None], axis=-1).astype(jnp.int32)


class TabularModel(NamedTuple):
    """Tables of a finite MDP: P [S, A, S], R [S, A, S] and rho [S]."""

    transition: jax.Array
    reward: jax.Array
    start: jax.Array

    def expected_reward(self) -> jax.Array:
        """r(s, a) = sum_s' P(s'|s, a) R(s, a, s'), shape [S, A]."""
        return jnp.sum(self.transition * self.reward, axis=-1)


@struct.dataclass
class FiniteState(environment.EnvState):
    """State of a finite MDP: the state index and the step counter ``time``."""

    state: jax.Array


class FiniteMDP(environment.Environment):
    """A gymnax environment with finite S, A, a static horizon H and an exact tabular model.

    Subclasses set ``num_states``, ``num_actions`` and ``horizon`` and implement ``model(params)``;
    the default ``step_env`` samples s' ~ P(.|s, a) and pays R(s, a, s').
    Episodes never terminate early: the rollout runs exactly H steps (absorbing states stay put),
    and the episode is truncated when ``time`` reaches H.
    """

    num_states: int
    num_actions: int = 0  # shadows gymnax's read-only property; set by every subclass
    horizon: int

    def model(self, params) -> TabularModel:
        raise NotImplementedError

    # gymnax API ---------------------------------------------------------------------------------
    def reset_env(self, key, params):
        start = self.model(params).start
        s = jax.random.choice(key, self.num_states, p=start)
        state = FiniteState(time=jnp.int32(0), state=s.astype(jnp.int32))
        return state.state, state

    def step_env(self, key, state, action, params):
        m = self.model(params)
        s_next = jax.random.choice(key, self.num_states, p=m.transition[state.state, action])
        reward = m.reward[state.state, action, s_next]
        return self._advance(state, s_next.astype(jnp.int32), reward)

    # bulk-uniform path (zoprl.rollout's batched rollouts) -------------------------------------
    def reset_from_uniform(self, u, params) -> jax.Array:
        """Start state index s_0 ~ rho from a given uniform u in [0, 1) by inverse CDF (any batch
        shape of u): s_0 = #{s < S - 1 : F(s) <= u}, F the cumulative start distribution."""
        return inverse_cdf(self.model(params).start, u)

    def step_from_uniform(self, u, s, action, params) -> tuple[jax.Array, jax.Array]:
        """(s', R(s, a, s')) with s' ~ P(. | s, a) drawn from one given uniform u by inverse CDF.

        Elementwise in (u, s, action), which may carry any common batch shape: the batched
        rollouts draw all their uniforms in one call and step a whole batch of states at once.
        Subclasses that simulate their dynamics directly override it (and ``step_env`` then
        calls it with a uniform drawn from the key, so the two paths share one law).
        """
        m = self.model(params)
        s_next = inverse_cdf(m.transition[s, action], u)
        return s_next, m.reward[s, action, s_next].astype(jnp.float32)

    def _advance(self, state, s_next, reward):
        new_state = FiniteState(time=state.time + 1, state=s_next)
        terminated = jnp.bool_(False)
        return s_next, new_state, reward.astype(jnp.float32), terminated, {}

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    def is_truncated(self, state, params):
        return state.time >= self.horizon

    # spaces -------------------------------------------------------------------------------------
    def observation_space(self, params):
        return spaces.Discrete(self.num_states)

    def action_space(self, params=None):
        return spaces.Discrete(self.num_actions)

    def state_space(self, params):
        return spaces.Dict(
            {"state": spaces.Discrete(self.num_states), "time": spaces.Discrete(self.horizon + 1)}
        )

    def observations(self, params=None) -> jax.Array:
        """The observation of every state, stacked: [S] (state indices)."""
        return jnp.arange(self.num_states, dtype=jnp.int32)

    @property
    def is_finite(self) -> bool:
        return True
