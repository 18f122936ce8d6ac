"""The "nash_mdp" evaluator: exact game quantities of an MDP policy against the outcome teacher.

For the preference game on trajectories of ``zoprl.games.mdp_game`` (the teacher of the
"outcome" oracle kind, ``zoprl.games.outcome_teacher``; ours, beyond arXiv 2402.07314), with
KL(p_pi || p_pi0) summed over the visited states, it records at every recorded iteration,
exactly (soft value iteration and occupancy measures, no sampling):

    gap                      Gap(pi) = 1/2 - min_pi2 J(pi, pi2) >= 0, 0 only at pi*
    kl_to_reference          KL(p_pi || p_pi0), the trajectory KL
    win_rate_vs_reference    E P(tau ~ pi beats tau0 ~ pi0)
    win_rate_vs_equilibrium  E P(tau ~ pi beats tau* ~ pi*)
    outcome_<o>              the probability of each outcome: goal_0, ..., goal_{G-1} (goals in
                             order of their cell index), no_goal

Conventions: pi is the learner's policy at every step and state, softmax(policy.logits(params,
s, h)) [H, S, A] (stationary policies repeat); pi0 is uniform over the actions at every step and
state (the initial policy of zoprl's tabular learners), the same game for every learner of a
sweep whatever its own reference; eta is the option ``eta`` when > 0, else the learner's
hyperparameter ``eta`` (as for the "nash" evaluator). The equilibrium pi* is solved once per run
in ``init``. Quantities are computed in the float dtype of the oracle's params (float64 under
``jax_enable_x64``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.evaluators.base import Evaluator, register_evaluator
from zoprl.evaluators.nash import game_eta
from zoprl.games import mdp_game
from zoprl.validation import check_nonnegative


def outcome_names(num_outcomes: int) -> list[str]:
    """goal_0, ..., goal_{G-1}, no_goal for O = G + 1 outcomes."""
    return [f"goal_{g}" for g in range(num_outcomes - 1)] + ["no_goal"]


def mdp_game_metrics(game: mdp_game.OutcomeGame, logits, star_logits) -> dict:
    """The metrics of the module doc for a policy's logits [H, S, A] and pi*'s."""
    reference = game.log_reference
    outcomes = mdp_game.outcome_distribution(game, logits)
    out = {
        "gap": mdp_game.gap(game, logits),
        "kl_to_reference": mdp_game.trajectory_kl(game, logits),
        "win_rate_vs_reference": mdp_game.win_rate(game, logits, reference),
        "win_rate_vs_equilibrium": mdp_game.win_rate(game, logits, star_logits),
    }
    for name, value in zip(outcome_names(outcomes.shape[0]), outcomes):
        out[f"outcome_{name}"] = value
    return out


def nash_mdp_evaluator(env, policy, oracle=None, *, eta: float = 0.0) -> Evaluator:
    """The exact metrics of the module doc; ``eta`` > 0 fixes the game's eta, 0 reads the
    learner's hyperparameter. Needs a finite environment, a categorical policy and an oracle of
    the "outcome" kind."""
    check_nonnegative("eta", eta)
    if not getattr(env, "is_finite", False) or policy.logits is None:
        raise ValueError(
            "the nash_mdp evaluator needs a finite environment and a categorical policy"
        )
    if oracle is not None and oracle.model.name != "outcome":
        raise ValueError(
            f"the nash_mdp evaluator needs the trajectory-outcome teacher (oracle kind "
            f"'outcome'), got a {oracle.model.name!r} oracle"
        )
    horizon, observations = env.horizon, env.observations()
    steps = jnp.arange(horizon)

    def table(params) -> jax.Array:
        per_state = lambda h: jax.vmap(lambda obs: policy.logits(params, obs, h))(observations)
        return jax.vmap(per_state)(steps)  # [H, S, A]

    def game(hparams, env_params, oracle_params) -> mdp_game.OutcomeGame:
        teacher = oracle_params.model
        dtype = teacher.outcome_matrix.dtype
        log_reference = jnp.full(
            (horizon, env.num_states, env.num_actions), -jnp.log(env.num_actions), dtype
        )
        the_eta = jnp.asarray(game_eta(eta, hparams), dtype)
        return mdp_game.outcome_game(env.model(env_params), teacher, log_reference, the_eta)

    def init(key, hparams, env_params, oracle_params):
        del key
        return mdp_game.equilibrium(game(hparams, env_params, oracle_params)).log_policy

    def metrics(key, state, hparams, env_params, oracle_params, star_logits):
        del key
        the_game = game(hparams, env_params, oracle_params)
        return mdp_game_metrics(the_game, table(state.params), star_logits)

    return Evaluator("nash_mdp", init, metrics)


register_evaluator("nash_mdp", nash_mdp_evaluator)

__all__ = ["mdp_game_metrics", "nash_mdp_evaluator", "outcome_names"]
