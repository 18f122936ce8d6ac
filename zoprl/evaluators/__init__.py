"""Evaluators: the named, registered pieces that decide what a run records (see ``base``)."""

from zoprl.evaluators.base import (
    EVALUATORS,
    Evaluator,
    evaluator_options,
    make_evaluator,
    register_evaluator,
)
from zoprl.evaluators.bilevel import bilevel_evaluator
from zoprl.evaluators.nash import game_metrics, nash_evaluator
from zoprl.evaluators.nash_mdp import mdp_game_metrics, nash_mdp_evaluator
from zoprl.evaluators.policy_value import (
    default_policy_evaluator,
    exact_policy_evaluator,
    monte_carlo_policy_evaluator,
    supports_exact,
)
from zoprl.evaluators.reach_avoid import reach_avoid_evaluator, teacher_evaluator  # noqa: F401

__all__ = [
    "EVALUATORS",
    "Evaluator",
    "bilevel_evaluator",
    "default_policy_evaluator",
    "evaluator_options",
    "exact_policy_evaluator",
    "game_metrics",
    "make_evaluator",
    "mdp_game_metrics",
    "monte_carlo_policy_evaluator",
    "nash_evaluator",
    "nash_mdp_evaluator",
    "register_evaluator",
    "supports_exact",
]
