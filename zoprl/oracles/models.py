"""Preference models: how likely a rational teacher is to prefer the second of two trajectories.

A preference model is the half of a simulated human that knows what is better; the teacher
transforms (``teachers``: mistakes, skips, ties, M votes) are the other half and apply to every
model. For a pair (tau_a, tau_b) a model gives

    p       = P(a rational vote prefers tau_b)
    tie_gap = the size of the difference between the two that the teacher's ``equal_margin`` is
              compared with (a tie when tie_gap < equal_margin)

as arrays of the pair's batch shape: trajectory leaves [..., H] in, [...] out, so one call
answers a whole batch of pairs. Models:

utility (``utility_model``)   p = sigma(beta (u(tau_b) - u(tau_a))), u the myopic return
                              sum_h gamma^(e_h) r_h (``utilities``), sigma a link (``links``):
                              the B-Pref teacher (Lee et al. 2021, arXiv 2111.03026) and the
                              Bradley-Terry model of RLHF. tie_gap = |r(tau_b) - r(tau_a)|, the
                              undiscounted, unscaled return gap, as B-Pref decides ties.
tensor (``tensor_model``)     a general preference over contexts and actions (Munos et al. 2023,
                              arXiv 2312.00886; Ye et al. 2024, arXiv 2402.07314):
                              p = P[x, b, a] with P[x, a, b] = P(a preferred to b | x) a tensor
                              [X, A, A] with P + P^T = 1 that need not come from any reward; x is
                              the pair's context (the first observation of tau_a: pairs are
                              expected to share it), a and b the first actions.
                              tie_gap = |p - 1/2|.

``max_logit(params, env_params, link, link_shape)`` bounds |sigma^{-1}(p)| under an assumed link:
the default clip range of the zeroth-order estimators (the largest utility gap the teacher can
express on the environment run).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.oracles import teachers
from zoprl.oracles.links import Link, get_link
from zoprl.oracles.utilities import myopic_utility, total_return
from zoprl.validation import check_in_range, is_concrete


class PreferenceModel(NamedTuple):
    """prob(traj_a, traj_b, params) -> (p, tie_gap); max_logit(params, env_params, link, shape)
    -> a bound on |link^{-1}(p)|; ``link``: the link p comes through (None for a general P)."""

    name: str
    prob: Callable
    max_logit: Callable
    link: Link | None


# utility model ----------------------------------------------------------------------------------
class UtilityParams(NamedTuple):
    """Knobs of the utility model (float leaves of one shape: scalars, or [G] for a grid).

    beta: rationality in (0, inf]; inf = perfectly rational (deterministic unless the gap is 0).
    gamma: myopia in (0, 1]; 1 = not myopic.
    link_shape: the link's shape parameter > 0 (linear c, extreme-value scale).
    """

    beta: jax.Array
    gamma: jax.Array
    link_shape: jax.Array


def validate_utility_params(params: UtilityParams) -> UtilityParams:
    """Raise ValueError naming the first bad value (tracers are skipped); returns ``params``."""
    check_in_range("beta", params.beta, 0.0, math.inf, low_open=True)
    check_in_range("gamma", params.gamma, 0.0, 1.0, low_open=True)
    check_in_range("link_shape", params.link_shape, 0.0, math.inf, low_open=True, high_open=True)
    return params


def return_range(env, env_params):
    """H (max r - min r), the largest possible |r(tau_b) - r(tau_a)| of a finite environment
    (H when every reward is equal); H for other environments (rewards assumed in [0, 1])."""
    if getattr(env, "is_finite", False):
        reward = env.model(env_params).reward
        spread = jnp.max(reward) - jnp.min(reward)
        return env.horizon * jnp.where(spread > 0, spread, 1.0)
    return jnp.asarray(float(env.horizon), jnp.float32)


def utility_model(link="logistic", env=None) -> PreferenceModel:
    """The utility model of the module doc with a static link (a name or a ``Link``). ``env``
    (optional) lets ``max_logit`` read the reward range of the environment run."""
    link = get_link(link)

    def prob(traj_a, traj_b, params: UtilityParams):
        gap = myopic_utility(traj_b, params.gamma) - myopic_utility(traj_a, params.gamma)
        p = teachers.rational_prob(link, gap, params.beta, params.link_shape)
        return p, jnp.abs(total_return(traj_b) - total_return(traj_a))

    def max_logit(params: UtilityParams, env_params, assumed_link, link_shape):
        """beta (beta = inf counts as 1) times the environment's return range; the myopic
        discount only shrinks gaps, so the undiscounted range bounds them."""
        del assumed_link, link_shape
        beta = jnp.where(jnp.isfinite(params.beta), params.beta, 1.0)
        scale = 1.0 if env is None else return_range(env, env_params)
        return beta * scale

    return PreferenceModel("utility", prob, max_logit, link)


# tensor model -----------------------------------------------------------------------------------
class TensorParams(NamedTuple):
    """preference: P[x, a, b] = P(a preferred to b | x), [X, A, A], P + P^T = 1."""

    preference: jax.Array


def tensor_model() -> PreferenceModel:
    """The general preference model of the module doc (contexts x actions)."""

    def prob(traj_a, traj_b, params: TensorParams):
        context = traj_a.obs[..., 0]
        p = params.preference[context, traj_b.action[..., 0], traj_a.action[..., 0]]
        return p, jnp.abs(p - 0.5)

    def max_logit(params: TensorParams, env_params, assumed_link: Link, link_shape):
        del env_params
        return jnp.abs(assumed_link.inverse(jnp.max(params.preference), link_shape))

    return PreferenceModel("tensor", prob, max_logit, None)


def validate_preference_tensor(
    preference, num_contexts: int, num_actions: int, atol: float = 1e-5
) -> None:
    """Raise ValueError unless ``preference`` is [X, A, A] with entries in [0, 1] and
    P + P^T = 1 within ``atol`` (skipped for tracers)."""
    from zoprl.oracles.preferences import validate_preference

    shape = tuple(np.shape(preference))
    if shape != (num_contexts, num_actions, num_actions):
        raise ValueError(
            f"the preference tensor must have shape [X, A, A] = "
            f"{(num_contexts, num_actions, num_actions)}, got {shape}"
        )
    if is_concrete(preference):
        validate_preference(preference, atol)


def as_float_tree(tree: Any, dtype=jnp.float32) -> Any:
    """Every leaf as a JAX array of ``dtype`` (for params built from Python numbers)."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), tree)


__all__ = [
    "PreferenceModel",
    "TensorParams",
    "UtilityParams",
    "as_float_tree",
    "return_range",
    "tensor_model",
    "utility_model",
    "validate_preference_tensor",
    "validate_utility_params",
]
