"""Correctness of the NumPy ZPG reference (zoprl/bench/numpy_reference.py).

The exact values come from a small backward-induction helper written here, over a slip
transition kernel P[s, a, s'] built directly from the GridWorld spec, independently of the
reference's own tables and of its effective-action sampling trick.
"""

from __future__ import annotations

import numpy as np
import pytest

from zoprl.bench.numpy_reference import (
    numpy_gridworld_rollouts,
    numpy_preference_difference,
    numpy_zpg_iteration,
)

N_GRID = 5
S = N_GRID * N_GRID
A = 4
H = 10


# ----------------------------------------------------------------------------- exact helpers
def spec_kernel(n: int, slip: float) -> tuple[np.ndarray, np.ndarray]:
    """P[s, a, s'] (chosen action a, slip included) and reward r[s'] straight from the spec."""
    goal = n * n - 1
    moves = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # up, right, down, left

    def step(s: int, a: int) -> int:
        if s == goal:
            return goal
        r, c = divmod(s, n)
        dr, dc = moves[a]
        nr, nc = r + dr, c + dc
        if not (0 <= nr < n and 0 <= nc < n):
            return s
        return nr * n + nc

    kernel = np.zeros((n * n, 4, n * n))
    for s in range(n * n):
        for a in range(4):
            for executed in range(4):
                prob = (1.0 - slip) if executed == a else slip / 3.0
                kernel[s, a, step(s, executed)] += prob
    reward = np.empty(n * n)
    for s in range(n * n):
        r, c = divmod(s, n)
        reward[s] = 1.0 - (abs(n - 1 - r) + abs(n - 1 - c)) / (2.0 * (n - 1))
    return kernel, reward


def exact_value(
    pi: np.ndarray | None, kernel: np.ndarray, reward: np.ndarray, horizon: int, start: int = 0
) -> float:
    """Backward induction: J = E[sum_h r(s_h')] from ``start``; pi=None gives the optimum."""
    v = np.zeros(kernel.shape[0])
    for _ in range(horizon):
        q = kernel @ (reward + v)  # [S, A]
        v = q.max(axis=1) if pi is None else (pi * q).sum(axis=1)
    return float(v[start])


def softmax(theta: np.ndarray) -> np.ndarray:
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- tests
def test_uniform_policy_matches_backward_induction():
    kernel, reward = spec_kernel(N_GRID, 0.1)
    exact = exact_value(np.full((S, A), 0.25), kernel, reward, H)
    assert exact == pytest.approx(2.14, abs=0.01)
    rng = np.random.default_rng(0)
    returns = numpy_gridworld_rollouts(rng, np.zeros((S, A)), 200_000, slip=0.1, horizon=H)
    assert returns.shape == (200_000,)
    se = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - exact) < 5 * se, (returns.mean(), exact, se)


def test_optimal_value_about_5_95():
    kernel, reward = spec_kernel(N_GRID, 0.1)
    assert exact_value(None, kernel, reward, H) == pytest.approx(5.95, abs=0.01)


@pytest.mark.parametrize("slip", [0.0, 0.1, 0.3])
def test_random_policy_matches_backward_induction(slip):
    # Non-uniform policy: exercises the slip handling (invisible under the uniform policy).
    theta = np.random.default_rng(1).normal(scale=1.5, size=(S, A))
    kernel, reward = spec_kernel(N_GRID, slip)
    exact = exact_value(softmax(theta), kernel, reward, H)
    returns = numpy_gridworld_rollouts(np.random.default_rng(2), theta, 200_000, slip=slip)
    se = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - exact) < 5 * se, (slip, returns.mean(), exact, se)


def test_stacked_rollouts_match_each_policy():
    thetas = np.random.default_rng(3).normal(size=(3, S, A))
    returns = numpy_gridworld_rollouts(np.random.default_rng(4), thetas, 100_000, slip=0.2)
    assert returns.shape == (3, 100_000)
    kernel, reward = spec_kernel(N_GRID, 0.2)
    for k in range(3):
        exact = exact_value(softmax(thetas[k]), kernel, reward, H)
        se = returns[k].std(ddof=1) / np.sqrt(returns.shape[1])
        assert abs(returns[k].mean() - exact) < 5 * se


