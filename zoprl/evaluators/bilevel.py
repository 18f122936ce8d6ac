"""The "bilevel" evaluator: what bilevel RLHF (arXiv 2410.15610) is measured by, exactly where
the environment allows.

It reads the bilevel learners' conventions (``zoprl.algorithms.bilevel_common``): the deployed
policy ``state.params`` (z), the reward parameters ``state.reward_params`` (nu), the reference
``state.reference_params``, the KL weight ``hparams.kl_coef`` (c) and the ridge ``hparams.ridge``
(rho); the penalty method's ``state.penalty_params`` (theta) and ``state.penalty`` (lambda)
when present. Its reward model is built from ``reward_model`` / ``reward_hidden``, the same
settings (and defaults) as the learners', checked against the state's parameters at trace time.

Finite environments with a categorical policy (exact, in the dtype of the inputs):
  value, grad_norm_sq, value_gap, value_ratio, gap_closed   the true return of pi_z and the
                          exact evaluator's metrics (``policy_value``);
  regularised_value_gap   max_pi J_c^true(pi) - J_c^true(pi_z): the gap to the true regularised
                          optimum (the true reward, the learner's pi_ref and c);
  lower_gap               J_c*(nu) - J_c(nu, z), J_c* = max_pi J_c(nu, pi) by soft value iteration;
  penalty_lower_gap       J_c*(nu) - J_c(nu, theta) (penalty method);
and, when the trajectory pairs can be enumerated (``zoprl.bilevel.finite``), with the oracle's
exact answer probabilities as the teacher:
  hypergradient_norm_sq   ||grad F(nu)||^2, differentiating through soft value iteration;
  preference_nll          f(nu, pi_z) - (rho / 2) ||nu||^2, the expected preference NLL of r_nu
                          on on-policy pairs of pi_z;
  penalty_gradient_norm_sq  ||grad Phi_lambda(nu)||^2 at the learner's lambda (option
                          ``penalty_gradient``, penalty method; a Newton solve per record).
Otherwise (larger or non-finite environments), from one batch of 2 ``eval_pairs`` fresh
trajectories of pi_z (nothing charged): preference_nll over its ``eval_pairs`` pairs, each pair
weighted by the oracle's exact answer probability (no votes drawn), and on non-finite
environments value and value_stderr, the mean return of the 2 ``eval_pairs`` trajectories
(finite ones keep the exact value metrics).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.bilevel.estimators import split_pairs
from zoprl.bilevel.finite import exact_problem, is_enumerable, logits_table, probability_table
from zoprl.bilevel.hypergradient import hypergradient_unrolled
from zoprl.bilevel.penalty import penalty_solution
from zoprl.bilevel.problem import (
    resolve_reward_model,
    reward_model_table,
    ridge_penalty,
    tree_squared_norm,
)
from zoprl.bilevel.upper_level import soft_label_loss, upper_objective
from zoprl.evaluators.base import Evaluator, register_evaluator
from zoprl.evaluators.policy_value import exact_policy_evaluator
from zoprl.reward_models.models import trajectory_reward
from zoprl.rollout import make_batch_rollout
from zoprl.soft_value import KLRegularisedMDP, regularised_logits_value, soft_optimal_value
from zoprl.trajectory import latent_return
from zoprl.validation import check_int


def check_reward_params(model, reward_params) -> None:
    """Raise ValueError (at trace time) when the state's reward parameters do not have the
    structure of the evaluator's reward model."""
    want = jax.eval_shape(model.init, jax.random.key(0))
    same = jax.tree.structure(want) == jax.tree.structure(reward_params) and all(
        a.shape == jnp.shape(b)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(reward_params))
    )
    if not same:
        raise ValueError(
            "the bilevel evaluator's reward model does not match the learner's reward "
            "parameters: give [evaluation] the learner's reward_model and reward_hidden"
        )


def regularised_gap(transition, start, reward, reference, kl_coef, logits) -> jax.Array:
    """max_pi J_c(pi) - J_c(softmax(logits)) for the per-step reward table ``reward``."""
    mdp = KLRegularisedMDP(transition, start, reward, reference, kl_coef)
    return _gaps(mdp, logits.shape[0], logits)[0]


def _gaps(mdp: KLRegularisedMDP, horizon: int, *logits) -> list[jax.Array]:
    """max_pi J_c(pi) - J_c(softmax(l)) for each l of ``logits``, the optimum computed once."""
    optimum = soft_optimal_value(mdp, horizon)
    return [optimum - regularised_logits_value(mdp, table) for table in logits]


