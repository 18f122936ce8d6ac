"""Simulated humans: links, utilities, preference models (a link on utilities, general preference
tensors), teacher transforms, oracle kinds by name, and query accounting."""

# registers the preference-game families of zoprl.games as generators of the tensor kind
import zoprl.games.generators  # noqa: F401
import zoprl.games.outcome_teacher  # noqa: F401  (the "outcome" kind)
from zoprl.oracles.accounting import Counts, cumulative, feedback_queries
from zoprl.oracles.kinds import (
    ORACLE_KINDS,
    PREFERENCE_GENERATORS,
    KindModel,
    OracleKind,
    register_oracle_kind,
    register_preference_generator,
)
from zoprl.oracles.links import (
    EPS,
    LINK_NAMES,
    Link,
    clipped_inverse,
    get_link,
    register_link,
    symmetrise,
)
from zoprl.oracles.models import (
    PreferenceModel,
    TensorParams,
    UtilityParams,
    tensor_model,
    utility_model,
)
from zoprl.oracles.oracle import (
    TEACHER_KNOBS,
    Feedback,
    Oracle,
    OracleParams,
    TeacherParams,
    make_oracle,
    make_preference_oracle,
    make_tensor_oracle,
    oracle_params,
    teacher_params,
    tensor_oracle_params,
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
from zoprl.oracles.reach_avoid import ReachAvoidParams, reach_avoid_utility  # noqa: F401
from zoprl.oracles.utilities import (
    myopic_utility,
    scaled_utility,
    total_return,
    utility,
)

__all__ = [
    "EPS",
    "LINK_NAMES",
    "ORACLE_KINDS",
    "PREFERENCE_GENERATORS",
    "PRESETS",
    "PRESET_NAMES",
    "TEACHER_KNOBS",
    "BradleyTerryFit",
    "Counts",
    "Feedback",
    "KindModel",
    "Link",
    "Oracle",
    "OracleKind",
    "OracleParams",
    "PreferenceModel",
    "TeacherParams",
    "TensorParams",
    "UtilityParams",
    "make_preference_oracle",
    "make_tensor_oracle",
    "register_oracle_kind",
    "register_preference_generator",
    "teacher_params",
    "tensor_model",
    "tensor_oracle_params",
    "utility_model",
    "bradley_terry_consistency",
    "clipped_inverse",
    "cumulative",
    "cyclic_preference",
    "feedback_queries",
    "get_link",
    "low_rank_preference",
    "make_oracle",
    "myopic_utility",
    "oracle_params",
    "preset_values",
    "register_link",
    "reward_induced_preference",
    "scaled_utility",
    "symmetrise",
    "total_return",
    "utility",
    "validate_oracle_params",
    "validate_preference",
    "vote_frequency",
]
