"""Helpers shared by the tests of zoprl.oracles (imported by basename; pytest puts this folder on
sys.path because the tests folders have no __init__.py)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from zoprl.trajectory import Trajectory


def make_traj(rewards, valid=None) -> Trajectory:
    """A trajectory (or batch) with the given latent rewards [..., H]; other leaves are zeros.

    ``latent_reward`` is stored as rewards * valid, as rollouts do.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    valid = jnp.ones_like(rewards) if valid is None else jnp.asarray(valid, jnp.float32)
    return Trajectory(
        obs=jnp.zeros(rewards.shape),
        action=jnp.zeros(rewards.shape, jnp.int32),
        log_prob=jnp.zeros(rewards.shape),
        valid=valid,
        latent_reward=rewards * valid,
    )


def pairs_with_gaps(gaps, horizon: int = 3):
    """Pairs (traj_a [N, H], traj_b [N, H]) with r(tau_b) - r(tau_a) = gaps [N].

    tau_a has zero reward; tau_b spreads its return over the first and last step (so that
    myopia changes the utility gap but not the return gap that decides ties).
    """
    gaps = np.asarray(gaps, np.float32)
    rewards_b = np.zeros(gaps.shape + (horizon,), np.float32)
    rewards_b[..., 0] = 0.5 * gaps
    rewards_b[..., -1] = gaps - rewards_b[..., 0]
    return make_traj(np.zeros_like(rewards_b)), make_traj(rewards_b)


def assert_within_se(observed, expected, se, n_se: float = 5.0, what: str = "") -> None:
    """|observed - expected| <= n_se * se elementwise (se = 0 demands equality up to 1e-6)."""
    observed, expected, se = (np.asarray(v, np.float64) for v in (observed, expected, se))
    z = np.abs(observed - expected) - n_se * se
    assert np.all(z <= 1e-6), (
        f"{what}: observed {observed} expected {expected} "
        f"(5 SE = {n_se * se}); worst excess {z.max():.3g}"
    )
