"""Plain, vectorised NumPy reference for one ZPG iteration on the default GridWorld.

This module is the speed (and correctness) reference that zoprl's JAX implementation is
benchmarked against. It deliberately depends on NumPy only (no JAX import). It is written to
be an honest, reasonably efficient NumPy implementation: every operation is vectorised over
the rollouts / pairs; the only Python loop is over the H time steps of the horizon.

GridWorld (must match ``zoprl``'s default environment exactly)
-------------------------------------------------------------
* ``n x n`` grid (default ``n = 5``), state ``s = row * n + col``, start in the top-left corner
  (state 0), goal in the bottom-right corner (state ``n * n - 1``).
* Four actions: 0 up (row - 1), 1 right (col + 1), 2 down (row + 1), 3 left (col - 1).
  A move into a wall leaves the agent in place.
* Slip: with probability ``slip`` (default 0.1) the chosen action is replaced by one of the
  *other* three actions, uniformly at random.
* The goal is absorbing: once there, the agent stays there whatever the action.
* The reward of step h depends on the state s' reached by that step:
  ``r_h = 1 - manhattan(s', goal) / (2 (n - 1))`` (1 in the goal). Horizon ``H = 10``.
  The return of a trajectory is ``sum_{h=1..H} r_h``, so it lies in ``[0, H]``.

Policy: time-homogeneous tabular softmax, ``theta`` of shape ``[S, A]``,
``pi(a | s) = softmax(theta[s])``.

Sampling scheme
---------------
Only the return of a trajectory is needed, and the return only depends on the visited states.
The slip therefore composes with the policy into an *effective* action distribution per state,
``q(a | s) = (1 - slip) pi(a | s) + slip / 3 * (1 - pi(a | s))``, which is exactly the law of the
executed action (chosen action kept with probability ``1 - slip``, otherwise replaced by one of
the three others uniformly). Each step then costs one uniform per rollout: the executed action is
drawn by inverse-CDF sampling against the per-state cumulative probabilities of ``q`` (float32
uniforms and thresholds; float64 policy maths), and the
next state and reward are read from precomputed tables (next state ``[S, A]``, reward ``[S]``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "NUM_ACTIONS",
    "ZPGIterationResult",
    "gridworld_tables",
    "numpy_effective_action_cdf",
    "numpy_gridworld_rollouts",
    "numpy_preference_difference",
    "numpy_zpg_iteration",
    "softmax_policy",
]

NUM_ACTIONS = 4
# (d_row, d_col) for actions 0 up, 1 right, 2 down, 3 left.
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


def gridworld_tables(n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic tables of the n x n GridWorld.

    Returns:
      next_state: int array ``[S, A]``; the state reached by *executing* action a in state s
        (walls keep the agent in place; the goal is absorbing).
      reward: float64 array ``[S]``; the reward of a step that reaches state s,
        ``1 - manhattan(s, goal) / (2 (n - 1))``.
    """
    if n < 2:
        raise ValueError(f"grid size n must be >= 2, got {n}")
    num_states = n * n
    goal = num_states - 1
    rows, cols = np.divmod(np.arange(num_states), n)
    next_state = np.empty((num_states, NUM_ACTIONS), dtype=np.intp)
    for a, (dr, dc) in enumerate(_MOVES):
        nr = np.clip(rows + dr, 0, n - 1)
        nc = np.clip(cols + dc, 0, n - 1)
        next_state[:, a] = nr * n + nc
    next_state[goal, :] = goal
    dist = (n - 1 - rows) + (n - 1 - cols)
    reward = 1.0 - dist / (2.0 * (n - 1))
    return next_state, reward