def test_right_then_down_deterministic_return():
    # Right along the top row, then down the last column: 8 moves to the goal, then 2 steps
    # in the absorbing goal. Distances after each step: 7, 6, ..., 1, 0, 0, 0, so the return is
    # (1 + 2 + ... + 8) / 8 + 2 = 4.5 + 2 = 6.5 exactly.
    theta = np.zeros((S, A))
    for s in range(S):
        col = s % N_GRID
        theta[s, 1 if col < N_GRID - 1 else 2] = 1000.0  # exp(-1000) == 0.0: deterministic
    returns = numpy_gridworld_rollouts(np.random.default_rng(5), theta, 1000, slip=0.0)
    np.testing.assert_array_equal(returns, np.full(1000, 6.5))
    kernel, reward = spec_kernel(N_GRID, 0.0)
    assert exact_value(softmax(theta), kernel, reward, H) == 6.5


def test_zpg_iteration_bookkeeping():
    rng = np.random.default_rng(6)
    theta = np.zeros((S, A))
    res = numpy_zpg_iteration(rng, theta, num_pairs=64, num_queries=10, mu=0.1, step_size=0.01)
    new_theta, big_d, steps, queries = res
    assert new_theta.shape == (S, A)
    assert steps == 2 * 64 * H and queries == 64 * 10
    # The update is along a unit direction: ||new - old|| = alpha * d / mu * |D|.
    step_norm = np.linalg.norm(new_theta - theta)
    assert step_norm == pytest.approx(0.01 * (S * A) / 0.1 * abs(big_d), rel=1e-9, abs=1e-12)
    # |y_n| <= R = H, hence |D| <= H.
    assert abs(big_d) <= H


def test_zpg_D_has_right_sign_for_improving_direction():
    # v: +1 on right/down, -1 on up/left (normalised). J increases along it (checked exactly).
    v = np.tile(np.array([-1.0, 1.0, 1.0, -1.0]), (S, 1))
    v /= np.linalg.norm(v)
    mu = 1.0
    kernel, reward = spec_kernel(N_GRID, 0.1)
    j0 = exact_value(softmax(np.zeros((S, A))), kernel, reward, H)
    j1 = exact_value(softmax(mu * v), kernel, reward, H)
    assert j1 - j0 > 0.1  # about +0.26

    rng = np.random.default_rng(7)
    ds = np.array(
        [
            numpy_zpg_iteration(
                rng,
                np.zeros((S, A)),
                num_pairs=256,
                num_queries=10,
                mu=mu,
                step_size=0.1,
                direction=v,
            ).D
            for _ in range(200)
        ]
    )
    mean, se = ds.mean(), ds.std(ddof=1) / np.sqrt(ds.size)
    # Exact J(mu v) - J(0) = 0.294; with M = 10 the link-inversion bias inflates D. With this
    # seed mean(D) = 0.585 over 200 iterations, per-iteration SD 0.28, standard error 0.020:
    # the sign is right by ~29 standard errors (D > 0 in 199 of the 200 iterations).
    assert mean > 5 * se, (mean, se)
    assert np.mean(ds > 0) > 0.95
    # The opposite direction gives the opposite sign.
    d_neg = numpy_preference_difference(
        np.random.default_rng(8), np.zeros((S, A)), -v, num_pairs=50_000, num_queries=10, mu=mu
    )
    assert d_neg < 0


def test_D_is_consistent_for_large_M():
    # With M -> infinity (and no clipping active) y_n -> r(tau_1) - r(tau_0), so D is an
    # unbiased estimate of J(theta + mu v) - J(theta). M = 10^6: the residual bias is negligible.
    v = np.tile(np.array([-1.0, 1.0, 1.0, -1.0]), (S, 1))
    v /= np.linalg.norm(v)
    kernel, reward = spec_kernel(N_GRID, 0.1)
    exact = exact_value(softmax(v), kernel, reward, H) - exact_value(
        softmax(np.zeros((S, A))), kernel, reward, H
    )
    ds = np.array(
        [
            numpy_preference_difference(
                np.random.default_rng(100 + i),
                np.zeros((S, A)),
                v,
                num_pairs=100_000,
                num_queries=10**6,
                mu=1.0,
            )
            for i in range(10)
        ]
    )
    se = ds.std(ddof=1) / np.sqrt(ds.size)  # about 0.001
    assert abs(ds.mean() - exact) < 5 * se, (ds.mean(), exact, se)
