"""Instances of the preference game: contextual dueling bandits (arXiv 2402.07314, 2312.00886).

A ``Game`` holds a preference tensor P [X, K, K] (P[x, a, b] = Pr(a preferred to b | x), with
P + P^T = 1 and diagonal 1/2, not necessarily transitive), a reference policy pi0 [X, K] and a
context distribution d0 [X]. Preference generators broadcast over any leading axes
("[..., K]" means [K] for one context or [X, K] for a game) and follow the float dtype of their
inputs. Most are sigmoids of a skew-symmetric logit L (P = sigma(L)); only its strict upper
triangle is read and the lower one is set to sigma(-L^T), so P + P^T = 1 and diag(P) = 1/2 hold
to round-off whatever the input.

* ``bradley_terry``: L_ab = r_a - r_b (transitive; Bradley & Terry 1952).
* ``intransitive_bradley_terry``: L_ab = r_a - r_b + kappa u_a^T Omega u_b, u_a in R^2,
  Omega = [[0, 1], [-1, 0]]: a rank-2 skew part of strength kappa (cf. Zhang et al. 2024,
  arXiv 2410.02197, general preference embeddings).
* ``condorcet_cycle``: action i beats action i + 1 (mod K) with probability q_i, other pairs are
  ties (1/2, our choice for K > 3). The default q = (0.9, 0.9, 0.6) on (A, B, C): a Bradley-Terry
  fit ranks A first (it wins its comparisons by more) although C beats A.
* ``bradley_terry_mixture``: P = sum_m w_m sigma(r^m_a - r^m_b), a population of BT raters.
* ``linear_preference``: L = w^T phi(x, a, b) with antisymmetric features phi(x, a, b) =
  -phi(x, b, a) (``antisymmetric_features``).

References: ``uniform_reference``; ``random_reference`` (softmax of N(0, 1) logits / temperature);
``skewed_reference`` (our choice): pi0(a|x) ∝ exp(-strength * pi_u(a|x) / max_b pi_u(b|x)) with pi_u
the equilibrium under the uniform reference at the same eta, so the action the equilibrium likes
best gets exp(-strength) times the mass of the actions it ignores (poor coverage of pi*).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from zoprl.games.solvers import newton_equilibrium
from zoprl.validation import check_choice, check_in_range, check_int, check_positive

GAME_KINDS = ("bradley_terry", "condorcet", "intransitive", "linear", "mixture", "skew")
REFERENCE_KINDS = ("random", "skewed", "uniform")
_OMEGA = ((0.0, 1.0), (-1.0, 0.0))


class Game(NamedTuple):
    """P: [X, K, K] preferences; pi0: [X, K] reference policy; d0: [X] context distribution."""

    P: jax.Array
    pi0: jax.Array
    d0: jax.Array


def preference_from_logits(logits):
    """P = sigma(L) from the strict upper triangle of L [..., K, K]: P_ab = sigma(L_ab) for a < b,
    P_ba = sigma(-L_ab), P_aa = 1/2."""
    num_actions = logits.shape[-1]
    upper = np.triu(np.ones((num_actions, num_actions), bool), k=1)
    lower_logits = -jnp.swapaxes(logits, -1, -2)
    skew = jnp.where(upper, logits, jnp.where(upper.T, lower_logits, 0.0))
    return jax.nn.sigmoid(skew)


def bradley_terry(rewards):
    """P_ab = sigma(r_a - r_b) for rewards [..., K]; returns [..., K, K]."""
    rewards = jnp.asarray(rewards)
    return preference_from_logits(rewards[..., :, None] - rewards[..., None, :])


def intransitive_bradley_terry(rewards, embeddings, kappa):
    """P_ab = sigma(r_a - r_b + kappa u_a^T Omega u_b); rewards [..., K], embeddings u
    [..., K, 2], kappa a scalar (kappa = 0 is Bradley-Terry)."""
    rewards, embeddings = jnp.asarray(rewards), jnp.asarray(embeddings)
    chex.assert_shape(embeddings, rewards.shape + (2,))
    omega = jnp.asarray(_OMEGA, embeddings.dtype)
    skew = jnp.einsum("...ai,ij,...bj->...ab", embeddings, omega, embeddings)
    return preference_from_logits(rewards[..., :, None] - rewards[..., None, :] + kappa * skew)


def condorcet_cycle(win_probs=(0.9, 0.9, 0.6), num_contexts: int = 1, dtype=float):
    """Cyclic preferences [X, K, K], K = len(win_probs) >= 3: P[i, i+1 mod K] = win_probs[i]
    (in [1/2, 1] for a cycle), P[i+1 mod K, i] = 1 - win_probs[i], every other pair 1/2."""
    num_contexts = check_int("num_contexts", num_contexts, 1)
    check_in_range("win_probs", win_probs, 0.0, 1.0)
    win_probs = jnp.asarray(win_probs, dtype)
    num_actions = win_probs.shape[-1]
    if win_probs.ndim != 1 or num_actions < 3:
        raise ValueError(f"win_probs must have shape [K] with K >= 3, got {win_probs.shape}")
    winners = np.arange(num_actions)
    losers = (winners + 1) % num_actions
    P = jnp.full((num_actions, num_actions), 0.5, win_probs.dtype)
    P = P.at[winners, losers].set(win_probs).at[losers, winners].set(1.0 - win_probs)
    return jnp.broadcast_to(P, (num_contexts, num_actions, num_actions))


def bradley_terry_mixture(weights, rewards):
    """P = sum_m w_m sigma(r^m_a - r^m_b); weights [M] (a distribution), rewards [M, ..., K]."""
    weights, rewards = jnp.asarray(weights), jnp.asarray(rewards)
    chex.assert_rank(weights, 1)
    chex.assert_axis_dimension(rewards, 0, weights.shape[0])
    per_population = bradley_terry(rewards)
    return jnp.tensordot(weights.astype(per_population.dtype), per_population, axes=1)


def linear_preference(features, weights):
    """P = sigma(w^T phi(x, a, b)); features phi [..., K, K, D] antisymmetric in (a, b) (only
    a < b is read), weights w [D]."""
    features, weights = jnp.asarray(features), jnp.asarray(weights)
    chex.assert_rank(weights, 1)
    chex.assert_axis_dimension(features, -1, weights.shape[0])
    return preference_from_logits(features @ weights.astype(features.dtype))


def antisymmetric_features(key, num_contexts: int, num_actions: int, dim: int, dtype=float):
    """phi = (g - g^T) / sqrt(2) with g ~ N(0, 1) [X, K, K, D]: unit-variance antisymmetric
    features, phi(x, a, b) = -phi(x, b, a), zero on the diagonal."""
    shape = (num_contexts, num_actions, num_actions, dim)
    g = jax.random.normal(key, shape, dtype)
    return (g - jnp.swapaxes(g, 1, 2)) / np.sqrt(2.0)


def uniform_reference(num_contexts: int, num_actions: int, dtype=float):
    """pi0(a|x) = 1 / K, [X, K]."""
    return jnp.full((num_contexts, num_actions), 1.0 / num_actions, dtype)


def random_reference(key, num_contexts: int, num_actions: int, temperature=1.0, dtype=float):
    """pi0(.|x) = softmax(z_x / temperature), z ~ N(0, I_K); larger temperature, closer to
    uniform."""
    check_positive("temperature", temperature)
    logits = jax.random.normal(key, (num_contexts, num_actions), dtype)
    return jax.nn.softmax(logits / temperature, axis=-1)


def skewed_reference(P, eta, strength=3.0):
    """Poor coverage (module docstring): pi0 ∝ exp(-strength pi_u / max pi_u), pi_u the equilibrium
    of P [X, K, K] with the uniform reference at eta. strength = 0 is uniform."""
    P = jnp.asarray(P)
    check_positive("eta", eta)
    uniform = jnp.full(P.shape[-1:], 1.0 / P.shape[-1], P.dtype)
    solve = lambda P_x: newton_equilibrium(P_x, uniform, eta).policy
    favoured = jax.vmap(solve)(P)
    favoured = favoured / jnp.max(favoured, axis=-1, keepdims=True)
    return jax.nn.softmax(-jnp.asarray(strength, P.dtype) * favoured, axis=-1)


def random_preference(
    key,
    num_contexts: int,
    num_actions: int,
    kind: str = "skew",
    *,
    scale=1.0,
    kappa=1.0,
    num_populations: int = 3,
    feature_dim: int = 4,
    dtype=float,
):
    """A random P [X, K, K] of one kind (static), logits of standard deviation ~ scale:

    skew: L_ab ~ N(0, scale^2) iid for a < b (generic, intransitive); bradley_terry: r ~ N(0,
    scale^2); intransitive: that r plus kappa u_a^T Omega u_b, u ~ N(0, I_2); mixture: M =
    num_populations BT rewards ~ N(0, scale^2), weights ~ Dirichlet(1); linear: antisymmetric
    features of dimension D = feature_dim, w ~ N(0, scale^2 / D); condorcet: the cycle
    0 -> 1 -> ... -> K-1 -> 0 with win probabilities sigma(scale |z|), z ~ N(0, 1)."""
    check_choice("game kind", kind, GAME_KINDS)
    num_contexts = check_int("num_contexts", num_contexts, 1)
    num_actions = check_int("num_actions", num_actions, 3 if kind == "condorcet" else 2)
    check_positive("scale", scale)
    first, second = jax.random.split(key)
    shape = (num_contexts, num_actions)
    if kind == "skew":
        logits = scale * jax.random.normal(first, shape + (num_actions,), dtype)
        return preference_from_logits(logits)
    if kind == "bradley_terry":
        return bradley_terry(scale * jax.random.normal(first, shape, dtype))
    if kind == "intransitive":
        embeddings = jax.random.normal(second, shape + (2,), dtype)
        return intransitive_bradley_terry(
            scale * jax.random.normal(first, shape, dtype), embeddings, kappa
        )
    if kind == "mixture":
        num_populations = check_int("num_populations", num_populations, 1)
        rewards = scale * jax.random.normal(first, (num_populations,) + shape, dtype)
        weights = jax.random.dirichlet(second, jnp.ones(num_populations, dtype))
        return bradley_terry_mixture(weights, rewards)
    if kind == "linear":
        feature_dim = check_int("feature_dim", feature_dim, 1)
        features = antisymmetric_features(first, num_contexts, num_actions, feature_dim, dtype)
        weights = scale * jax.random.normal(second, (feature_dim,), dtype) / np.sqrt(feature_dim)
        return linear_preference(features, weights)
    win_logits = scale * jnp.abs(jax.random.normal(first, shape, dtype))
    winners = np.arange(num_actions)
    losers = (winners + 1) % num_actions
    logits = jnp.zeros(shape + (num_actions,), dtype).at[:, winners, losers].set(win_logits)
    return preference_from_logits(logits)


def random_game(
    key,
    num_contexts: int,
    num_actions: int,
    kind: str = "skew",
    reference: str = "uniform",
    *,
    scale=1.0,
    kappa=1.0,
    temperature=1.0,
    strength=3.0,
    eta=1.0,
    num_populations: int = 3,
    feature_dim: int = 4,
    dtype=float,
) -> Game:
    """A random ``Game`` (uniform d0): P from ``random_preference`` and pi0 of the given reference
    kind (uniform, random with ``temperature``, or skewed with ``strength`` at ``eta``).

    Sizes, kinds, num_populations and feature_dim are static; the scalars may be arrays, and
    ``jax.vmap(lambda k: random_game(k, X, K, ...))(keys)`` draws a batch of games."""
    check_choice("reference kind", reference, REFERENCE_KINDS)
    preference_key, reference_key = jax.random.split(key)
    P = random_preference(
        preference_key,
        num_contexts,
        num_actions,
        kind,
        scale=scale,
        kappa=kappa,
        num_populations=num_populations,
        feature_dim=feature_dim,
        dtype=dtype,
    )
    if reference == "uniform":
        pi0 = uniform_reference(num_contexts, num_actions, P.dtype)
    elif reference == "random":
        pi0 = random_reference(reference_key, num_contexts, num_actions, temperature, P.dtype)
    else:
        pi0 = skewed_reference(P, eta, strength)
    d0 = jnp.full((num_contexts,), 1.0 / num_contexts, P.dtype)
    return Game(P, pi0, d0)


__all__ = [
    "GAME_KINDS",
    "REFERENCE_KINDS",
    "Game",
    "antisymmetric_features",
    "bradley_terry",
    "bradley_terry_mixture",
    "condorcet_cycle",
    "intransitive_bradley_terry",
    "linear_preference",
    "preference_from_logits",
    "random_game",
    "random_preference",
    "random_reference",
    "skewed_reference",
    "uniform_reference",
]
