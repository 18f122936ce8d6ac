"""Simulated humans: links, utilities, oracles with irrational teachers, general preferences and
query accounting (PAPERS.md section 2)."""

from zoprl.oracles.accounting import Counts, cumulative, feedback_queries
from zoprl.oracles.links import (
    EPS,
    LINK_NAMES,
    Link,
    clipped_inverse,
    get_link,
    register_link,
    symmetrise,
)
from zoprl.oracles.oracle import (
    Feedback,
    Oracle,
    OracleParams,
    make_oracle,
    oracle_params,
    validate_oracle_params,
    vote_frequency,
)
from zoprl.oracles.preferences import (
    BradleyTerryFit,
    bradley_terry_consistency,
    cyclic_preference,
    low_rank_preference,
    reward_induced_preference,
    validate_preference,
)
from zoprl.oracles.presets import PRESET_NAMES, PRESETS, preset_values
from zoprl.oracles.utilities import (
    myopic_utility,
    scaled_utility,
    total_return,
    utility,
)

__all__ = [
    "EPS", "LINK_NAMES", "PRESETS", "PRESET_NAMES",
    "BradleyTerryFit", "Counts", "Feedback", "Link", "Oracle", "OracleParams",
    "bradley_terry_consistency", "clipped_inverse", "cumulative", "cyclic_preference",
    "feedback_queries", "get_link", "low_rank_preference", "make_oracle", "myopic_utility",
    "oracle_params", "preset_values", "register_link", "reward_induced_preference",
    "scaled_utility", "symmetrise", "total_return", "utility", "validate_oracle_params",
    "validate_preference", "vote_frequency",
]