def softmax_policy(theta: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``theta [..., S, A]`` (numerically stable)."""
    z = theta - theta.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def numpy_effective_action_cdf(theta: np.ndarray, slip: float) -> np.ndarray:
    """Cumulative law of the *executed* action, ``[..., S, A]``, last column exactly 1."""
    pi = softmax_policy(np.asarray(theta, dtype=np.float64))
    q = (1.0 - slip) * pi + (slip / (NUM_ACTIONS - 1)) * (1.0 - pi)
    cdf = np.cumsum(q, axis=-1)
    cdf[..., -1] = 1.0
    return cdf


def numpy_gridworld_rollouts(
    rng: np.random.Generator,
    theta: np.ndarray,
    num: int,
    *,
    n: int = 5,
    slip: float = 0.1,
    horizon: int = 10,
    tables: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Returns of ``num`` independent rollouts of the softmax policy from the start state.

    Args:
      rng: NumPy random generator.
      theta: logits ``[S, A]``, or a stack ``[K, S, A]`` of K policies (rolled out together,
        ``num`` rollouts each, in one vectorised loop).
      num: number of rollouts per policy.
      n, slip, horizon: GridWorld parameters (see the module docstring).
      tables: optional precomputed ``gridworld_tables(n)``.

    Returns:
      float64 returns ``[num]`` (or ``[K, num]`` for a stacked theta).
    """
    next_state, reward = gridworld_tables(n) if tables is None else tables
    num_states = n * n
    theta = np.asarray(theta, dtype=np.float64)
    stacked = theta.ndim == 3
    thetas = theta if stacked else theta[None]
    if thetas.shape[1:] != (num_states, NUM_ACTIONS):
        raise ValueError(
            f"theta must be [S, A] = [{num_states}, {NUM_ACTIONS}] (or [K, S, A]); "
            f"got {theta.shape}"
        )
    k = thetas.shape[0]

    # Per (policy, state) tables, flattened to K*S rows: row index = policy * S + state.
    cdf = numpy_effective_action_cdf(thetas, slip).reshape(k * num_states, NUM_ACTIONS)
    # float32 thresholds and uniforms (rounding error <= 6e-8 on a probability; ~15% faster).
    cdf_cols = [np.ascontiguousarray(cdf[:, j], dtype=np.float32) for j in range(NUM_ACTIONS - 1)]
    offsets = np.arange(k, dtype=np.intp)[:, None] * num_states
    # Flat next-state table over (policy, state, action) -> flat (policy, state) row index.
    next_flat = (next_state[None, :, :] + offsets[:, :, None]).reshape(-1)
    reward_flat = np.tile(reward, k)

    total = k * num
    row = np.repeat(offsets[:, 0], num)  # start state 0 of each policy block
    returns = np.zeros(total, dtype=np.float64)
    u = rng.random((horizon, total), dtype=np.float32)
    for h in range(horizon):
        uh = u[h]
        # Inverse CDF: executed action = #{j < A-1 : u >= cdf_j}; index built in place.
        idx = row * NUM_ACTIONS
        for col in cdf_cols:
            idx += uh >= col.take(row)
        row = next_flat.take(idx)
        returns += reward_flat.take(row)
    return returns.reshape(k, num) if stacked else returns


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def numpy_preference_difference(
    rng: np.random.Generator,
    theta: np.ndarray,
    direction: np.ndarray,
    *,
    n: int = 5,
    slip: float = 0.1,
    horizon: int = 10,
    num_pairs: int,
    num_queries: int,
    mu: float,
    clip_range: float | None = None,
    tables: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """ZPG steps 2-5: the preference-based estimate D of J(theta + mu v) - J(theta).

    N pairs (tau_0 ~ pi_theta, tau_1 ~ pi_{theta + mu v}, independent rollouts); a logistic
    (Bradley-Terry) oracle answers M times per pair via one Binomial(M, sigmoid(r_1 - r_0))
    draw; y_n = logit(clip(votes / M, sigmoid(-R), sigmoid(R))); D = mean_n y_n.
    ``clip_range`` R defaults to ``horizon`` (the largest possible |return difference|).
    """
    theta = np.asarray(theta, dtype=np.float64)
    v = np.asarray(direction, dtype=np.float64).reshape(theta.shape)
    big_r = float(horizon) if clip_range is None else float(clip_range)
    returns = numpy_gridworld_rollouts(
        rng,
        np.stack([theta, theta + mu * v]),
        num_pairs,
        n=n,
        slip=slip,
        horizon=horizon,
        tables=tables,
    )
    p_true = _sigmoid(returns[1] - returns[0])
    votes = rng.binomial(num_queries, p_true)
    p_hat = votes / num_queries
    lo, hi = _sigmoid(-big_r), _sigmoid(big_r)
    p_hat = np.clip(p_hat, lo, hi)
    y = np.log(p_hat) - np.log1p(-p_hat)
    return float(y.mean())


class ZPGIterationResult(NamedTuple):
    """Output of one ZPG iteration (unpacks as a 4-tuple)."""

    theta: np.ndarray  # updated logits [S, A]
    D: float  # preference-based estimate of J(theta + mu v) - J(theta)
    env_steps: int  # 2 N H
    queries: int  # N M


def numpy_zpg_iteration(
    rng: np.random.Generator,
    theta: np.ndarray,
    *,
    n: int = 5,
    slip: float = 0.1,
    horizon: int = 10,
    num_pairs: int,
    num_queries: int,
    mu: float,
    step_size: float,
    clip_range: float | None = None,
    direction: np.ndarray | None = None,
) -> ZPGIterationResult:
    """One ZPG iteration (docs/methods.md section 3) on the GridWorld, in plain NumPy.

    1. v uniform on the unit sphere of R^d, d = theta.size (normalised Gaussian); pass
       ``direction`` to fix v instead (it is used as given, not renormalised).
    2-5. D = ``numpy_preference_difference`` (N pairs, M logistic-oracle queries per pair,
       per-pair clipped link inversion with clip range R, default R = horizon, then mean).
    6. g = (d / mu) D v; theta <- theta + step_size * g.

    Returns ``ZPGIterationResult(theta, D, env_steps = 2 N H, queries = N M)``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    d = theta.size
    if direction is None:
        v = rng.standard_normal(d)
        v /= np.linalg.norm(v)
        v = v.reshape(theta.shape)
    else:
        v = np.asarray(direction, dtype=np.float64).reshape(theta.shape)
    big_d = numpy_preference_difference(
        rng,
        theta,
        v,
        n=n,
        slip=slip,
        horizon=horizon,
        num_pairs=num_pairs,
        num_queries=num_queries,
        mu=mu,
        clip_range=clip_range,
    )
    g = (d / mu) * big_d * v
    new_theta = theta + step_size * g
    return ZPGIterationResult(new_theta, big_d, 2 * num_pairs * horizon, num_pairs * num_queries)
