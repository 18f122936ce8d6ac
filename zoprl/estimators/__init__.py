"""Zeroth-order estimators: perturbation directions and preference-based gradient estimates."""

from zoprl.estimators.directions import (
    BLOCK_LAWS,
    DIRECTION_LAWS,
    block_mask,
    direction_scale,
    sample_block_direction,
    sample_direction,
)
from zoprl.estimators.zeroth_order import (
    majority_sign,
    preference_value_difference,
    zeroth_order_gradient,
)

__all__ = [
    "BLOCK_LAWS",
    "DIRECTION_LAWS",
    "block_mask",
    "direction_scale",
    "majority_sign",
    "preference_value_difference",
    "sample_block_direction",
    "sample_direction",
    "zeroth_order_gradient",
]
