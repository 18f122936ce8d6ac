"""Simulated human oracles: a preference model plus the teacher transforms, with M votes a pair.

An oracle combines a preference model (``models``: what a rational teacher prefers) with the
teacher transforms of B-Pref (``teachers``), which apply to every model. For a pair (tau_a, tau_b)
of any batch shape (trajectory leaves [..., H]):

  p, tie_gap = model.prob(tau_a, tau_b, params.model)    rational answer, size of the difference
  p_eff = (1 - f) p + f (1 - p),  f = mistake / (1 - skip)
  tie   = tie_gap < equal_margin                          (label 1/2; never with margin 0)

Batching contract: ``query(key, traj_a, traj_b, params)`` answers a whole batch of pairs with ONE
key (it draws per pair itself) and returns ``Feedback`` with leaves of the pair's batch shape:
one Binomial(M, p_eff) draw (``teachers.sample_binomial``) and one Bernoulli(skip) draw per pair.

  votes     float, votes preferring traj_b (label 1 = second trajectory preferred).
            A tie gives votes = M / 2 (B-Pref's "equally preferable"); a skipped pair 0.
  asked     float, M for every pair, skipped or not: the human was asked, the query counts.
  answered  float mask, 1.0 answered, 0.0 skipped. Skipped pairs stay in the batch (never
            dropped); estimators weight by this mask.
  tie       bool, True when answered and tied (a skipped pair is never a tie).

``prob(traj_a, traj_b, params)`` is the exact probability that one answered vote prefers traj_b
(1/2 on a tie), so E[votes | answered] = M prob. For the rational answer alone, use
``params._replace(teacher=teacher_params())``. With the asymmetric extreme-value link the order of
the pair matters (position bias): prob(a, b) + prob(b, a) != 1 in general.

``OracleParams(model, teacher)``: the model's knobs and ``TeacherParams``; every leaf can carry a
leading grid axis [G] to sweep it by vmap. ``oracle_params(preset, **knobs)`` builds the params
of the utility model (the B-Pref teacher); ``tensor_oracle_params`` those of a general
preference tensor.
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
from zoprl.oracles.models import (
    PreferenceModel,
    TensorParams,
    UtilityParams,
    as_float_tree,
    tensor_model,
    utility_model,
    validate_utility_params,
)
from zoprl.oracles.presets import preset_values
from zoprl.validation import check_in_range, check_int, is_concrete


class TeacherParams(NamedTuple):
    """Teacher knobs shared by every preference model (float leaves of one shape).

    mistake: probability in [0, 1] that an asked vote is flipped.
    skip: probability in [0, 1] that a pair is skipped; mistake + skip <= 1.
    equal_margin: tie threshold >= 0 on the model's tie gap (utility model: |r(tau_b) -
      r(tau_a)| in return units).
    """

    mistake: jax.Array
    skip: jax.Array
    equal_margin: jax.Array


TEACHER_KNOBS = TeacherParams._fields


class OracleParams(NamedTuple):
    """The sweepable knobs of an oracle: the preference model's and the teacher's."""

    model: Any
    teacher: TeacherParams


class Feedback(NamedTuple):
    """Answers to M queries per pair (see the module docstring for the conventions)."""

    votes: jax.Array
    asked: jax.Array
    answered: jax.Array
    tie: jax.Array


class Oracle(NamedTuple):
    """prob(traj_a, traj_b, params) and query(key, traj_a, traj_b, params) (module doc);
    M = ``num_queries`` and the preference model are static."""

    prob: Callable
    query: Callable
    num_queries: int
    model: PreferenceModel

    @property
    def link(self) -> Link | None:
        """The link of a utility model (None for general preferences)."""
        return self.model.link


def validate_teacher_params(params: TeacherParams) -> TeacherParams:
    """Raise ValueError naming the first bad value; tracers are skipped. Returns ``params``."""
    check_in_range("mistake", params.mistake, 0.0, 1.0)
    check_in_range("skip", params.skip, 0.0, 1.0)
    check_in_range("equal_margin", params.equal_margin, 0.0, math.inf)
    if is_concrete(params.mistake) and is_concrete(params.skip):
        total = np.asarray(params.mistake, np.float64) + np.asarray(params.skip, np.float64)
        check_in_range("mistake + skip", total, 0.0, 1.0 + 1e-6)
    return params


def validate_oracle_params(params: OracleParams) -> OracleParams:
    """The teacher's checks, and the utility model's when the params are a utility model's."""
    validate_teacher_params(params.teacher)
    if isinstance(params.model, UtilityParams):
        validate_utility_params(params.model)
    return params


def _broadcast(values: dict, where: str) -> dict:
    """The values as float32 NumPy arrays broadcast to one common shape (a grid or scalars);
    they become JAX arrays (``as_float_tree``) only after validation."""
    arrays = {name: np.asarray(value, np.float32) for name, value in values.items()}
    try:
        common = np.broadcast_arrays(*arrays.values())
    except ValueError as err:
        shapes = {name: a.shape for name, a in arrays.items()}
        raise ValueError(f"{where} shapes do not broadcast: {shapes}") from err
    return {name: np.array(a) for name, a in zip(arrays, common)}  # a contiguous copy


