"""ZPG: zeroth-order policy gradient from human preferences (arXiv 2409.17401).

Per iteration: K directions v uniform on the unit sphere of R^d (d = number of policy scalars),
N trajectory pairs per direction, M oracle queries per pair, per-pair inversion of the assumed
link with clip range R, D = mean_n y_n ~ J(theta + mu v) - J(theta), g = (d / mu) D v, and an
ascent step theta <- theta + alpha g. E[g] = grad J_mu (the ball-smoothed objective) up to the
link-inversion bias. Defaults: K = 1, one-sided, independent rollouts, logistic link, plain SGD.
"""

from __future__ import annotations

import functools

from zoprl.algorithms.optimizers import Optimizer
from zoprl.algorithms.zeroth_order import make_zeroth_order
from zoprl.estimators.directions import DIRECTION_LAWS, direction_scale, sample_direction
from zoprl.policies.base import policy_dimension


def zpg(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    num_directions: int = 1,
    direction: str = "sphere",
    two_sided: bool = False,
    common_random_numbers: bool = False,
    shared_start: bool = False,
    assumed_link: str = "logistic",
    optimizer: Optimizer = None,
):
    """ZPG as an Algorithm. ``direction``: "sphere" (the paper's), "gaussian" or "rademacher";
    ``assumed_link``: the link the learner inverts (a name, or "oracle": the oracle's own);
    ``shared_start``: the two members of a pair start from the same state (one context);
    ``optimizer``: sgd (default), momentum, adam or an optax transformation."""
    if direction not in DIRECTION_LAWS:
        raise ValueError(f"unknown direction law {direction!r}; valid: {', '.join(DIRECTION_LAWS)}")
    return make_zeroth_order(
        "zpg",
        env,
        policy,
        oracle,
        direction=functools.partial(sample_direction, law=direction),
        scale=direction_scale(direction, policy_dimension(policy)),
        update="gradient",
        num_pairs=num_pairs,
        num_directions=num_directions,
        two_sided=two_sided,
        common_random_numbers=common_random_numbers,
        shared_start=shared_start,
        assumed_link=assumed_link,
        optimizer=optimizer,
    )