def finite_metrics(env, policy, model, state, hparams, env_params) -> dict:
    """The regularised and lower-level gaps of a finite environment (module doc)."""
    tables = env.model(env_params)
    dtype = tables.transition.dtype
    c = jnp.asarray(hparams.kl_coef, dtype)
    reference = probability_table(env, policy, state.reference_params)
    mdp = lambda reward: KLRegularisedMDP(tables.transition, tables.start, reward, reference, c)
    logits = logits_table(env, policy, state.params)
    model_reward = reward_model_table(model, env.num_states, env.num_actions)(state.reward_params)
    (true_gap,) = _gaps(mdp(tables.expected_reward()), env.horizon, logits)
    lower = [logits]
    if hasattr(state, "penalty_params"):
        lower.append(logits_table(env, policy, state.penalty_params))
    lower_gaps = _gaps(mdp(model_reward.astype(dtype)), env.horizon, *lower)
    out = {"regularised_value_gap": true_gap, "lower_gap": lower_gaps[0]}
    if hasattr(state, "penalty_params"):
        out["penalty_lower_gap"] = lower_gaps[1]
    return out


def enumerated_metrics(
    env, policy, oracle, model, penalty_gradient, state, hparams, env_params, oracle_params
):
    """||grad F||^2, the on-policy preference NLL and optionally ||grad Phi_lambda||^2, exactly
    (module doc)."""
    problem = exact_problem(
        env,
        policy,
        oracle,
        env_params,
        oracle_params,
        state.reference_params,
        hparams.kl_coef,
        hparams.ridge,
    )
    reward_fn = reward_model_table(model, env.num_states, env.num_actions)
    nu = state.reward_params
    pi = probability_table(env, policy, state.params)
    nll = upper_objective(reward_fn, problem, nu, pi) - ridge_penalty(nu, problem.ridge)
    out = {
        "hypergradient_norm_sq": tree_squared_norm(hypergradient_unrolled(reward_fn, problem, nu)),
        "preference_nll": nll,
    }
    if penalty_gradient and hasattr(state, "penalty"):
        solution = penalty_solution(reward_fn, problem, nu, state.penalty)
        out["penalty_gradient_norm_sq"] = tree_squared_norm(solution.grad)
    return out


def sampled_metrics(
    rollout, model, oracle, num_pairs, with_value, key, state, env_params, oracle_params
):
    """From one batch of 2P trajectories of pi_z (pairs n and P + n): the mean over the pairs of
    l(R_nu(tau_1) - R_nu(tau_0), P(tau_1 preferred)), P the oracle's exact answer probability
    (unbiased for the on-policy preference NLL), and when ``with_value`` the mean true return of
    all 2P with its standard error (``value``, ``value_stderr``)."""
    traj = rollout(key, state.params, env_params)
    traj_0, traj_1, _ = split_pairs(traj, num_pairs)
    nu = state.reward_params
    gap = trajectory_reward(model, nu, traj_1) - trajectory_reward(model, nu, traj_0)
    answers = oracle.prob(traj_0, traj_1, oracle_params)
    out = {"preference_nll": jnp.mean(soft_label_loss(gap, answers))}
    if with_value:
        returns = latent_return(traj)
        out["value"] = jnp.mean(returns)
        out["value_stderr"] = jnp.std(returns, ddof=1) / jnp.sqrt(returns.shape[0])
    return out


def bilevel_evaluator(
    env,
    policy,
    oracle,
    *,
    reward_model: str | None = None,
    reward_hidden: tuple[int, ...] = (64, 64),
    penalty_gradient: bool = False,
    eval_pairs: int = 128,
) -> Evaluator:
    """The bilevel RLHF metrics of the module doc."""
    model = resolve_reward_model(env, reward_model, reward_hidden)
    finite = bool(getattr(env, "is_finite", False)) and policy.logits is not None
    enumerable = finite and is_enumerable(env)
    exact = exact_policy_evaluator(env, policy, oracle) if finite else None
    num_pairs = check_int("eval_pairs", eval_pairs, minimum=1)
    rollout = make_batch_rollout(env, policy, 2 * num_pairs)

    def init(key, hparams, env_params, oracle_params):
        return exact.init(key, hparams, env_params, oracle_params) if finite else None

    def metrics(key, state, hparams, env_params, oracle_params, aux):
        check_reward_params(model, state.reward_params)
        out = {}
        if not enumerable:
            args = (key, state, env_params, oracle_params)
            out.update(sampled_metrics(rollout, model, oracle, num_pairs, not finite, *args))
        if finite:
            out.update(exact.metrics(key, state, hparams, env_params, oracle_params, aux))
            out.update(finite_metrics(env, policy, model, state, hparams, env_params))
        if enumerable:
            args = (state, hparams, env_params, oracle_params)
            out.update(enumerated_metrics(env, policy, oracle, model, penalty_gradient, *args))
        return out

    return Evaluator("bilevel", init, metrics)


register_evaluator("bilevel", bilevel_evaluator)

__all__ = ["bilevel_evaluator", "check_reward_params", "regularised_gap"]
