"""Python-side input checks of the oracles package, run before anything is traced or compiled.

Each check is skipped for tracers (inside ``jit``/``vmap`` the value was already checked where it
entered the program) and raises ``ValueError`` naming the argument and the offending value.
"""

from __future__ import annotations

import numpy as np
from jax import core


def is_concrete(x) -> bool:
    """True when ``x`` holds values Python can read (not a tracer of a transformation)."""
    if isinstance(x, core.Tracer):
        return False
    try:
        np.asarray(x)
    except Exception:  # noqa: BLE001 - anything numpy cannot read is treated as abstract
        return False
    return True


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    """'value v at index i (and k more)' for the first True entry of ``bad``."""
    idx = np.argwhere(bad)
    first = tuple(int(i) for i in idx[0])
    where = f" at index {first}" if arr.ndim else ""
    more = f" (and {len(idx) - 1} more)" if len(idx) > 1 else ""
    return f"{float(arr[first] if arr.ndim else arr):.6g}{where}{more}"


def check_in_range(name: str, value, low: float, high: float, *, low_open: bool = False,
                   high_open: bool = False) -> None:
    """Every entry of ``value`` lies in the interval from ``low`` to ``high`` (NaN always fails)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    above = (arr > low) if low_open else (arr >= low)
    below = (arr < high) if high_open else (arr <= high)
    bad = ~(above & below)
    if np.any(bad):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {_first_bad(arr, bad)}")


def check_probability(name: str, value) -> None:
    """Every entry is a probability in [0, 1]."""
    check_in_range(name, value, 0.0, 1.0)


def check_choice(kind: str, name, valid) -> None:
    """``name`` is one of ``valid``; the message lists the valid names."""
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")


def check_int(name: str, value, minimum: int) -> int:
    """A Python/numpy integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
