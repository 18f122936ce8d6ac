"""Bilevel online RLHF on finite MDPs, exactly (arXiv 2410.15610), with the penalty method of
Kwon et al. (ICLR 2024, arXiv 2309.01753).

min_nu F(nu) = f(nu, theta*(nu)), theta*(nu) = argmax_theta J_c(nu, theta): the upper level fits
a reward model r_nu to teacher preferences on trajectory pairs drawn from the lower level's
KL-regularised optimal policy under r_nu. Modules: ``problem`` (instances and reward
parametrisations), ``lower_level`` (J_c, theta*(nu), policy parametrisations), ``upper_level``
(f exactly and by Monte Carlo), ``hypergradient`` (grad F unrolled and implicit), ``penalty``
(Phi_lambda and its gradient), ``bilevel_rlhf`` (the functions with r_nu bound), ``finite`` (the
exact problem of zoprl's environments, policies, reward models and oracles: the teacher as its
preference matrix) and ``estimators`` (the sampled gradients the learners use). The learners
are ``zoprl.algorithms.bilevel_penalty``, ``bilevel_decoupled`` and ``bilevel_hypergradient``;
the evaluator is ``zoprl.evaluators.bilevel``.
"""

from zoprl.bilevel.bilevel_rlhf import BilevelRLHF, bilevel_rlhf
from zoprl.bilevel.hypergradient import (
    hypergradient_implicit,
    hypergradient_unrolled,
    hyperobjective,
)
from zoprl.bilevel.lower_level import (
    logits_from_minimal,
    lower_level_objective,
    minimal_from_logits,
    reachable_states,
    soft_optimal_logits,
)
from zoprl.bilevel.penalty import PenaltySolution, penalty_gradient, penalty_solution
from zoprl.bilevel.problem import (
    BilevelParams,
    linear_reward,
    make_bilevel_params,
    random_bilevel_params,
    reward_model_table,
    tabular_reward,
)
from zoprl.bilevel.upper_level import (
    enumerate_trajectories,
    preference_loss,
    trajectory_probabilities,
    upper_objective,
    upper_objective_monte_carlo,
)

__all__ = [
    "BilevelParams",
    "BilevelRLHF",
    "PenaltySolution",
    "bilevel_rlhf",
    "enumerate_trajectories",
    "hypergradient_implicit",
    "hypergradient_unrolled",
    "hyperobjective",
    "linear_reward",
    "logits_from_minimal",
    "lower_level_objective",
    "make_bilevel_params",
    "minimal_from_logits",
    "penalty_gradient",
    "penalty_solution",
    "preference_loss",
    "random_bilevel_params",
    "reachable_states",
    "reward_model_table",
    "soft_optimal_logits",
    "tabular_reward",
    "trajectory_probabilities",
    "upper_objective",
    "upper_objective_monte_carlo",
]
