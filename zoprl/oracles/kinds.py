"""Oracle kinds: the preference models a spec can name (``[oracle] kind = ...``), by name.

A kind is ``OracleKind(build, default_preset, description)`` where

    build(env, *, <static options>) -> KindModel(model, params, label)

builds the preference model for an environment from its static (shape-changing, compiled-in)
options, and ``KindModel.params(env_params, *, <knobs>) -> model params`` turns the sweepable
knobs into the model's params pytree (validated in Python). The names a spec may use come from
these signatures: static options are ``build``'s keyword-only arguments, knobs are ``params``'s
keyword-only arguments (their defaults are the neutral values). Every kind shares the teacher
knobs (``TEACHER_KNOBS``: mistake, skip, equal_margin) and the number of votes M, so one oracle of
any kind is ``make_preference_oracle(kind_model.model, M)`` with
``OracleParams(kind_model.params(env_params, **knobs), teacher_params(**teacher_knobs))``.

Kinds:
  utility  a link on the (myopic, beta-scaled) return gap: the B-Pref teacher; static ``link``,
           knobs beta, gamma, link_shape.
  tensor   a general preference P[x, a, b] over the contexts and actions of a horizon-1 finite
           environment (a contextual bandit), from a named generator (static ``generator``;
           ``register_preference_generator`` adds more); the generator's keyword-only
           arguments are the knobs, so ``oracle.seed`` or ``oracle.strength`` can be swept.

``register_oracle_kind`` adds a kind (a user's own preference model) under a new name.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.oracles.links import LINK_NAMES, get_link
from zoprl.oracles.models import (
    PreferenceModel,
    TensorParams,
    UtilityParams,
    tensor_model,
    utility_model,
    validate_preference_tensor,
    validate_utility_params,
)
from zoprl.oracles.oracle import TEACHER_KNOBS
from zoprl.oracles.preferences import (
    cyclic_preference,
    low_rank_preference,
    reward_induced_preference,
)
from zoprl.validation import check_choice, check_int


class KindModel(NamedTuple):
    """A kind built for one environment: the preference model, the knobs -> params function,
    and the label of the results table's ``oracle`` column."""

    model: PreferenceModel
    params: Callable
    label: str


class OracleKind(NamedTuple):
    build: Callable  # (env, *, <static options>) -> KindModel
    default_preset: str  # the teacher preset when a spec names none
    description: str


def keyword_only(fn: Callable) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of ``fn`` (name -> inspect.Parameter)."""
    return {
        name: p
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _float(name: str, value) -> jax.Array:
    """A knob as a float32 array (a number, or a nested list for a tensor)."""
    try:
        return jnp.asarray(value, jnp.float32)
    except (TypeError, ValueError):
        raise ValueError(f"oracle knob {name} must be a number, got {value!r}") from None


# utility kind -----------------------------------------------------------------------------------
def utility_kind(env, *, link: str = "logistic") -> KindModel:
    """A link on the return gap (the B-Pref teacher; ``models.utility_model``)."""
    check_choice("oracle link", link, LINK_NAMES)

    def params(
        env_params, *, beta: float = math.inf, gamma: float = 1.0, link_shape: float = 1.0
    ) -> UtilityParams:
        return validate_utility_params(
            UtilityParams(
                _float("beta", beta), _float("gamma", gamma), _float("link_shape", link_shape)
            )
        )

    return KindModel(utility_model(get_link(link), env), params, link)


# tensor kind ------------------------------------------------------------------------------------
def _cyclic(env, env_params, *, strength: float = 0.4) -> TensorParams:
    """P = 1/2 + strength * s(a, b), s the balanced cyclic tournament (A >= 3)."""
    return TensorParams(cyclic_preference(env.num_states, env.num_actions, strength))


def _low_rank(
    env, env_params, *, seed: int = 0, rank: int = 2, scale: float = 1.0, link: str = "logistic"
) -> TensorParams:
    """P = g(scale v_a^T J v_b / sqrt(rank)) with v ~ N(0, I) drawn from ``seed``."""
    seed = check_int("oracle seed", seed, 0)
    return TensorParams(
        low_rank_preference(
            jax.random.key(seed), env.num_states, env.num_actions, rank, scale, link
        )
    )


def _reward(env, env_params, *, beta: float = 1.0, link: str = "logistic") -> TensorParams:
    """Bradley-Terry on the environment's expected reward: P = g(beta (r(x, a) - r(x, b)))."""
    reward = env.model(env_params).expected_reward()
    return TensorParams(reward_induced_preference(_float("beta", beta) * reward, link))


