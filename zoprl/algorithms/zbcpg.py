"""ZBCPG: zeroth-order block-coordinate policy gradient (arXiv 2409.17401).

As ZPG, but each direction perturbs only a random block B of b coordinates: v is uniform on the
unit sphere of R^b inside B and zero elsewhere, and g = (d / mu) D v (restricted to B), so that
E[g] matches the full estimator in the smooth limit (every coordinate is in B with probability
b / d). The block law is "subset" (a uniform random subset of size b) or "partition" (one block of
the fixed partition into d / b blocks, b must divide d). K blocks are estimated in parallel per
iteration (K N pairs) and their estimates averaged.
"""

from __future__ import annotations

import functools

from zoprl.algorithms.optimizers import Optimizer
from zoprl.algorithms.zeroth_order import make_zeroth_order
from zoprl.estimators.directions import BLOCK_LAWS, direction_scale, sample_block_direction
from zoprl.policies.base import policy_dimension
from zoprl.validation import check_int


def zbcpg(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    block_size: int = 20,
    num_blocks: int = 1,
    block_law: str = "subset",
    two_sided: bool = False,
    common_random_numbers: bool = False,
    shared_start: bool = False,
    assumed_link: str = "logistic",
    optimizer: Optimizer = None,
):
    """ZBCPG as an Algorithm; ``num_blocks`` (K) blocks of ``block_size`` (b) per iteration."""
    dim = policy_dimension(policy)
    block_size = check_int("block_size", block_size)
    if block_size > dim:
        raise ValueError(f"block_size must lie in [1, d = {dim}], got {block_size}")
    if block_law not in BLOCK_LAWS:
        raise ValueError(f"unknown block law {block_law!r}; valid: {', '.join(BLOCK_LAWS)}")
    if block_law == "partition" and dim % block_size:
        raise ValueError(f"block_size {block_size} must divide d = {dim} for the partition law")
    direction = functools.partial(sample_block_direction, block_size=block_size, law=block_law)
    return make_zeroth_order(
        "zbcpg",
        env,
        policy,
        oracle,
        direction=direction,
        scale=direction_scale("block", dim),
        update="gradient",
        num_pairs=num_pairs,
        num_directions=num_blocks,
        two_sided=two_sided,
        common_random_numbers=common_random_numbers,
        shared_start=shared_start,
        assumed_link=assumed_link,
        optimizer=optimizer,
    )
