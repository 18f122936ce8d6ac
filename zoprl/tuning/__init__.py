"""The tuning protocol: ``zoprl tune`` (see ``protocol``), its designs and its selection."""

from zoprl.tuning.design import design_points, on_edge, position, r2_sequence
from zoprl.tuning.protocol import TuneResult, plan_methods, tune, tuned_spec, tuning_spec
from zoprl.tuning.select import choose, design_scores, run_scores

__all__ = [
    "TuneResult",
    "choose",
    "design_points",
    "design_scores",
    "on_edge",
    "plan_methods",
    "position",
    "r2_sequence",
    "run_scores",
    "tune",
    "tuned_spec",
    "tuning_spec",
]
