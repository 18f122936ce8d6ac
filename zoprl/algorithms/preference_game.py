"""Pieces shared by the learners of the general-preference (Nash) game on contextual bandits.

The game (arXiv 2402.07314, 2312.00886; ``zoprl.games``): contexts x ~ d0, K actions, a
reference policy pi0 and a preference P(x, a, b) that only the oracle knows; the target is the
equilibrium of J(pi1, pi2) = E_x[pi1^T P_x pi2 - KL(pi1 || pi0) / eta + KL(pi2 || pi0) / eta].

Conventions every Nash learner follows (the "nash" evaluator relies on them):
  * the environment is a horizon-1 finite environment (``ContextualBandit``) and the policy a
    tabular softmax whose params are logits [X, K]; ``state.params`` holds log pi (any logits);
  * ``state.reference_params`` holds the logits of pi0, built by ``reference_logits`` from the
    learner's static ``reference`` options;
  * the hyperparameters have a field ``eta`` (the game's regularisation, tau = 1 / eta);
  * a learner with a fitted preference keeps it in ``state.preference_estimate`` [X, K, K].

Comparisons. A labelled pair (tau_0, tau_1) shares its context x (``shared_start=True``) and
becomes the record (x, first = a_1, second = a_0, label = the fraction of votes preferring a_1,
weight = answered votes); ``zoprl.games.ComparisonTable`` accumulates them. With
``exact_probabilities`` the label is the oracle's exact probability of a vote for a_1
(``Oracle.prob``: what infinitely many votes on that pair would give), for "infinite data"
checks; the queries are still counted as M per pair.

Learners sample actions through the environment and learn about P only through the oracle's
answers: nothing here reads the latent reward or the oracle's preference tensor.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.games.models import Comparisons
from zoprl.oracles.accounting import Counts
from zoprl.oracles.oracle import vote_frequency
from zoprl.preference_data import PreferenceBuffer, collect_preferences
from zoprl.rollout import make_paired_rollout
from zoprl.validation import check_choice, check_int, check_nonnegative

REFERENCE_KINDS = ("uniform", "random", "skewed")


def check_bandit(env, policy) -> tuple[int, int]:
    """(X, K) of a horizon-1 finite environment and its tabular softmax policy (ValueError
    otherwise, before compilation)."""
    if not getattr(env, "is_finite", False) or env.horizon != 1:
        raise ValueError(
            "the Nash learners need a horizon-1 finite environment (a contextual bandit); "
            f"{getattr(env, 'name', env)!r} is not one"
        )
    if policy.name != "tabular_softmax" or policy.num_states != env.num_states:
        raise ValueError(
            f"the Nash learners need a tabular softmax policy over the {env.num_states} "
            f"contexts, got {policy.name!r}"
        )
    return env.num_states, env.num_actions


def reference_logits(
    kind: str, num_contexts: int, num_actions: int, strength: float = 1.0, seed: int = 0
) -> jax.Array:
    """Logits [X, K] of the reference pi0 (default float dtype):

    uniform  zeros;
    random   strength z, z ~ N(0, 1) drawn from ``seed`` (larger strength, further from uniform);
    skewed   -strength a / (K - 1) for action a in every context: mass decreasing with the action
             index (poor coverage of an equilibrium that favours high indices, e.g. of a game
             drawn with the generators' ``sort_eta``)."""
    check_choice("reference", kind, REFERENCE_KINDS)
    check_nonnegative("reference_strength", strength)
    shape = (num_contexts, num_actions)
    dtype = jnp.asarray(0.0).dtype
    if kind == "uniform":
        return jnp.zeros(shape, dtype)
    if kind == "random":
        seed = check_int("reference_seed", seed, 0)
        return strength * jax.random.normal(jax.random.key(seed), shape, dtype)
    ramp = np.arange(num_actions) / max(num_actions - 1, 1)
    return jnp.broadcast_to(jnp.asarray(-strength * ramp, dtype), shape)


def normalised(logits):
    """log pi from logits [..., K] (log-softmax)."""
    return jax.nn.log_softmax(logits, axis=-1)


def magnetic_step(log_pi, log_pi0, values, step, eta):
    """One magnetic mirror step (Sokota et al. 2022, arXiv 2206.05825) on values [.., K]:
    log pi' = normalise((log pi + alpha tau log pi0 + alpha values) / (1 + alpha tau)), the
    maximiser of alpha (pi^T values - tau KL(pi || pi0)) - KL(pi || pi_old)."""
    tau = 1.0 / eta
    logits = (log_pi + step * tau * log_pi0 + step * values) / (1.0 + step * tau)
    return normalised(logits)


def comparisons(traj_0, traj_1, feedback, labels=None) -> Comparisons:
    """Records [N] of N labelled bandit pairs (module doc): first = the action of tau_1."""
    labels = vote_frequency(feedback) if labels is None else labels
    return Comparisons(
        traj_0.obs[:, 0].astype(jnp.int32),
        traj_1.action[:, 0].astype(jnp.int32),
        traj_0.action[:, 0].astype(jnp.int32),
        labels,
        feedback.answered * feedback.asked,
    )


def buffer_comparisons(buffer: PreferenceBuffer) -> Comparisons:
    """Records [C] of a ``PreferenceBuffer`` of bandit pairs (empty or skipped slots weigh 0;
    each answered pair weighs 1, its label being the vote fraction)."""
    return Comparisons(
        buffer.traj_0.obs[:, 0].astype(jnp.int32),
        buffer.traj_1.action[:, 0].astype(jnp.int32),
        buffer.traj_0.action[:, 0].astype(jnp.int32),
        buffer.label,
        buffer.answered,
    )


class PairSampler(NamedTuple):
    """N pairs sharing their context, and the oracle that labels them."""

    paired: Any  # zoprl.rollout.make_paired_rollout(..., shared_start=True)
    oracle: Any
    num_pairs: int
    exact_probabilities: bool


def make_pair_sampler(env, policy, oracle, num_pairs: int, exact_probabilities: bool = False):
    """A ``PairSampler`` of ``num_pairs`` pairs (validated)."""
    num_pairs = check_int("num_pairs", num_pairs)
    paired = make_paired_rollout(env, policy, num_pairs, shared_start=True)
    return PairSampler(paired, oracle, num_pairs, bool(exact_probabilities))


class BanditInputs(NamedTuple):
    """What every Nash learner's factory builds from its static options."""

    sampler: PairSampler
    reference: jax.Array  # logits of pi0 [X, K]


def bandit_inputs(
    env,
    policy,
    oracle,
    num_pairs: int,
    reference: str,
    reference_strength: float,
    reference_seed: int,
    exact_probabilities: bool,
) -> BanditInputs:
    """The pair sampler and the reference logits of a Nash learner (checked: a contextual bandit
    and a tabular softmax policy, the reference options, the number of pairs)."""
    num_contexts, num_actions = check_bandit(env, policy)
    logits = reference_logits(
        reference, num_contexts, num_actions, reference_strength, reference_seed
    )
    sampler = make_pair_sampler(env, policy, oracle, num_pairs, exact_probabilities)
    return BanditInputs(sampler, logits)


def sample_comparisons(
    sampler: PairSampler, key, logits_0, logits_1, env_params, oracle_params
) -> tuple[Comparisons, Counts]:
    """N pairs x ~ d0, a_0 ~ softmax(logits_0[x]), a_1 ~ softmax(logits_1[x]), labelled by the
    oracle (one call, one key): the records and the counts (2 N trajectories, N M queries)."""
    traj_0, traj_1, feedback, counts = collect_preferences(
        key, sampler.paired, sampler.oracle, logits_0, logits_1, env_params, oracle_params
    )
    labels = None
    if sampler.exact_probabilities:
        labels = sampler.oracle.prob(traj_0, traj_1, oracle_params)
    return comparisons(traj_0, traj_1, feedback, labels), counts


def context_weights(env, env_params) -> jax.Array:
    """d0 [X], the environment's context distribution (known to the learner: the prompts)."""
    return env.model(env_params).start


__all__ = [
    "REFERENCE_KINDS",
    "BanditInputs",
    "PairSampler",
    "bandit_inputs",
    "buffer_comparisons",
    "check_bandit",
    "comparisons",
    "context_weights",
    "magnetic_step",
    "make_pair_sampler",
    "normalised",
    "reference_logits",
    "sample_comparisons",
]
