"""Simulated human oracle: exact preference probabilities and M-query feedback (PAPERS.md 2).

Model (for one pair; batch by ``vmap`` or by leading axes, all functions broadcast):

  du = sum_h gamma^(e_h) (r_h(tau_b) - r_h(tau_a))       myopic return gap (``utilities``)
  p  = sigma(beta * du)                                 rational answer (``teachers.rational_prob``)
  p_eff = (1 - f) p + f (1 - p),  f = mistake / (1 - skip)
  tie   = |r(tau_b) - r(tau_a)| < equal_margin          undiscounted, unscaled return gap

``query`` asks M = ``num_queries`` votes on the pair with one Binomial(M, p_eff) draw
(``teachers.sample_binomial``: a vectorised sum of M Bernoulli draws for M <= 32, else
jax.random.binomial) and one Bernoulli(skip) skip draw per pair, and returns ``Feedback``:

  votes     float, votes preferring traj_b (label 1 = second trajectory preferred).
            A tie gives votes = M / 2 (label 1/2, B-Pref's "equally preferable");
            a skipped pair gives votes = 0.
  asked     float, M for every pair, skipped or not: the human was asked and the query is counted.
  answered  float mask, 1.0 answered, 0.0 skipped. Skipped pairs stay in the batch (never dropped);
            estimators must weight by this mask.
  tie       bool, True when answered and tied (a skipped pair is never a tie).

``prob(traj_a, traj_b, params)`` is the exact probability that one answered vote prefers traj_b,
with 1/2 on a tie, so E[votes | answered] = M * prob. For the rational sigma(beta du) alone, pass
``params._replace(mistake=0., equal_margin=0.)``. With the asymmetric extreme-value link the order
of the pair matters (position bias): prob(a, b) + prob(b, a) != 1 in general.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.oracles import teachers
from zoprl.oracles.links import Link, get_link
from zoprl.oracles.presets import NEUTRAL, preset_values
from zoprl.oracles.utilities import myopic_utility, total_return
from zoprl.validation import check_in_range, check_int, is_concrete


class OracleParams(NamedTuple):
    """Sweepable teacher knobs (float32 leaves of one common shape: scalars, or [G] for a grid).

    beta: rationality in (0, inf]; inf = perfectly rational (deterministic unless du = 0).
    gamma: myopia in (0, 1]; 1 = not myopic.
    mistake: probability in [0, 1] that an asked vote is flipped.
    skip: probability in [0, 1] that a pair is skipped; mistake + skip <= 1.
    equal_margin: tie threshold >= 0 on |r(tau_b) - r(tau_a)|, in return units.
    link_shape: the link's shape parameter > 0 (linear c, extreme-value scale).
    """

    beta: jax.Array
    gamma: jax.Array
    mistake: jax.Array
    skip: jax.Array
    equal_margin: jax.Array
    link_shape: jax.Array


class Feedback(NamedTuple):
    """Answers to M queries per pair (see the module docstring for the conventions)."""

    votes: jax.Array
    asked: jax.Array
    answered: jax.Array
    tie: jax.Array


class Oracle(NamedTuple):
    """prob(traj_a, traj_b, params) and query(key, traj_a, traj_b, params), M and link static."""

    prob: Callable
    query: Callable
    num_queries: int
    link: Link


def validate_oracle_params(params: OracleParams) -> OracleParams:
    """Raise ValueError naming the first bad value; tracers are skipped. Returns ``params``."""
    inf = math.inf
    check_in_range("beta", params.beta, 0.0, inf, low_open=True)
    check_in_range("gamma", params.gamma, 0.0, 1.0, low_open=True)
    check_in_range("mistake", params.mistake, 0.0, 1.0)
    check_in_range("skip", params.skip, 0.0, 1.0)
    check_in_range("equal_margin", params.equal_margin, 0.0, inf)
    check_in_range("link_shape", params.link_shape, 0.0, inf, low_open=True, high_open=True)
    if is_concrete(params.mistake) and is_concrete(params.skip):
        total = np.asarray(params.mistake, np.float64) + np.asarray(params.skip, np.float64)
        check_in_range("mistake + skip", total, 0.0, 1.0 + 1e-6)
    return params


def oracle_params(preset: str = "oracle", **overrides) -> OracleParams:
    """OracleParams of ``preset`` (see ``presets.PRESET_NAMES``) with fields replaced by overrides.

    Overrides may be scalars or arrays (a grid); all leaves are broadcast to one shape, so that a
    grid is swept by vmapping over the params argument with in_axes 0, e.g.
    ``vmap(oracle.query, in_axes=(0, None, None, 0))(keys, a, b, oracle_params(beta=[1., 2.]))``.
    Everything is validated in Python before any array reaches JAX.
    """
    values = preset_values(preset)
    unknown = sorted(set(overrides) - set(NEUTRAL))
    if unknown:
        raise ValueError(f"unknown oracle parameter {unknown[0]!r}; valid names: "
                         f"{', '.join(OracleParams._fields)}")
    values.update(overrides)
    arrays = [np.asarray(values[field], np.float32) for field in OracleParams._fields]
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError as err:
        shapes = {f: a.shape for f, a in zip(OracleParams._fields, arrays)}
        raise ValueError(f"oracle parameter shapes do not broadcast: {shapes}") from err
    validate_oracle_params(OracleParams(*arrays))
    return OracleParams(*(jnp.asarray(a) for a in arrays))


def _prob_and_tie(link: Link, traj_a, traj_b, params: OracleParams):
    gap = myopic_utility(traj_b, params.gamma) - myopic_utility(traj_a, params.gamma)
    p = teachers.rational_prob(link, gap, params.beta, params.link_shape)
    p = teachers.apply_mistakes(p, teachers.conditional_flip_rate(params.mistake, params.skip))
    tie = teachers.tie_mask(total_return(traj_b) - total_return(traj_a), params.equal_margin)
    return jnp.where(tie, 0.5, p), tie


def make_oracle(link="logistic", num_queries: int = 1) -> Oracle:
    """An oracle with a static link (a name or a ``Link``) and M = ``num_queries`` >= 1 votes."""
    link = get_link(link)
    num_queries = check_int("num_queries", num_queries, 1)

    def prob(traj_a, traj_b, params: OracleParams):
        """P(an answered vote prefers traj_b), 1/2 on ties; shape = batch shape of the pair."""
        return _prob_and_tie(link, traj_a, traj_b, params)[0]

    def query(key, traj_a, traj_b, params: OracleParams) -> Feedback:
        """M votes on the pair: one Binomial(M, p_eff) and one skip draw per pair."""
        skip_key, vote_key = jax.random.split(key)
        p, tie = _prob_and_tie(link, traj_a, traj_b, params)
        answered = teachers.skip_mask(skip_key, params.skip, p.shape)
        votes = teachers.draw_votes(vote_key, num_queries, p, answered, tie)
        asked = jnp.full(p.shape, num_queries, jnp.float32)
        return Feedback(votes, asked, answered, tie & (answered > 0))

    return Oracle(prob, query, num_queries, link)


def vote_frequency(feedback: Feedback):
    """Empirical P(traj_b preferred) = votes / asked for answered pairs, 1/2 for skipped ones.

    Use together with ``feedback.answered``: the 1/2 of a skipped pair is a placeholder, not data.
    """
    return jnp.where(feedback.answered > 0, feedback.votes / feedback.asked, 0.5)
