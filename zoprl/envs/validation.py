"""Python-side checks run before any compilation; each error names the bad value."""

from __future__ import annotations

import numpy as np


def _is_concrete(x) -> bool:
    try:
        np.asarray(x)
    except Exception:  # a tracer: validation already happened at the top level
        return False
    return True


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_probability(name: str, value) -> None:
    if not _is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        bad = arr[~((arr >= 0) & (arr <= 1))] if arr.ndim else arr
        raise ValueError(f"{name} must lie in [0, 1], got {np.ravel(bad)[:4].tolist()}")


def check_distribution(name: str, table, axis: int = -1, atol: float = 1e-5) -> None:
    """Entries in [0, 1] that sum to 1 along ``axis``."""
    if not _is_concrete(table):
        return
    arr = np.asarray(table, dtype=np.float64)
    if np.any(~np.isfinite(arr)) or np.any(arr < -atol) or np.any(arr > 1 + atol):
        raise ValueError(f"{name} has entries outside [0, 1]: min {arr.min():.4g}, max {arr.max():.4g}")
    sums = np.atleast_1d(arr.sum(axis=axis))
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums.flat[worst] - 1.0) > atol:
        row = np.unravel_index(worst, sums.shape)
        raise ValueError(f"{name} must sum to 1 along axis {axis}; entry {tuple(int(i) for i in row)}"
                         f" sums to {sums.flat[worst]:.6g}")


def check_shape(name: str, value, shape: tuple) -> None:
    got = tuple(np.shape(value))
    if got != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {got}")