def teacher_params(**knobs) -> TeacherParams:
    """Validated ``TeacherParams`` (defaults: a perfect teacher: no mistakes, skips or ties)."""
    unknown = sorted(set(knobs) - set(TEACHER_KNOBS))
    if unknown:
        raise ValueError(
            f"unknown teacher parameter {unknown[0]!r}; valid names: {', '.join(TEACHER_KNOBS)}"
        )
    values = {"mistake": 0.0, "skip": 0.0, "equal_margin": 0.0, **knobs}
    return as_float_tree(
        validate_teacher_params(TeacherParams(**_broadcast(values, "teacher parameter")))
    )


def oracle_params(preset: str = "oracle", **overrides) -> OracleParams:
    """OracleParams of the utility model: ``preset`` (see ``presets.PRESET_NAMES``) with knobs
    replaced by ``overrides`` (beta, gamma, link_shape, mistake, skip, equal_margin).

    Overrides may be scalars or arrays (a grid); all leaves are broadcast to one shape, so that a
    grid is swept by vmapping over the params argument with in_axes 0, e.g.
    ``vmap(oracle.query, in_axes=(None, None, None, 0))(key, a, b, oracle_params(beta=[1., 2.]))``.
    Everything is validated in Python before any array reaches JAX.
    """
    values = preset_values(preset)
    valid = UtilityParams._fields + TEACHER_KNOBS
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown oracle parameter {unknown[0]!r}; valid names: {', '.join(valid)}"
        )
    values.update(overrides)
    both = _broadcast({name: values[name] for name in valid}, "oracle parameter")
    params = OracleParams(
        UtilityParams(*(both[f] for f in UtilityParams._fields)),
        TeacherParams(*(both[f] for f in TEACHER_KNOBS)),
    )
    return as_float_tree(validate_oracle_params(params))


def tensor_oracle_params(preference, **teacher_knobs) -> OracleParams:
    """OracleParams of the tensor model: P [X, A, A] (validated: entries in [0, 1],
    P + P^T = 1) and the teacher knobs (default: a perfect teacher)."""
    from zoprl.oracles.preferences import validate_preference

    validate_preference(preference)
    return OracleParams(
        TensorParams(jnp.asarray(preference, jnp.float32)), teacher_params(**teacher_knobs)
    )


def make_preference_oracle(model: PreferenceModel, num_queries: int = 1) -> Oracle:
    """An oracle answering M = ``num_queries`` >= 1 votes a pair from ``model`` (module doc)."""
    num_queries = check_int("num_queries", num_queries, 1)

    def effective(traj_a, traj_b, params: OracleParams):
        p, tie_gap = model.prob(traj_a, traj_b, params.model)
        teacher = params.teacher
        p = teachers.apply_mistakes(
            p, teachers.conditional_flip_rate(teacher.mistake, teacher.skip)
        )
        tie = teachers.tie_mask(tie_gap, teacher.equal_margin)
        return jnp.where(tie, 0.5, p), tie

    def prob(traj_a, traj_b, params: OracleParams):
        """P(an answered vote prefers traj_b), 1/2 on ties; shape = batch shape of the pair."""
        return effective(traj_a, traj_b, params)[0]

    def query(key, traj_a, traj_b, params: OracleParams) -> Feedback:
        """M votes on every pair of the batch: one Binomial(M, p_eff) and one skip draw each."""
        skip_key, vote_key = jax.random.split(key)
        p, tie = effective(traj_a, traj_b, params)
        answered = teachers.skip_mask(skip_key, params.teacher.skip, p.shape)
        votes = teachers.draw_votes(vote_key, num_queries, p, answered, tie)
        asked = jnp.full(p.shape, num_queries, jnp.float32)
        return Feedback(votes, asked, answered, tie & (answered > 0))

    return Oracle(prob, query, num_queries, model)


def make_oracle(link="logistic", num_queries: int = 1, env=None) -> Oracle:
    """The utility-model oracle (the B-Pref teacher) with a static link (a name or a ``Link``)
    and M = ``num_queries`` >= 1 votes; ``env``: the environment whose return range bounds the
    utility gap (the default clip range of the zeroth-order estimators)."""
    return make_preference_oracle(utility_model(link, env), num_queries)


def make_tensor_oracle(num_queries: int = 1) -> Oracle:
    """The general-preference oracle over contexts and actions (``models.tensor_model``)."""
    return make_preference_oracle(tensor_model(), num_queries)


def resolve_assumed_link(assumed_link, oracle: Oracle) -> Link:
    """The link a learner assumes: a name or a Link, or "oracle" for the oracle's own link
    (ValueError when the oracle's preference model has none)."""
    if isinstance(assumed_link, str) and assumed_link == "oracle":
        if oracle.link is None:
            raise ValueError(
                f"assumed_link 'oracle': the {oracle.model.name} oracle has no "
                "link; name the link the learner should assume"
            )
        return oracle.link
    return get_link(assumed_link)


def vote_frequency(feedback: Feedback):
    """Empirical P(traj_b preferred) = votes / asked for answered pairs, 1/2 for skipped ones.

    Use together with ``feedback.answered``: the 1/2 of a skipped pair is a placeholder, not data.
    """
    return jnp.where(feedback.answered > 0, feedback.votes / feedback.asked, 0.5)


__all__ = [
    "TEACHER_KNOBS",
    "Feedback",
    "Oracle",
    "OracleParams",
    "TeacherParams",
    "make_oracle",
    "make_preference_oracle",
    "make_tensor_oracle",
    "oracle_params",
    "resolve_assumed_link",
    "teacher_params",
    "tensor_oracle_params",
    "validate_oracle_params",
    "validate_teacher_params",
    "vote_frequency",
]
