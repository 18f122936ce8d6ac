"""ZSPO: zeroth-order sign policy optimisation for an unknown link (arXiv 2506.03066).

The learner only knows that the link is increasing and symmetric. Per direction v (uniform on
the unit sphere), it estimates the sign of J(theta + mu v) - J(theta) by a majority vote over the
N pairs' preferences (each pair votes sign(p_n - 1/2)) and steps theta <- theta + alpha s v
(averaged over K directions). No link inversion, hence no inversion bias and robustness to a
mismatched link; the price is that the step ignores the size of the improvement.
"""

from __future__ import annotations

import functools

from zoprl.algorithms.optimizers import Optimizer
from zoprl.algorithms.zeroth_order import make_zeroth_order
from zoprl.estimators.directions import sample_direction


def zspo(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    num_directions: int = 1,
    two_sided: bool = False,
    common_random_numbers: bool = False,
    shared_start: bool = False,
    optimizer: Optimizer = None,
):
    """ZSPO as an Algorithm (hyperparameters step_size and mu; clip_range is unused)."""
    return make_zeroth_order(
        "zspo",
        env,
        policy,
        oracle,
        direction=functools.partial(sample_direction, law="sphere"),
        scale=1.0,
        update="sign",
        num_pairs=num_pairs,
        num_directions=num_directions,
        two_sided=two_sided,
        common_random_numbers=common_random_numbers,
        shared_start=shared_start,
        optimizer=optimizer,
    )
