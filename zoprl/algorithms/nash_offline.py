"""Offline pessimistic Nash learning from preferences (Ye et al. 2024, arXiv 2402.07314, Alg. 1).

Data: n = ``num_pairs`` pairs (x ~ d0, a, b ~ pi_D(.|x) independently) labelled by the oracle,
collected once in ``init`` from the behaviour policy pi_D (the reference pi0, or uniform). The
hyperparameter ``data_size`` in (0, num_pairs) keeps only the first ceil(data_size) pairs (the
pairs are i.i.d., so these are a data set of that size; 0 keeps all): data sizes n vmap over a
grid inside one compiled program, the data sets of one seed nested. Then:

1. P-hat: the tabular maximum-likelihood estimate, the vote frequency of every (x, {a, b})
   (``zoprl.games.table_estimate``; 1/2 for pairs never compared).
2. Confidence set (our choice of its shape): per-pair boxes of half-width
   c(x, a, b) = beta / sqrt(n(x, {a, b}) + 1) around P-hat, clipped to [0, 1], n the number of
   answered votes on the pair. With beta = 0 the set is P-hat alone: fit, then solve.
3. Output pi1-hat = argmax_pi1 min_pi2 min_{P in set} J_P(pi1, pi2). The objective g(pi1) is
   concave; it is maximised per context by the mirror ascent of ``zoprl.games.confidence``
   (``pessimistic_ascent``: Danskin supergradients from a multi-start local search over the
   box's vertices for the inner minimum, magnetic mirror steps with damping 1 / (t + 1 /
   damping) at solver step t), ``solver_steps`` steps per iteration, one ``lax.scan``.

Iteration 0 records the equilibrium of the fitted game (damped Newton, to round-off); every
iteration then runs ``solver_steps`` ascent steps from there. With beta = 0 the equilibrium of
P-hat is already the maximiser (a fixed point of every step): the learner is fit-then-solve,
and with exact probabilities on every pair (``exact_probabilities``, enough pairs) it returns
the equilibrium of the true game. With beta > 0 the iterates approach the pessimistic policy at
rate O(log t / t) in g when the inner search finds the worst vertex (checked against
enumeration for K = 3; for larger K the search is local). The paper's guarantee: the true gap
shrinks like sqrt(C / n), where C measures how well the behaviour policy covers pi*.

State (the Nash convention of ``preference_game``): params = log pi1-hat, reference_params,
preference_estimate = P-hat, the worst-case P of the last step (warm start), the comparison
table, counts (2 n trajectories and n M queries, charged in ``init``).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.algorithms.preference_game import (
    PairSampler,
    bandit_inputs,
    context_weights,
    sample_comparisons,
)
from zoprl.games.confidence import confidence_width, pessimistic_ascent
from zoprl.games.models import ComparisonTable, empty_table, table_add, table_estimate
from zoprl.games.solvers import newton_equilibrium
from zoprl.oracles.accounting import Counts
from zoprl.validation import check_choice, check_int, make_hparams

BEHAVIOURS = ("reference", "uniform")


class NashOfflineHparams(NamedTuple):
    """eta: the game's regularisation (tau = 1 / eta); beta >= 0: confidence width; damping:
    the solver's first damping in (0, 1], or 0 for 1 / (1 + eta^2 / 4) (safe for any P);
    data_size >= 0: the pairs used, the first ceil(data_size) of the num_pairs (0: all)."""

    eta: jax.Array
    beta: jax.Array
    damping: jax.Array
    data_size: jax.Array


class NashOfflineState(NamedTuple):
    params: jax.Array  # log pi1 [X, K]
    reference_params: jax.Array  # log pi0 (logits) [X, K]
    preference_estimate: jax.Array  # P-hat [X, K, K]
    worst_case: jax.Array  # the worst-case P of the last solver step [X, K, K]
    table: ComparisonTable
    counts: Counts


class NashOfflineInfo(NamedTuple):
    pessimistic_value: jax.Array  # E_x min_{pi2, P in set} J_P(pi1, pi2) (local inner search)


class NashOfflineSetup(NamedTuple):
    sampler: PairSampler
    env: Any
    reference: jax.Array  # logits [X, K]
    behaviour: str
    solver_steps: int
    num_sweeps: int


def _damping(hp: NashOfflineHparams):
    return jnp.where(hp.damping > 0, hp.damping, 1.0 / (1.0 + hp.eta**2 / 4.0))


def _first_pairs(data, counts: Counts, data_size):
    """The records with weight 0 beyond the first ceil(data_size) pairs (all if data_size is 0),
    and the counts charged for the pairs kept: 2 n trajectories, the queries in proportion
    (exact when every pair asks the same M votes, as every oracle kind does)."""
    num_pairs = data.weights.shape[0]
    kept = jnp.where(data_size > 0, jnp.minimum(jnp.ceil(data_size), num_pairs), num_pairs)
    used = jnp.arange(num_pairs) < kept
    data = data._replace(weights=jnp.where(used, data.weights, 0.0))
    n = kept.astype(counts.trajectories.dtype)
    queries = (counts.queries // num_pairs) * n  # divide first: no int32 overflow
    return data, Counts(2 * n, queries.astype(counts.queries.dtype))


def nash_offline_init(setup: NashOfflineSetup, key, hp, env_params, oracle_params):
    """Collect and label the data set, keep its first ``data_size`` pairs, fit P-hat, start at
    the equilibrium of the fitted game."""
    reference = setup.reference
    behaviour = reference if setup.behaviour == "reference" else jnp.zeros_like(reference)
    data, counts = sample_comparisons(
        setup.sampler, key, behaviour, behaviour, env_params, oracle_params
    )
    data, counts = _first_pairs(data, counts, hp.data_size)
    table = table_add(empty_table(*reference.shape, reference.dtype), data)
    P_hat = table_estimate(table).P_hat
    pi0 = jax.nn.softmax(reference, axis=-1)
    eta = hp.eta.astype(P_hat.dtype)
    fitted = jax.vmap(lambda P_x, ref: newton_equilibrium(P_x, ref, eta).policy)(P_hat, pi0)
    return NashOfflineState(jnp.log(fitted), reference, P_hat, P_hat, table, counts)


def nash_offline_step(
    setup: NashOfflineSetup, key, state: NashOfflineState, hp, env_params, oracle_params, iteration
):
    """``solver_steps`` steps of pessimistic mirror ascent (module doc); no new data."""
    del key, oracle_params
    P_hat = state.preference_estimate
    dtype = P_hat.dtype
    width = confidence_width(state.table.counts, hp.beta.astype(dtype))
    pi0 = jax.nn.softmax(state.reference_params, axis=-1)
    first = (iteration * setup.solver_steps).astype(dtype)
    ascend = functools.partial(
        pessimistic_ascent,
        eta=hp.eta.astype(dtype),
        damping=_damping(hp).astype(dtype),
        first_step=first,
        num_steps=setup.solver_steps,
        num_sweeps=setup.num_sweeps,
    )
    log_pi1, worst, values = jax.vmap(lambda lp, P, Ph, w, ref: ascend(lp, P, Ph, w, ref))(
        state.params, state.worst_case, P_hat, width, pi0
    )
    d0 = context_weights(setup.env, env_params).astype(dtype)
    state = state._replace(params=log_pi1, worst_case=worst)
    return state, NashOfflineInfo(d0 @ values)


def nash_offline_hparams(eta=1.0, beta=0.0, damping=0.0, data_size=0.0) -> NashOfflineHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        NashOfflineHparams,
        positive=("eta",),
        nonnegative=("beta", "damping", "data_size"),
        eta=eta,
        beta=beta,
        damping=damping,
        data_size=data_size,
    )


def nash_offline(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    behaviour: str = "reference",
    reference: str = "uniform",
    reference_strength: float = 1.0,
    reference_seed: int = 0,
    exact_probabilities: bool = False,
    solver_steps: int = 20,
    num_sweeps: int = 1,
) -> Algorithm:
    """The offline pessimistic learner of the module doc, named "nash_offline".

    num_pairs: n, the data set size; behaviour: pi_D, "reference" (pi0) or "uniform";
    reference, reference_strength, reference_seed: pi0 (``preference_game.reference_logits``);
    exact_probabilities: label pairs with the oracle's exact probabilities; solver_steps:
    ascent steps per iteration; num_sweeps: flip-search passes of the inner minimisation."""
    inputs = bandit_inputs(
        env, policy, oracle, num_pairs, reference, reference_strength, reference_seed,
        exact_probabilities,
    )  # fmt: skip
    check_choice("behaviour", behaviour, BEHAVIOURS)
    setup = NashOfflineSetup(
        inputs.sampler,
        env,
        inputs.reference,
        behaviour,
        check_int("solver_steps", solver_steps),
        check_int("num_sweeps", num_sweeps, 0),
    )
    return Algorithm(
        "nash_offline",
        functools.partial(nash_offline_init, setup),
        functools.partial(nash_offline_step, setup),
        nash_offline_hparams,
        env,
        policy,
        reads_latent_reward=False,
    )
