"""The "nash" evaluator: exact game quantities of a policy on a contextual dueling bandit.

For the KL-regularised preference game of arXiv 2402.07314 / 2312.00886 (``zoprl.games``),

    J(pi1, pi2) = E_{x~d0}[pi1^T P_x pi2 - tau KL(pi1 || pi0) + tau KL(pi2 || pi0)], tau = 1/eta,

it records at every recorded iteration, exactly:

    gap                      Gap(pi) = 1/2 - min_pi2 J(pi, pi2) >= 0, with the oracle's P
    duality_gap              max_pi1 J(pi1, pi) - min_pi2 J(pi, pi2) (= 2 Gap(pi))
    model_gap                Gap(pi) in the learner's fitted game (P-hat), when it has one
    kl_to_reference          E_x KL(pi(.|x) || pi0(.|x))
    win_rate_vs_reference    E_x pi^T P_x pi0, the probability that a ~ pi beats b ~ pi0
    win_rate_vs_equilibrium  E_x pi^T P_x pi*, with pi* the equilibrium of the true game

Where it reads things (the convention of ``zoprl.algorithms.preference_game``):
  * pi: softmax of ``state.params``, tabular logits [X, K] (horizon-1 finite environment);
  * pi0: softmax of ``state.reference_params`` when the state has them (every Nash learner, DPO
    / IPO), else uniform (the initial policy of a tabular softmax learner such as ZPG);
  * eta: the option ``eta`` when > 0 (the same game for every learner of a sweep, whatever
    their hyperparameters), else the hyperparameter field ``eta`` (every Nash learner has one);
  * P: the oracle's preference tensor (the "tensor" oracle kind), P-hat:
    ``state.preference_estimate`` [X, K, K]; d0: the environment's context distribution.

pi* depends on the learner's pi0, which only its state holds, so it is solved at every record
(damped Newton per context, ``zoprl.games.newton_equilibrium``: a few K x K solves, small next
to a learner's step) rather than once in ``init``. Every quantity is computed in the float dtype
of P and the policy logits (float64 under ``jax_enable_x64`` with float64 inputs).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.evaluators.base import Evaluator, register_evaluator
from zoprl.games.exact import (
    context_duality_gap,
    context_gap,
    context_win_rate,
    kl_divergence,
)
from zoprl.games.solvers import newton_equilibrium
from zoprl.validation import check_nonnegative


def game_eta(eta: float, hparams):
    """The game's eta: the option ``eta`` when > 0, else the hyperparameter field ``eta``."""
    if eta > 0:
        return eta
    if "eta" not in getattr(hparams, "_fields", ()):
        raise ValueError(
            "the preference-game evaluator (nash or nash_mdp) needs eta: give the evaluation "
            "option eta, or use a learner "
            f"whose hyperparameters have an eta field ({type(hparams).__name__} has none)"
        )
    return hparams.eta


def _per_context(fn, *args):
    return jax.vmap(fn, in_axes=(0,) * (len(args) - 1) + (None,))(*args)


def game_metrics(pi, P, pi0, eta, d0, preference_estimate=None) -> dict:
    """The metrics of the module doc for pi, pi0 [X, K], P [X, K, K], d0 [X] (and P-hat)."""
    mean = lambda values: d0 @ values
    star = jax.vmap(lambda P_x, ref: newton_equilibrium(P_x, ref, eta).policy)(P, pi0)
    out = {
        "gap": mean(_per_context(context_gap, pi, P, pi0, eta)),
        "duality_gap": mean(_per_context(context_duality_gap, pi, P, pi0, eta)),
        "kl_to_reference": mean(jax.vmap(kl_divergence)(pi, pi0)),
        "win_rate_vs_reference": mean(jax.vmap(context_win_rate)(pi, pi0, P)),
        "win_rate_vs_equilibrium": mean(jax.vmap(context_win_rate)(pi, star, P)),
    }
    if preference_estimate is not None:
        P_hat = preference_estimate.astype(P.dtype)
        out["model_gap"] = mean(_per_context(context_gap, pi, P_hat, pi0, eta))
    return out


def nash_evaluator(env, policy, oracle=None, *, eta: float = 0.0) -> Evaluator:
    """The exact game metrics of the module doc; ``eta`` > 0 fixes the game's eta, 0 reads the
    learner's hyperparameter. Needs a horizon-1 finite environment, a categorical policy and an
    oracle of the "tensor" kind."""
    check_nonnegative("eta", eta)
    if not getattr(env, "is_finite", False) or env.horizon != 1 or policy.logits is None:
        raise ValueError(
            "the nash evaluator needs a contextual bandit (horizon-1 finite environment) and a "
            "categorical policy"
        )
    if oracle is not None and oracle.model.name != "tensor":
        raise ValueError(
            f"the nash evaluator needs a general preference (oracle kind 'tensor'), got a "
            f"{oracle.model.name!r} oracle"
        )
    observations = env.observations()

    def probabilities(params):
        return jax.vmap(lambda obs: jax.nn.softmax(policy.logits(params, obs, 0)))(observations)

    def metrics(key, state, hparams, env_params, oracle_params, aux):
        del key, aux
        P = oracle_params.model.preference
        pi = probabilities(state.params)
        dtype = jnp.result_type(P.dtype, pi.dtype)
        P, pi = P.astype(dtype), pi.astype(dtype)
        reference = getattr(state, "reference_params", None)
        pi0 = (
            jnp.full_like(pi, 1.0 / pi.shape[-1])
            if reference is None
            else probabilities(reference).astype(dtype)
        )
        the_eta = jnp.asarray(game_eta(eta, hparams), dtype)
        d0 = env.model(env_params).start.astype(dtype)
        estimate = getattr(state, "preference_estimate", None)
        return game_metrics(pi, P, pi0, the_eta, d0, estimate)

    return Evaluator("nash", lambda *args: None, metrics)


register_evaluator("nash", nash_evaluator)

__all__ = ["game_eta", "game_metrics", "nash_evaluator"]