def _given(env, env_params, *, preference: Any = None) -> TensorParams:
    """A preference tensor given as a nested list [X, A, A]."""
    if preference is None:
        raise ValueError(
            "the 'given' preference generator needs the knob preference = a nested list [X, A, A]"
        )
    preference = _float("preference", preference)
    validate_preference_tensor(preference, env.num_states, env.num_actions)
    return TensorParams(preference)


PREFERENCE_GENERATORS: dict[str, Callable] = {
    "cyclic": _cyclic,
    "low_rank": _low_rank,
    "reward": _reward,
    "given": _given,
}
"""Generators of preference tensors: (env, env_params, *, <knobs>) -> TensorParams."""


def register_preference_generator(
    name: str, generator: Callable, *, overwrite: bool = False
) -> Callable:
    """Add a generator ``(env, env_params, *, <knobs>) -> TensorParams`` under ``name``."""
    if name in PREFERENCE_GENERATORS and not overwrite:
        raise ValueError(f"preference generator {name!r} is already registered")
    PREFERENCE_GENERATORS[name] = generator
    return generator


def tensor_kind(env, *, generator: str = "cyclic") -> KindModel:
    """A general preference P[x, a, b] over the contexts and actions of a horizon-1 finite
    environment (``models.tensor_model``), drawn by a named generator."""
    if not getattr(env, "is_finite", False) or env.horizon != 1:
        raise ValueError(
            f"a preference tensor needs a horizon-1 finite environment (a "
            f"contextual bandit); {env.name!r} is not one"
        )
    check_choice("preference generator", generator, tuple(PREFERENCE_GENERATORS))
    draw = PREFERENCE_GENERATORS[generator]

    def params(env_params, **knobs) -> TensorParams:
        tensor = draw(env, env_params, **knobs)
        validate_preference_tensor(tensor.preference, env.num_states, env.num_actions)
        return tensor

    params.__signature__ = inspect.Signature(
        [
            inspect.Parameter("env_params", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *keyword_only(draw).values(),
        ]
    )
    return KindModel(tensor_model(), params, f"tensor:{generator}")


ORACLE_KINDS: dict[str, OracleKind] = {
    "utility": OracleKind(
        utility_kind,
        "noisy",
        "a link on the return gap (B-Pref teacher, Bradley-Terry with the logistic link)",
    ),
    "tensor": OracleKind(
        tensor_kind,
        "oracle",
        "a general preference tensor P[x, a, b] over contexts and actions (contextual bandits)",
    ),
}


def register_oracle_kind(name: str, kind: OracleKind, *, overwrite: bool = False) -> OracleKind:
    """Add an oracle kind under ``name`` (see the module doc for what ``kind.build`` returns)."""
    if name in ORACLE_KINDS and not overwrite:
        raise ValueError(f"oracle kind {name!r} is already registered")
    if not isinstance(kind, OracleKind):
        raise ValueError(f"an oracle kind must be an OracleKind, got {kind!r}")
    ORACLE_KINDS[name] = kind
    return kind


def kind_knobs(kind_model: KindModel) -> dict[str, Any]:
    """Every knob of a built kind with its default: the model's, then the teacher's."""
    knobs = {name: p.default for name, p in keyword_only(kind_model.params).items()}
    clash = sorted(set(knobs) & set(TEACHER_KNOBS))
    if clash:
        raise ValueError(f"oracle knob {clash[0]!r} clashes with a teacher knob")
    return {**knobs, "mistake": 0.0, "skip": 0.0, "equal_margin": 0.0}


__all__ = [
    "ORACLE_KINDS",
    "PREFERENCE_GENERATORS",
    "KindModel",
    "OracleKind",
    "keyword_only",
    "kind_knobs",
    "register_oracle_kind",
    "register_preference_generator",
    "tensor_kind",
    "utility_kind",
]
