"""The game families of ``zoprl.games.instances`` as preference-tensor generators of the oracle.

A generator ``(env, env_params, *, <knobs>) -> TensorParams`` draws P [X, K, K] for a horizon-1
finite environment (a contextual bandit with X = env.num_states contexts and K = env.num_actions
actions); the "tensor" oracle kind (``zoprl.oracles.kinds``) calls it once per grid point with
that point's knob values, so ``oracle.seed`` draws a new random game per grid point and
``oracle.kappa`` sweeps the intransitivity. The teacher transforms (M votes, mistakes, skips,
ties) apply on top, as for every oracle kind.

Registered names (knobs in brackets; every random family also has ``seed`` and ``scale``, the
standard deviation of its logits):

* ``bradley_terry``   sigma(r_a - r_b), r ~ N(0, scale^2) per context (transitive);
* ``intransitive``    sigma(r_a - r_b + kappa u_a^T Omega u_b), Omega = [[0, 1], [-1, 0]],
                      u ~ N(0, I_2) [kappa: 0 is Bradley-Terry];
* ``skew``            sigma(L), L skew with iid N(0, scale^2) entries (generic, intransitive);
* ``mixture``         a Dirichlet(1) mixture of ``num_populations`` Bradley-Terry raters;
* ``linear``          sigma(w^T phi(x, a, b)), phi antisymmetric N(0, 1) features of dimension
                      ``feature_dim``, w ~ N(0, scale^2 / D);
* ``condorcet``       the Condorcet trap, no randomness [strong, weak]: action i beats i + 1
                      with probability ``strong`` (i < K - 1), the last beats the first with
                      probability ``weak``, other pairs tie; K = 3 with (0.9, 0.6) is a
                      Condorcet trap: a Bradley-Terry fit ranks action 0 first, yet action 2
                      beats it.

("reward", Bradley-Terry on the environment's own reward, is registered by the oracle kinds.)

``sort_eta`` > 0 (every random family) relabels the actions of each context so that the
equilibrium of the game with a uniform reference at eta = sort_eta puts increasing mass on
increasing action indices. A learner whose reference puts decreasing mass on increasing indices
(the "skewed" reference of the Nash learners) then covers the equilibrium poorly, while the
learner itself never sees P. Relabelling changes nothing else about the game.

Tensors come in the default float dtype (float64 under ``jax_enable_x64``), so that exact
evaluation against them can run in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.games.instances import condorcet_cycle, random_preference
from zoprl.games.solvers import equilibrium
from zoprl.oracles.kinds import register_preference_generator
from zoprl.oracles.models import TensorParams
from zoprl.validation import check_in_range, check_int, check_nonnegative


def _dtype():
    return jnp.asarray(0.0).dtype  # float64 under jax_enable_x64, else float32


def sort_by_equilibrium(P, eta):
    """P [X, K, K] with the actions of each context relabelled so that the equilibrium under the
    uniform reference at ``eta`` increases with the action index (module doc)."""
    uniform = jnp.full(P.shape[:-1], 1.0 / P.shape[-1], P.dtype)
    order = jnp.argsort(equilibrium(P, uniform, eta), axis=-1)
    return jax.vmap(lambda P_x, perm: P_x[perm][:, perm])(P, order)


def _random_family(env, kind, seed, scale, sort_eta, **options) -> TensorParams:
    seed = check_int("oracle seed", seed, 0)
    check_nonnegative("sort_eta", sort_eta)
    P = random_preference(
        jax.random.key(seed),
        env.num_states,
        env.num_actions,
        kind,
        scale=float(scale),
        dtype=_dtype(),
        **options,
    )
    if sort_eta > 0:
        P = sort_by_equilibrium(P, float(sort_eta))
    return TensorParams(P)


def bradley_terry_game(
    env, env_params, *, seed: int = 0, scale: float = 1.0, sort_eta: float = 0.0
) -> TensorParams:
    """Bradley-Terry with random rewards r ~ N(0, scale^2) (module doc)."""
    return _random_family(env, "bradley_terry", seed, scale, sort_eta)


def intransitive_game(
    env,
    env_params,
    *,
    seed: int = 0,
    scale: float = 1.0,
    kappa: float = 1.0,
    sort_eta: float = 0.0,
) -> TensorParams:
    """Bradley-Terry plus a rank-2 skew part of strength kappa (module doc)."""
    check_nonnegative("kappa", kappa)
    return _random_family(env, "intransitive", seed, scale, sort_eta, kappa=float(kappa))


def skew_game(
    env, env_params, *, seed: int = 0, scale: float = 1.0, sort_eta: float = 0.0
) -> TensorParams:
    """A generic skew-symmetric logit with iid N(0, scale^2) entries (module doc)."""
    return _random_family(env, "skew", seed, scale, sort_eta)


def mixture_game(
    env,
    env_params,
    *,
    seed: int = 0,
    scale: float = 1.0,
    num_populations: int = 3,
    sort_eta: float = 0.0,
) -> TensorParams:
    """A mixture of Bradley-Terry populations (module doc)."""
    populations = check_int("num_populations", num_populations, 1)
    return _random_family(env, "mixture", seed, scale, sort_eta, num_populations=populations)


def linear_game(
    env,
    env_params,
    *,
    seed: int = 0,
    scale: float = 1.0,
    feature_dim: int = 4,
    sort_eta: float = 0.0,
) -> TensorParams:
    """Linear in antisymmetric features (module doc)."""
    dim = check_int("feature_dim", feature_dim, 1)
    return _random_family(env, "linear", seed, scale, sort_eta, feature_dim=dim)


def condorcet_game(env, env_params, *, strong: float = 0.9, weak: float = 0.6) -> TensorParams:
    """The Condorcet trap (module doc); needs K >= 3 actions."""
    check_in_range("strong", strong, 0.0, 1.0)
    check_in_range("weak", weak, 0.0, 1.0)
    num_actions = check_int("num_actions (condorcet needs K >= 3)", env.num_actions, 3)
    win_probs = np.full(num_actions, float(strong))
    win_probs[-1] = float(weak)
    return TensorParams(condorcet_cycle(tuple(win_probs), env.num_states, _dtype()))


GAME_GENERATORS = {
    "bradley_terry": bradley_terry_game,
    "intransitive": intransitive_game,
    "skew": skew_game,
    "mixture": mixture_game,
    "linear": linear_game,
    "condorcet": condorcet_game,
}

for _name, _generator in GAME_GENERATORS.items():
    register_preference_generator(_name, _generator, overwrite=True)

__all__ = [
    "GAME_GENERATORS",
    "bradley_terry_game",
    "condorcet_game",
    "intransitive_game",
    "linear_game",
    "mixture_game",
    "skew_game",
    "sort_by_equilibrium",
]
