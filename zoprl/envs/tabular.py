"""Tabular MDPs from explicit tables, random Garnet-style instances, and bandits.

``TabularMDP`` holds the tables (P [S, A, S], R [S, A, S] or [S, A], rho [S]) in its params, so
a batch of MDP instances is a batch of params and ``vmap`` runs them all. ``random_mdp_params``
draws a Garnet instance (Archibald et al. 1995; Bhatnagar et al. 2009): every (s, a) reaches
``branching`` distinct next states with probabilities from a uniform stick-breaking (Dirichlet(1))
draw, rewards uniform in [0, 1], start uniform. A PRNG key picks the instance, so seeds give MDPs.

Bandits are horizon-1 tabular MDPs: the "prompt and response" setting. A contextual bandit with
X contexts draws x ~ rho, the policy answers a in A, the reward is R[x, a]; a multi-armed bandit
is the X = 1 case.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

from zoprl.envs.finite import FiniteMDP, TabularModel
from zoprl.validation import check_distribution, check_int, check_shape


@struct.dataclass(kw_only=True)
class TabularParams(environment.EnvParams):
    transition: jax.Array  # [S, A, S]
    reward: jax.Array  # [S, A, S]
    start: jax.Array  # [S]


class TabularMDP(FiniteMDP):
    """A finite-horizon MDP given by tables in its params; sizes and horizon are static."""

    def __init__(self, num_states: int, num_actions: int, horizon: int):
        self.num_states = check_int("num_states", num_states)
        self.num_actions = check_int("num_actions", num_actions)
        self.horizon = check_int("horizon", horizon)

    @property
    def name(self) -> str:
        return "TabularMDP"

    def make_params(self, transition, reward, start) -> TabularParams:
        """Validated tables. ``reward`` may be [S, A] (paid on leaving s with a) or [S, A, S]."""
        s, a = self.num_states, self.num_actions
        check_shape("transition", transition, (s, a, s))
        check_distribution("transition", transition)
        check_shape("start", start, (s,))
        check_distribution("start", start)
        reward = np.asarray(reward, np.float32)
        if reward.shape == (s, a):
            reward = np.broadcast_to(reward[..., None], (s, a, s))
        check_shape("reward", reward, (s, a, s))
        if not np.all(np.isfinite(reward)):
            raise ValueError("reward table has non-finite entries")
        return TabularParams(
            max_steps_in_episode=self.horizon,
            transition=jnp.asarray(transition, jnp.float32),
            reward=jnp.asarray(reward),
            start=jnp.asarray(start, jnp.float32),
        )

    @property
    def default_params(self) -> TabularParams:
        return random_mdp_params(
            jax.random.key(0),
            self.num_states,
            self.num_actions,
            min(3, self.num_states),
            horizon=self.horizon,
        )

    def model(self, params: TabularParams) -> TabularModel:
        return TabularModel(params.transition, params.reward, params.start)


def random_mdp_params(
    key, num_states: int, num_actions: int, branching: int, horizon: int = 1
) -> TabularParams:
    """A Garnet(S, A, branching) instance keyed by ``key`` (see module doc). Vmappable over keys
    (the sizes are static), so ``jax.vmap(lambda k: random_mdp_params(k, S, A, b))(keys)``
    gives a batch of MDP instances."""
    check_int("num_states", num_states)
    check_int("num_actions", num_actions)
    check_int("branching", branching)
    if branching > num_states:
        raise ValueError(f"branching {branching} exceeds num_states {num_states}")
    k_next, k_prob, k_rew = jax.random.split(key, 3)
    shape = (num_states, num_actions)
    scores = jax.random.uniform(k_next, shape + (num_states,))
    # the `branching` largest scores pick the reachable next states, without replacement
    threshold = jnp.sort(scores, axis=-1)[..., num_states - branching][..., None]
    reachable = scores >= threshold
    weights = jax.random.exponential(k_prob, shape + (num_states,)) * reachable
    transition = weights / jnp.sum(weights, axis=-1, keepdims=True)
    reward = jax.random.uniform(k_rew, shape)
    return TabularParams(
        max_steps_in_episode=horizon,
        transition=transition,
        reward=jnp.broadcast_to(reward[..., None], shape + (num_states,)),
        start=jnp.full((num_states,), 1.0 / num_states),
    )


class ContextualBandit(TabularMDP):
    """X contexts x A actions, horizon 1: x ~ rho, reward R[x, a] (the "prompt and response"
    setting). Transitions are irrelevant at horizon 1; the tables send every (x, a) back to rho."""

    def __init__(self, num_contexts: int, num_actions: int):
        super().__init__(num_contexts, num_actions, horizon=1)

    @property
    def name(self) -> str:
        return "ContextualBandit" if self.num_states > 1 else "Bandit"

    def make_params(self, reward, start=None) -> TabularParams:  # type: ignore[override]
        """``reward`` [X, A]; ``start`` (context distribution) defaults to uniform."""
        x, a = self.num_states, self.num_actions
        check_shape("reward", reward, (x, a))
        start = np.full(x, 1.0 / x) if start is None else np.asarray(start, np.float64)
        check_shape("start", start, (x,))
        check_distribution("start", start)
        transition = np.broadcast_to(start, (x, a, x))
        return super().make_params(transition, reward, start)

    @property
    def default_params(self) -> TabularParams:
        return random_bandit_params(jax.random.key(0), self.num_states, self.num_actions)


def random_bandit_params(key, num_contexts: int, num_actions: int) -> TabularParams:
    """Rewards R[x, a] ~ N(0, 1), uniform contexts; vmappable over keys."""
    x, a = num_contexts, num_actions
    reward = jax.random.normal(key, (x, a))
    start = jnp.full((x,), 1.0 / x)
    return TabularParams(
        max_steps_in_episode=1,
        transition=jnp.broadcast_to(start, (x, a, x)),
        reward=jnp.broadcast_to(reward[..., None], (x, a, x)),
        start=start,
    )


class Bandit(ContextualBandit):
    """Multi-armed bandit: one context, A arms, horizon 1."""

    def __init__(self, num_actions: int):
        super().__init__(1, num_actions)
